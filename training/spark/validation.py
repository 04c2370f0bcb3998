"""The orders' per-row validation on Spark's executors: the local polars checks, run on each partition.

``recommender.data.validation.order_row_checks`` parses and checks one row at a time (a row's result depends on
that row only), so Spark runs it as is on every Arrow batch of every partition (``mapInArrow``): one
declaration of every reject rule, the same parsed columns and reasons as the local loader gives. The checks
that need every row (duplicate lines, an order id shared by customers) stay on the driver, after the table is
collected (``recommender.data.load``, as for the local engine).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import polars as pl

from recommender.data.columns import _C, _I, _O, _P, _Q, _REASON, _T, _T_OK
from recommender.data.readers import RawTable
from recommender.data.validation import order_row_checks

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

# the columns ``order_row_checks`` adds, with their Spark types (Spark's names: the internal ones hold a NUL)
CHECKED = (
    (_T, "long"),
    (_T_OK, "boolean"),
    (_C, "string"),
    (_I, "string"),
    (_O, "string"),
    (_Q, "double"),
    (_P, "double"),
    (_REASON, "string"),
)


def row_checked_frame(
    frame: DataFrame, table: RawTable, spark_names: list[str], real_names: list[str]
) -> tuple[DataFrame, list[str], list[str]]:
    """``frame`` (the read rows, Spark's column names ``spark_names`` for the reader's ``real_names``) with
    ``order_row_checks``' columns added on the executors; returns it with both name lists extended."""
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StructType

    added = [f"checked_{name.strip(chr(0))}" for name, _ in CHECKED]
    schema = StructType(list(frame.schema.fields))  # a copy: ``add`` appends to the list it holds
    for name, (_, kind) in zip(added, CHECKED, strict=True):
        schema = schema.add(name, kind)
    arrow_schema = to_arrow_schema(schema)
    to_real = dict(zip(spark_names, real_names, strict=True))
    out_names = [*real_names, *(name for name, _ in CHECKED)]
    to_spark = dict(zip(out_names, [*spark_names, *added], strict=True))

    def check(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            rows = pl.from_arrow(batch)
            assert isinstance(rows, pl.DataFrame)
            checked = order_row_checks(table, rows.rename(to_real)).select(out_names).rename(to_spark)
            yield from checked.to_arrow().cast(arrow_schema).to_batches()

    return frame.mapInArrow(check, schema), [*spark_names, *added], out_names
