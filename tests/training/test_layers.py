"""What training may import: never serving (the floor above it), and mlflow only in ``training.tracking``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRACKING = "training/tracking.py"
# the pyfunc model's code: MLflow logs this file by itself and loads it in the model's own environment
# (``mlflow.models.set_model``), so it subclasses ``mlflow.pyfunc.PythonModel`` where it stands
PYFUNC_MODEL = "training/pyfunc_model.py"


def _imports(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names in ``path``, at any depth (TYPE_CHECKING too)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            modules.add(node.module)
    return modules


def _training_files() -> list[Path]:
    return sorted((ROOT / "training").rglob("*.py"))


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def test_training_never_imports_serving() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imports(path) if _top(m) == "serving")
        for path in _training_files()
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_mlflow_is_imported_only_in_training_tracking() -> None:
    importers = {
        str(path.relative_to(ROOT)) for path in _training_files() if any(_top(m) == "mlflow" for m in _imports(path))
    }
    assert importers == {TRACKING, PYFUNC_MODEL}


def test_training_commands_load_neither_serving_nor_redis_nor_mlflow() -> None:
    code = (
        "import sys, training.cli, training.tune\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('serving', 'redis', 'mlflow'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == ""
