"""A Parquet file read by Spark as rows of strings, made on the executors by the local reader's function.

``recommender.data.parquet_reader.parquet_strings`` makes the strings batch by batch (``mapInArrow``); it first
runs on the driver on no rows, which refuses a file it cannot read (a NUL in a column name, a nested column
where text is needed) before any work and names the columns it keeps. A row's line is its row number in the
file (Spark's ``_metadata.row_index``, plus 1, as the local reader numbers rows). Whether a float id column
reads as integers depends on the whole column: when the file has one, a first pass counts its values
(``float_id_counts``, per batch, summed) and every batch then gets the whole file's counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import polars as pl

from recommender.data.columns import LINE, normalized
from recommender.data.parquet_reader import ID_COLUMNS, float_id_counts, parquet_strings
from recommender.errors import UnreadableFileError
from training.spark.strings import StringRows, arrow_batches, real_names, schemas, spark_names, string_fields

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

_ROW = "row_index"


def parquet_rows(session: SparkSession, source: str, wanted: Sequence[str]) -> StringRows:
    """The file's rows as strings (``StringRows``); raises ``UnreadableFileError``."""
    from pyspark.sql import functions as F

    try:
        read = session.read.parquet(source)
        empty = pl.from_arrow(read.limit(0).toArrow())
    except Exception as exc:  # Spark raises its own analysis and IO errors; the message says what failed
        raise UnreadableFileError(f"{source}: Spark cannot read it as Parquet: {exc}") from exc
    assert isinstance(empty, pl.DataFrame)
    names = list(empty.columns)
    strings, raw_names = parquet_strings(empty, source, wanted)  # raises what the whole file would
    positional = [f"p{i}" for i in range(len(names))]
    frame = read.select(
        F.col("_metadata.row_index").alias(_ROW),
        *(F.col(f"`{name.replace('`', '``')}`").alias(p) for name, p in zip(names, positional, strict=True)),
    )
    float_ids = [name for name in names if empty.schema[name].is_float() and normalized(name) in ID_COLUMNS]
    id_counts = _float_id_counts(frame, names, positional, float_ids) if float_ids else None
    out = spark_names(len(raw_names))
    schema, arrow_schema = schemas(string_fields(len(raw_names)))
    to_real = dict(zip(positional, names, strict=True))

    def to_strings(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            rows = pl.from_arrow(batch)
            assert isinstance(rows, pl.DataFrame)
            line = (rows.get_column(_ROW) + 1).alias(LINE)
            part, _ = parquet_strings(rows.drop(_ROW).rename(to_real), source, wanted, id_counts)
            yield from arrow_batches(part.with_columns(line), out, arrow_schema)

    rows = frame.mapInArrow(to_strings, schema)
    assert strings.columns[1:-1] == raw_names
    return StringRows(rows, real_names(raw_names), raw_names)


def _float_id_counts(
    frame: DataFrame, names: list[str], positional: list[str], float_ids: list[str]
) -> dict[str, tuple[int, int]]:
    """The whole file's ``float_id_counts`` of each float id column, summed over every batch of every partition."""
    columns = [p for name, p in zip(names, positional, strict=True) if name in float_ids]

    def counts(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            rows = pl.from_arrow(batch)
            assert isinstance(rows, pl.DataFrame)
            found = [(p, *float_id_counts(rows.get_column(p))) for p in columns]
            yield from arrow_batches(pl.DataFrame(found, schema=names_out, orient="row"), names_out, arrow_schema)

    names_out = ["name", "n", "odd"]
    schema, arrow_schema = schemas([("name", "string"), ("n", "long"), ("odd", "long")])
    summed = frame.select(*columns).mapInArrow(counts, schema)
    totals = summed.groupBy("name").sum("n", "odd").collect()
    by_positional = {row[0]: (int(row[1]), int(row[2])) for row in totals}
    return {name: by_positional.get(p, (0, 0)) for name, p in zip(names, positional, strict=True) if name in float_ids}
