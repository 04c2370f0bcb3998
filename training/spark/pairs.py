"""Pair counts of complements and similar items on Spark: the models' own row blocks as Spark tasks.

The models cut their pair counting into row blocks whose rows are a pure function of the block and the
inputs every block shares (``recommender.models.pair_blocks``). Here the shared inputs are broadcast once, the
blocks are spread over at most ``BLOCKS_PER_CORE`` tasks per core of the session (consecutive blocks per
task), each task runs the same block function as the local engine, and the driver puts the blocks' rows back
in block order: the lists are exactly the local engine's, with the counting's work on the executors.

What is not spread: the shared inputs (the customer x item matrix for similar items, the anchor events for
complements; every executor holds them) and the collected lists (the bundle holds them), both on the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recommender.models.pair_blocks import BlockWork, PairLists, local_pair_lists
from training.spark.neighbours import BLOCKS_PER_CORE
from training.spark.tasks import run_tasks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_pair_lists(session: SparkSession) -> PairLists:
    """A ``PairLists`` that runs the blocks as Spark tasks on ``session`` (one block only: on the driver)."""

    def run(work: BlockWork, shared: Any, blocks: list[tuple[int, int]], name: str) -> list[Any]:
        context = session.sparkContext
        n_tasks = min(len(blocks), context.defaultParallelism * BLOCKS_PER_CORE)
        if n_tasks <= 1:
            return local_pair_lists(work, shared, blocks, name)
        return run_tasks(session, shared, blocks, lambda inputs, block: work(inputs, *block), n_tasks, name)

    return run
