"""An orders file validated on Spark's executors by the local polars checks, run on parts of the rows.

The rules are ``recommender.data.validation``'s, run as they are:

1. ``order_row_checks`` (a row's result depends on that row only) on every Arrow batch of every partition
   (``mapInArrow``), which also flags blank rows (the loader's ``not_blank``) and computes each row's
   ``order_check_key``;
2. the rows repartitioned by that key, so that rows which the checks compare (equal lines; lines of one order
   id) land in one partition, then ``order_key_checks`` (duplicate lines, an order id shared by customers) on
   each whole partition, its rows in file order: the same reasons as on the whole table;
3. ``training.spark.ids``: the kept lines' ids indexed there, and the driver gets numbers.

One declaration of every rule. Skew: the rows of one order id, or of one customer's lines without order ids,
are one partition's work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from recommender.data.columns import _C, _I, _O, _P, _POS, _Q, _REASON, _T, BLANK, LINE
from recommender.data.load import not_blank
from recommender.data.readers import RawTable
from recommender.data.validation import order_check_key, order_key_checks, order_row_checks
from training.spark.strings import POLARS_TYPES, StringRows, arrow_batches, schemas

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

# the checks' columns, with their Spark names and types (the internal names hold a NUL, which Spark does not keep)
CHECKED = (
    (_T, "checked_t", "long"),
    (_C, "checked_c", "string"),
    (_I, "checked_i", "string"),
    (_O, "checked_o", "string"),
    (_Q, "checked_q", "double"),
    (_P, "checked_p", "double"),
    (_REASON, "checked_reason", "string"),
    (BLANK, "blank", "boolean"),
)
_KEY = "\x00key"


@dataclass(frozen=True)
class ValidatedRows:
    """An orders file's rows validated on Spark (every row, not collected): ``frame``'s columns are ``spark``,
    whose real names are ``names`` (the read columns, then ``CHECKED``'s)."""

    frame: DataFrame
    spark: list[str]
    names: list[str]


def validated_rows(rows: StringRows, table: RawTable) -> ValidatedRows:
    """``rows`` (an orders file, its columns matched in ``table``) with every check's columns and reason, computed
    on the executors (steps 1 and 2 of the module docstring)."""
    spark_in = rows.frame.columns
    names = [*rows.names, *(name for name, _, _ in CHECKED)]
    spark_out = [*spark_in, *(spark for _, spark, _ in CHECKED)]
    in_types = [(name, field.dataType.typeName()) for name, field in zip(spark_in, rows.frame.schema, strict=True)]
    out_fields = [*in_types, *((spark, kind) for _, spark, kind in CHECKED)]
    out_schema, out_arrow = schemas(out_fields)
    keyed_schema, keyed_arrow = schemas([*out_fields, ("key", "string")])
    to_real = dict(zip(spark_in, rows.names, strict=True))

    def row_pass(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            part = pl.from_arrow(batch)
            assert isinstance(part, pl.DataFrame)
            part = part.rename(to_real)
            keep = part.select(not_blank(table.columns)).to_series()
            pieces = []
            if keep.any():
                checked = order_row_checks(table, part.filter(keep)).with_columns(pl.lit(False).alias(BLANK))
                pieces.append(checked.with_columns(order_check_key().alias(_KEY)).select(*names, _KEY))
            if not keep.all():  # the checks' columns null, the line as the key (blank rows spread)
                blank = part.filter(~keep).with_columns(
                    *(pl.lit(None, POLARS_TYPES[kind]).alias(name) for name, _, kind in CHECKED[:-1]),
                    pl.lit(True).alias(BLANK),
                    pl.col(LINE).cast(pl.String).alias(_KEY),
                )
                pieces.append(blank.select(*names, _KEY))
            if pieces:
                yield from arrow_batches(pl.concat(pieces), [*spark_out, "key"], keyed_arrow)

    def key_pass(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        held = list(batches)
        if not held:
            return
        part = pl.from_arrow(pa.Table.from_batches(held))
        assert isinstance(part, pl.DataFrame)
        part = part.rename(dict(zip([*spark_out, "key"], [*names, _KEY], strict=True))).drop(_KEY).sort(LINE)
        blank = part.get_column(BLANK)
        checked = order_key_checks(table, part.filter(~blank).with_row_index(_POS)).drop(_POS)
        yield from arrow_batches(pl.concat([checked, part.filter(blank)]), spark_out, out_arrow)

    # as many partitions as the read (each a part of the file's size), at least the session's shuffle partitions
    shuffle = int(rows.frame.sparkSession.conf.get("spark.sql.shuffle.partitions") or 1)
    partitions = max(rows.frame.rdd.getNumPartitions(), shuffle)
    checked = rows.frame.mapInArrow(row_pass, keyed_schema)
    return ValidatedRows(checked.repartition(partitions, "key").mapInArrow(key_pass, out_schema), spark_out, names)
