"""An orders file's kept lines indexed on Spark's executors, so that the driver receives numbers, not strings.

After validation (``training.spark.validation``) the rows are kept on the executors (``persist``) and three
jobs read them:

1. the distinct ids of the kept lines (customer, item and order ids: Spark's ``distinct``), sorted on the driver
   as the local loader sorts them (polars): the kept lines' only strings that reach the driver;
2. the kept lines with each id replaced by its index among them (``search_sorted`` on each Arrow batch, the
   sorted ids shipped with the task), in file order: line, time, three indices, quantity, price;
3. the rejected and blank rows, with their input columns and reason, in file order.

The loader takes it from there (``RawTable.indexed``): the same history and rejects as the local engine's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import polars as pl

from recommender.data.columns import _C, _I, _O, _P, _Q, _REASON, _T, BLANK, EXTRA, LINE
from recommender.data.readers import IndexedLines, RawTable
from training.spark.strings import StringRows, arrow_batches, schemas
from training.spark.validation import validated_rows

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

IDS = (_C, _I, _O)
# the kept lines as the driver receives them: (real name, Spark name, Spark type)
LINES = (
    (LINE, "line", "long"),
    (_T, "t", "long"),
    (_C, "c", "integer"),
    (_I, "i", "integer"),
    (_O, "o", "integer"),
    (_Q, "q", "double"),
    (_P, "p", "double"),
)


def indexed_table(rows: StringRows, table: RawTable) -> RawTable:
    """``rows`` (an orders file, its columns matched in ``table``) validated and indexed on the executors: the
    rejected and blank rows in ``frame``, the kept lines in ``indexed`` (``RawTable.indexed``)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    validated = validated_rows(rows, table)
    spark = dict(zip(validated.names, validated.spark, strict=True))
    frame = validated.frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        is_kept = F.col(spark[_REASON]).isNull() & ~F.col(spark[BLANK])
        kept = frame.filter(is_kept)
        ids = _sorted_ids(kept, [spark[name] for name in IDS])
        lines = _indexed_lines(kept.select(*(spark[name] for name, _, _ in LINES)), ids)
        rest_names = [*rows.names, _REASON, BLANK]
        rest = _collect(frame.filter(~is_kept).select(*(spark[name] for name in rest_names)), rest_names)
    finally:
        frame.unpersist()
    assert rows.names[0] == LINE and rows.names[-1] == EXTRA
    return RawTable(rest, table.columns, table.known, indexed=IndexedLines(lines.drop(LINE), ids))


def _collect(frame: DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """``frame``'s rows sorted by line, on the driver, under the real ``names`` of its columns."""
    table = pl.from_arrow(frame.orderBy("line").toArrow())
    assert isinstance(table, pl.DataFrame)
    return table.rename(dict(zip(frame.columns, names, strict=True)))


def _sorted_ids(kept: DataFrame, columns: Sequence[str]) -> dict[str, pl.Series]:
    """The sorted distinct values of each of ``columns`` (the ids of ``IDS``), by real name."""
    from pyspark.sql import functions as F

    tagged = F.array(*(F.struct(F.lit(k).alias("k"), F.col(c).alias("v")) for k, c in enumerate(columns)))
    distinct = kept.select(F.explode(tagged).alias("e")).select("e.k", "e.v").distinct()
    found = pl.from_arrow(distinct.toArrow())
    assert isinstance(found, pl.DataFrame)
    return {name: found.filter(pl.col("k") == k).get_column("v").sort() for k, name in enumerate(IDS)}


def _indexed_lines(kept: DataFrame, ids: dict[str, pl.Series]) -> pl.DataFrame:
    """The kept lines (``LINES``' columns under their real names) with each id replaced by its index in ``ids``,
    computed on the executors, collected in file order."""
    schema, arrow = schemas([(spark, kind) for _, spark, kind in LINES])
    real = [name for name, _, _ in LINES]
    spark_out = [spark for _, spark, _ in LINES]

    def index(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            part = pl.from_arrow(batch)
            assert isinstance(part, pl.DataFrame)
            part = part.rename(dict(zip(part.columns, real, strict=True)))
            part = part.with_columns(ids[name].search_sorted(part.get_column(name)).alias(name) for name in IDS)
            yield from arrow_batches(part, spark_out, arrow)

    return _collect(kept.mapInArrow(index, schema), real)
