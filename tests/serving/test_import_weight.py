"""The serving process stays light: importing ``serving.app`` and building the app imports no model library
(implicit, numba, lightgbm), no MLflow, nothing of ``training`` or ``recommender.models``. A fresh
interpreter, so that what other tests imported does not count."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("implicit", "numba", "lightgbm", "mlflow", "training", "recommender.models")
PROGRAM = f"""
import json, sys
from serving.app import create_app
from serving.settings import ServingSettings

create_app(ServingSettings(redis_url="redis://unused.invalid:1"))
heavy = {HEAVY!r}
print(json.dumps(sorted(name for name in heavy if name in sys.modules)))
"""


def test_building_the_app_imports_no_model_library_nor_training() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [], f"building the app imported {imported}"
