"""Where ``recs train`` runs its heavy steps: an ``Engine`` names the table reader and the ALS factorizer.

The local engine (``LOCAL``) reads with ``recommender.data.read_table`` and factorizes with implicit in this
process; ``training.spark.spark_engine`` builds one that reads with Spark and factorizes with Spark MLlib.
Everything else of the job (validation, splits, the other models, evaluation, bundle, MLflow) is the same
code for every engine: an engine only swaps these two functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from recommender.data.readers import TableReader, read_table
from recommender.models.collaborative import Factorizer, factorized_by, fit_factors


class EngineName(StrEnum):
    """The engines ``recs train --engine`` offers."""

    local = "local"
    spark = "spark"


@dataclass(frozen=True)
class Engine:
    """The two swappable steps of a training job, and the engine's name (an MLflow tag of the run)."""

    name: str
    reader: TableReader = read_table
    factorizer: Factorizer = fit_factors

    @contextmanager
    def running(self) -> Iterator[None]:
        """Within this block every ALS fit of the job uses this engine's factorizer."""
        with factorized_by(self.factorizer):
            yield


LOCAL = Engine(EngineName.local.value)
