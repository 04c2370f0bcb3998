"""Reading an orders or catalog file with Spark, into the ``RawTable`` the local loader validates.

Any path Spark reads (local, ``hdfs://``, ``s3a://``, a gzipped CSV). A CSV is read as text lines on the
executors, numbered there (``zipWithIndex``: the same 1-based line numbers as the local reader's) and split
into fields with the csv module and the local reader's header rules (separator sniffed on line 1, duplicate
names made unique, surplus fields in ``EXTRA``). A record must sit on one line: a quoted field spanning lines
is read as two broken rows, which validation then rejects (the local reader supports them), and bytes that
are not UTF-8 become replacement characters (the local reader refuses the file). A Parquet file's
columns become strings as the local reader makes them (``parquet_strings``), rows numbered from 1.

An orders CSV is validated row by row on the executors too (``training.spark.validation``: the local
``order_row_checks`` per partition); the checks that need every row run on the driver, as locally.

The table is collected to the driver as Arrow: validation, the id maps and every later step need the whole
history in one process (docs/spark.md says what that costs).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from recommender.data.columns import EXTRA, LINE, ORDER_COLUMNS
from recommender.data.csv_reader import _fields, _sniff_separator, _unique_names
from recommender.data.parquet_reader import parquet_strings
from recommender.data.readers import RawTable, TableReader, file_kind, matched_table
from recommender.errors import UnreadableFileError
from training.spark.validation import row_checked_frame

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_SCHEME_SLASHES = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):/(?!/)")


def spark_path(path: Path | str) -> str:
    """The path as Spark wants it: ``Path`` folds ``s3a://bucket/key`` into ``s3a:/bucket/key``; undo that."""
    return _SCHEME_SLASHES.sub(r"\1://", str(path))


def spark_reader(session: SparkSession) -> TableReader:
    """A ``TableReader`` (``recommender.data.readers``) that reads with ``session``."""

    def read(path: Path, wanted: Sequence[str], required: Sequence[str]) -> RawTable:
        source = spark_path(path)
        if file_kind(Path(source)) == "csv":
            return _read_csv(session, source, wanted, required)
        frame, raw_names = _read_parquet(session, source, wanted)
        return matched_table(source, frame, raw_names, wanted, required)

    return read


def _read_parquet(session: SparkSession, source: str, wanted: Sequence[str]) -> tuple[pl.DataFrame, list[str]]:
    try:
        table = session.read.parquet(source).toArrow()
    except Exception as exc:  # Spark raises its own analysis and IO errors; the message says what failed
        raise UnreadableFileError(f"{source}: Spark cannot read it as Parquet: {exc}") from exc
    return parquet_strings(pl.from_arrow(table), source, wanted)  # type: ignore[arg-type]


def _read_csv(session: SparkSession, source: str, wanted: Sequence[str], required: Sequence[str]) -> RawTable:
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    try:
        lines = session.sparkContext.textFile(source)
        first = lines.take(1)
    except Exception as exc:
        raise UnreadableFileError(f"{source}: Spark cannot read it: {exc}") from exc
    if not first or not first[0].strip():
        if first and not lines.filter(lambda line: bool(line.strip())).isEmpty():
            raise UnreadableFileError(f"{source}: line 1 is blank; the header must be on the first line")
        return matched_table(source, pl.DataFrame(schema={LINE: pl.Int64, EXTRA: pl.String}), [], wanted, required)
    header_line = first[0].replace("\ufeff", "")
    if "\x00" in header_line:
        raise UnreadableFileError(f"{source}: line 1 (the header) contains a NUL character")
    separator = _sniff_separator(header_line)
    raw_names = [name.replace("\ufeff", "") for name in next(csv.reader([header_line], delimiter=separator))]
    names = _unique_names(raw_names)
    n = len(names)

    def rows(numbered: Iterator[tuple[str, int]]) -> Iterator[list[object]]:
        for text, index in numbered:
            if index == 0:
                continue
            record = next(csv.reader([text], delimiter=separator, strict=False), [])
            fields = _fields(record, n, separator)
            # an empty field is null, as the local reader's polars parsing gives it (EXTRA keeps its "")
            yield [index + 1, *(value or None for value in fields[:n]), fields[n]]

    # positional names in Spark (ours hold a NUL, which Spark and Arrow do not keep), the real ones after
    spark_names = ["line", *(f"f{i}" for i in range(n)), "extra"]
    schema = StructType([StructField("line", LongType()), *(StructField(c, StringType()) for c in spark_names[1:])])
    frame = session.createDataFrame(lines.zipWithIndex().mapPartitions(rows), schema)
    real_names = [LINE, *names, EXTRA]
    header = pl.DataFrame(schema={name: pl.Int64 if name == LINE else pl.String for name in real_names})
    matched = matched_table(source, header, raw_names, wanted, required)  # missing columns: before any work
    row_checked = tuple(wanted) == ORDER_COLUMNS
    if row_checked:
        frame, spark_names, real_names = row_checked_frame(frame, matched, spark_names, real_names)
    table = pl.from_arrow(frame.toArrow())
    assert isinstance(table, pl.DataFrame)
    table = table.rename(dict(zip(spark_names, real_names, strict=True)))
    return RawTable(table, matched.columns, matched.known, row_checked=row_checked)
