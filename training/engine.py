"""Where ``recs train`` runs its heavy steps: an ``Engine`` names the table reader, the ALS factorizer and
the computation of next purchase's neighbour lists.

The local engine (``LOCAL``) reads with ``recommender.data.read_table`` and factorizes with implicit in this
process, and computes the neighbour lists here; ``training.spark.spark_engine`` builds one that reads with
Spark, factorizes with Spark MLlib and computes the neighbour lists in blocks on Spark's executors (the same
function). Everything else of the job (validation, splits, the other models, evaluation, bundle, MLflow) is
the same code for every engine: an engine only swaps these three functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from recommender.data.readers import TableReader, read_table
from recommender.models.collaborative import Factorizer, factorized_by, fit_factors
from recommender.models.next_purchase.neighbours import NeighbourLists, neighbour_lists, neighbour_lists_by


class EngineName(StrEnum):
    """The engines ``recs train --engine`` offers."""

    local = "local"
    spark = "spark"


@dataclass(frozen=True)
class Engine:
    """The swappable steps of a training job, and the engine's name (an MLflow tag of the run)."""

    name: str
    reader: TableReader = read_table
    factorizer: Factorizer = fit_factors
    neighbour_lists: NeighbourLists = neighbour_lists

    @contextmanager
    def running(self) -> Iterator[None]:
        """Within this block every ALS fit and neighbour search of the job runs on this engine."""
        with factorized_by(self.factorizer), neighbour_lists_by(self.neighbour_lists):
            yield


LOCAL = Engine(EngineName.local.value)
