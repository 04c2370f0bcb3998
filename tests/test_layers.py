"""The layers of the house, enforced on the source (AST only: no module is imported to check them).

The rules (docs/architecture.md, "Layers"):

1. ``recommender`` (models and data) imports neither ``training`` nor ``serving``, nor a web, Redis or MLflow
   library.
2. Request-time code never reaches model-fitting code: what ``serving.app`` and ``recommender.request_time``
   import, followed transitively through the project's own modules, includes no ``recommender.models``, no
   ``training`` and none of implicit, lightgbm, numba, mlflow.
3. ``training`` never imports ``serving`` (``serving`` composes training's commands, not the reverse).
4. MLflow is imported only under ``training.tracking``.
5. ``recommender.numeric`` speaks of arrays: it imports nothing else from the project.
6. No import cycle between the project's modules.
7. Redis is imported only by ``serving.cache`` (the layout and the clients), ``serving.publish`` (writing a
   version) and ``serving.embedded_redis`` (the server the project starts itself); routes and the app go
   through ``serving.cache``.
8. pyspark is imported only under ``training.spark`` (``recs train --engine spark``; the local engine never
   needs it).

Every import statement counts, including those inside functions (a lazy import still runs in that process);
only imports under ``if TYPE_CHECKING:`` are ignored. ``test_each_rule_catches_a_planted_violation`` runs the
same checks on a small planted tree, so a check that stopped finding anything would fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("recommender", "training", "serving")
WEB_AND_STORES = ("fastapi", "starlette", "uvicorn", "redis", "mlflow")
FITTING = ("recommender.models", "training", "implicit", "lightgbm", "numba", "mlflow")
REQUEST_TIME_ROOTS = ("serving.app", "recommender.request_time")
MLFLOW_HOME = "training.tracking"
SPARK_HOME = "training.spark"
REDIS_HOMES = ("serving.cache", "serving.redis_pipe", "serving.publish", "serving.embedded_redis")
NUMERIC = "recommender.numeric"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (first-party: resolved to a module of the tree when it is one)
    line: int


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


class SourceTree:
    """The modules of ``packages`` under ``root`` and their imports."""

    def __init__(self, root: Path, packages: Iterable[str]) -> None:
        self.root = root
        self.files: dict[str, Path] = {}
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                self.files[name] = path
        self.imports: dict[str, list[Import]] = {name: list(self._parse(name)) for name in self.files}

    def _resolve(self, name: str) -> str:
        """The longest prefix of ``name`` that is a module of the tree (``name`` itself if none is)."""
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.files:
                return candidate
        return name

    def _parse(self, name: str) -> Iterator[Import]:
        path = self.files[name]
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _statements(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, self._resolve(alias.name), node.lineno)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # ``from pkg import module`` imports the submodule
                yield Import(name, self._resolve(f"{base}.{alias.name}" if base else alias.name), node.lineno)

    def closure(self, roots: Iterable[str]) -> dict[str, Import | None]:
        """Every module reached from ``roots`` (first-party modules followed), with the import that reached it."""
        reached: dict[str, Import | None] = {root: None for root in roots}
        stack = [root for root in reached if root in self.files]
        while stack:
            for imp in self.imports[stack.pop()]:
                if imp.target not in reached:
                    reached[imp.target] = imp
                    if imp.target in self.files:
                        stack.append(imp.target)
        return reached

    def cycles(self) -> list[list[str]]:
        """Strongly connected components of more than one module (Tarjan, iterative)."""
        graph = {
            module: sorted({i.target for i in imports if i.target in self.files and i.target != module})
            for module, imports in self.imports.items()
        }
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        found: list[list[str]] = []
        for start in graph:
            if start in index:
                continue
            work = [(start, iter(graph[start]))]
            index[start] = low[start] = len(index)
            stack.append(start)
            on_stack.add(start)
            while work:
                node, children = work[-1]
                child = next(children, None)
                if child is None:
                    work.pop()
                    if work:
                        low[work[-1][0]] = min(low[work[-1][0]], low[node])
                    if low[node] == index[node]:
                        component = []
                        while True:
                            member = stack.pop()
                            on_stack.discard(member)
                            component.append(member)
                            if member == node:
                                break
                        if len(component) > 1:
                            found.append(sorted(component))
                elif child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
        return found


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _where(tree: SourceTree, imp: Import) -> str:
    return f"{tree.files[imp.module].relative_to(tree.root)}:{imp.line} ({imp.module} imports {imp.target})"


def violations(tree: SourceTree) -> dict[str, list[str]]:
    """Each rule's violations, as readable lines (empty lists when the house is in order)."""
    every = [imp for imps in tree.imports.values() for imp in imps]
    out: dict[str, list[str]] = {
        "recommender imports no app, store or tracking layer": [
            _where(tree, i)
            for i in every
            if _within(i.module, ["recommender"]) and _within(i.target, ["training", "serving", *WEB_AND_STORES])
        ],
        "training never imports serving": [
            _where(tree, i) for i in every if _within(i.module, ["training"]) and _within(i.target, ["serving"])
        ],
        "mlflow only in training.tracking": [
            _where(tree, i) for i in every if _within(i.target, ["mlflow"]) and not _within(i.module, [MLFLOW_HOME])
        ],
        "recommender.numeric imports nothing else of the project": [
            _where(tree, i)
            for i in every
            if _within(i.module, [NUMERIC]) and _within(i.target, PACKAGES) and not _within(i.target, [NUMERIC])
        ],
        "redis only in serving.cache, serving.redis_pipe, serving.publish and serving.embedded_redis": [
            _where(tree, i) for i in every if _within(i.target, ["redis"]) and i.module not in REDIS_HOMES
        ],
        "pyspark only in training.spark": [
            _where(tree, i) for i in every if _within(i.target, ["pyspark"]) and not _within(i.module, [SPARK_HOME])
        ],
        "request-time code never reaches model fitting": [],
        "no import cycles": [" <-> ".join(c) for c in tree.cycles()],
    }
    for root in (r for r in REQUEST_TIME_ROOTS if r in tree.files):
        for target, via in tree.closure([root]).items():
            if via is not None and _within(target, FITTING):
                out["request-time code never reaches model fitting"].append(f"from {root}: {_where(tree, via)}")
    return out


@pytest.fixture(scope="module")
def house() -> dict[str, list[str]]:
    return violations(SourceTree(ROOT, PACKAGES))


@pytest.mark.parametrize(
    "rule",
    [
        "recommender imports no app, store or tracking layer",
        "training never imports serving",
        "mlflow only in training.tracking",
        "recommender.numeric imports nothing else of the project",
        "redis only in serving.cache, serving.redis_pipe, serving.publish and serving.embedded_redis",
        "pyspark only in training.spark",
        "request-time code never reaches model fitting",
        "no import cycles",
    ],
)
def test_the_house_keeps_its_layers(house: dict[str, list[str]], rule: str) -> None:
    assert house[rule] == [], f"{rule}:\n" + "\n".join(house[rule])


def test_the_request_time_roots_exist() -> None:
    tree = SourceTree(ROOT, PACKAGES)
    assert [root for root in REQUEST_TIME_ROOTS if root not in tree.files] == []


PLANTED = {
    "recommender/__init__.py": "",
    "recommender/numeric/__init__.py": "",
    "recommender/numeric/topk.py": "from recommender.history import DAY\n",
    "recommender/history.py": "import redis\nDAY = 1\n",
    "recommender/models/__init__.py": "",
    "recommender/models/fit.py": "import numba\n",
    "recommender/request_time/__init__.py": "def later():\n    from recommender.models import fit\n",
    "recommender/a.py": "from recommender import b\n",
    "recommender/b.py": "from . import a\n",
    "training/__init__.py": "",
    "training/cli.py": "from serving.cli import app\nimport mlflow\n",
    "training/tracking.py": "import mlflow\n",
    "training/pipeline.py": "def fit():\n    from pyspark.ml.recommendation import ALS\n",
    "training/spark/__init__.py": "def engine():\n    import pyspark\n",
    "serving/__init__.py": "",
    "serving/app.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lightgbm\nfrom training import cli\n"
    ),
    "serving/cli.py": "app = None\n",
    "serving/routes.py": "import redis.asyncio as aioredis\n",
    "serving/cache.py": "import redis\n",
}


def test_each_rule_catches_a_planted_violation(tmp_path: Path) -> None:
    for name, text in PLANTED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(SourceTree(tmp_path, PACKAGES))
    assert [line.split(" (")[1] for line in found["recommender imports no app, store or tracking layer"]] == [
        "recommender.history imports redis)"
    ]
    assert found["training never imports serving"] == ["training/cli.py:1 (training.cli imports serving.cli)"]
    assert found["mlflow only in training.tracking"] == ["training/cli.py:2 (training.cli imports mlflow)"]
    assert found["recommender.numeric imports nothing else of the project"] == [
        "recommender/numeric/topk.py:1 (recommender.numeric.topk imports recommender.history)"
    ]
    reached = "\n".join(found["request-time code never reaches model fitting"])
    assert "from recommender.request_time: recommender/request_time/__init__.py:2" in reached  # a lazy import
    assert "from serving.app: serving/app.py:4 (serving.app imports training.cli)" in reached
    assert "lightgbm" not in reached  # only under TYPE_CHECKING
    assert found["no import cycles"] == ["recommender.a <-> recommender.b"]
    assert found["pyspark only in training.spark"] == [
        "training/pipeline.py:2 (training.pipeline imports pyspark.ml.recommendation.ALS)"
    ]
    assert found["redis only in serving.cache, serving.redis_pipe, serving.publish and serving.embedded_redis"] == [
        "recommender/history.py:1 (recommender.history imports redis)",
        "serving/routes.py:1 (serving.routes imports redis.asyncio)",
    ]
