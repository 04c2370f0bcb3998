"""Next purchase's neighbour lists on Spark: an exact blocked search with the local engine's own function.

The customers asked for are cut into blocks; each block is one Spark task that runs
``recommender.models.next_purchase.neighbours.neighbour_lists`` (the TIFU nearest-neighbour search among the
reference pool, then the neighbours' mean vector, top items kept) on the broadcast personal vectors, and the
driver stacks the blocks' rows in order. A customer's list does not depend on which other customers are asked
for, so the lists are exactly the local engine's: the same model, the same quality, the search's work spread
over the executors. (LSH would be cheaper but approximate: another model, to be measured on its own.)

What is not spread: the broadcast vectors (customers x items, every executor holds them) and the collected
lists (the bundle holds them), both on the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recommender.models.next_purchase.config import NextPurchaseConfig
from recommender.models.next_purchase.neighbours import NeighbourLists, neighbour_lists
from training.spark.tasks import run_tasks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BLOCKS_PER_CORE = 4  # tasks per core of the session: small enough to balance, large enough to amortize a task


def spark_neighbour_lists(session: SparkSession) -> NeighbourLists:
    """A ``NeighbourLists`` that computes blocks of customers as Spark tasks on ``session``."""

    def compute(
        vectors: sp.csr_matrix, pool: np.ndarray | None, queries: np.ndarray, cfg: NextPurchaseConfig
    ) -> sp.csr_matrix:
        context = session.sparkContext
        n_blocks = min(len(queries), context.defaultParallelism * BLOCKS_PER_CORE)
        if n_blocks <= 1:
            return neighbour_lists(vectors, pool, queries, cfg)
        blocks = np.array_split(np.asarray(queries), n_blocks)
        done = run_tasks(
            session,
            (sp.csr_matrix(vectors), pool, cfg),
            blocks,
            lambda shared, block: neighbour_lists(shared[0], shared[1], block, shared[2]),
            n_blocks,
            "next purchase: neighbour lists",
        )
        return sp.vstack(done, format="csr")

    return compute
