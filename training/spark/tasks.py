"""Running one function over numbered inputs as Spark tasks: the shape every Spark step of the engine shares.

The neighbour lists, the pair counts and the history parts each broadcast their shared inputs once, ship each
block's own input with its task, run the local function on it, and bring the results back in input order. The
job carries the caller's name as its description (Spark's UI), the caller's own description put back after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

S = TypeVar("S")
I = TypeVar("I")  # noqa: E741 - the inputs' type


def run_tasks(
    session: SparkSession, shared: S, inputs: Sequence[I], work: Callable[[S, I], Any], n_tasks: int, name: str
) -> list[Any]:
    """``[work(shared, x) for x in inputs]``, computed in ``n_tasks`` Spark tasks with ``shared`` broadcast once."""
    context = session.sparkContext
    broadcast = context.broadcast(shared)

    def task(numbered: Iterator[tuple[int, I]]) -> Iterator[tuple[int, Any]]:
        value = broadcast.value
        for index, item in numbered:
            yield index, work(value, item)

    description = context.getLocalProperty("spark.job.description")  # the caller's, put back after
    try:
        context.setJobDescription(name)
        done = context.parallelize(list(enumerate(inputs)), n_tasks).mapPartitions(task).collect()
    finally:
        context.setLocalProperty("spark.job.description", description)  # type: ignore[arg-type]
        broadcast.destroy()
    return [result for _, result in sorted(done, key=lambda pair: pair[0])]
