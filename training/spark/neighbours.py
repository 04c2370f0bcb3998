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

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recommender.models.next_purchase.config import NextPurchaseConfig
from recommender.models.next_purchase.neighbours import NeighbourLists, neighbour_lists

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
        shared = context.broadcast((sp.csr_matrix(vectors), pool, cfg))

        def run(blocks: Iterator[tuple[int, np.ndarray]]) -> Iterator[tuple[int, sp.csr_matrix]]:
            v, p, c = shared.value
            for index, block in blocks:
                yield index, neighbour_lists(v, p, block, c)

        blocks = list(enumerate(np.array_split(np.asarray(queries), n_blocks)))
        try:
            done = context.parallelize(blocks, n_blocks).mapPartitions(run).collect()
        finally:
            shared.destroy()
        return sp.vstack([lists for _, lists in sorted(done, key=lambda pair: pair[0])], format="csr")

    return compute
