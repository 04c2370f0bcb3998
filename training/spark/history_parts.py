"""The per-customer and per-order passes over a history on Spark: the time split's last orders, repeat
statistics, popularity's distinct order lines, each part a Spark task running the local function.

The caller's pass is ``work(part)`` (``recommender.history_parts``): a part holds every line of a range of
customers (or orders). Here the history is cut into ranges of about as many lines each (at most
``parts_per_core`` per core of the session, none under ``min_part_lines`` lines), each part's line arrays are
shipped with its task, the id maps and catalog are broadcast once, each task runs ``work`` on its part, and the
driver returns the results in range order for the caller to join (concatenated per-customer rows; per-item sums
taken on the driver, in the whole history's order): exactly the local engine's result, the sorting and grouping
on the executors.

What is not spread: cutting the lines into parts (one stable radix sort and a gather of each array, on the driver,
which holds the history for EASE, the evaluation and the bundle), the parts' results (they come back to the
driver) and the per-item reductions that need every customer (repeat statistics' per-item medians and shares,
popularity's sums, in the model). A history under ``2 * min_part_lines`` lines runs in one part on the driver:
a task costs more than such a pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recommender.history import OrderHistory
from recommender.history_parts import (
    HistoryParts,
    PartKey,
    PartWork,
    bare_history,
    cut_lines,
    key_ranges,
    whole_history,
    with_lines,
)
from training.spark.neighbours import BLOCKS_PER_CORE
from training.spark.tasks import run_tasks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MIN_PART_LINES = 100_000  # below this a part's pass (tens of milliseconds) costs less than its task


def spark_history_parts(
    session: SparkSession, parts_per_core: int = BLOCKS_PER_CORE, min_part_lines: int = MIN_PART_LINES
) -> HistoryParts:
    """A ``HistoryParts`` that runs the parts as Spark tasks on ``session`` (one part only: on the driver)."""

    def run(work: PartWork, history: OrderHistory, key: PartKey, name: str) -> list[Any]:
        context = session.sparkContext
        n_parts = min(context.defaultParallelism * parts_per_core, history.n_lines // max(min_part_lines, 1))
        ranges = key_ranges(history, key, n_parts)
        if len(ranges) <= 1:
            return whole_history(work, history, key, name)
        parts = cut_lines(history, key, ranges)
        return run_tasks(
            session,
            bare_history(history),
            parts,
            lambda shared, lines: work(with_lines(shared, lines)),
            len(parts),
            name,
        )

    return run
