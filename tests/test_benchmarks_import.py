"""Every benchmark module imports: benchmarks share helpers (``benchmarks.recs_process``,
``benchmarks.serve_speed``...), and a helper renamed or moved must not leave a benchmark broken until someone
runs it. Importing runs nothing (each runs from its ``main``)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted(p.stem for p in (Path(__file__).parents[1] / "benchmarks").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_imports(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    assert module.__doc__, f"benchmarks/{name}.py says what it measures in its docstring"
