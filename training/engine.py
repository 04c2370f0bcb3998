"""Where ``recs train`` runs its heavy steps: an ``Engine`` names the table reader, the ALS factorizer, the
computation of next purchase's neighbour lists, the runner of the pair counts' blocks (complements, similar
items) and the runner of the per-customer and per-order passes (the time split's last orders, repeat
statistics, popularity: ``recommender.history_parts``).

The local engine (``LOCAL``) reads with ``recommender.data.read_table`` and factorizes with implicit in this
process, and computes the neighbour lists, pair counts and passes here (each pass on the whole history);
``training.spark.spark_engine`` builds one that reads with Spark, factorizes with Spark MLlib and computes the
neighbour lists, the pair counts and the passes in blocks or parts on Spark's executors (the same functions).
Everything else of the job (validation, the splits' selections, the other models, evaluation, bundle, MLflow)
is the same code for every engine: an engine only swaps these five functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from recommender.data.readers import TableReader, read_table
from recommender.history_parts import HistoryParts, history_parts_by, whole_history
from recommender.models.collaborative import Factorizer, factorized_by, fit_factors
from recommender.models.next_purchase.neighbours import NeighbourLists, neighbour_lists, neighbour_lists_by
from recommender.models.pair_blocks import PairLists, local_pair_lists, pair_lists_by


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
    pair_lists: PairLists = local_pair_lists
    history_parts: HistoryParts = whole_history

    @contextmanager
    def running(self) -> Iterator[None]:
        """Within this block every ALS fit, neighbour search, pair count and per-customer (per-order) pass of the
        job (time split, repeat statistics, popularity) runs on this engine."""
        with (
            factorized_by(self.factorizer),
            neighbour_lists_by(self.neighbour_lists),
            pair_lists_by(self.pair_lists),
            history_parts_by(self.history_parts),
        ):
            yield


LOCAL = Engine(EngineName.local.value)
