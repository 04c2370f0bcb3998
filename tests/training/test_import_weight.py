"""What importing training's commands loads: neither serving nor redis nor mlflow (the import rules themselves are
checked on the source by ``tests/test_layers.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_training_commands_load_neither_serving_nor_redis_nor_mlflow() -> None:
    code = (
        "import sys, training.cli, training.tune\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('serving', 'redis', 'mlflow'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == ""
