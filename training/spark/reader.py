"""Reading an orders or catalog file with Spark, into the ``RawTable`` the local loader takes.

Any path Spark reads (local, ``hdfs://``, ``s3a://``, a gzipped CSV). A CSV is read as text lines on the
executors, numbered there (``zipWithIndex``: the same 1-based line numbers as the local reader's) and split
into fields with the csv module and the local reader's header rules (separator sniffed on line 1, duplicate
names made unique, surplus fields in ``EXTRA``). A record must sit on one line: a quoted field spanning lines
is read as two broken rows, which validation then rejects (the local reader supports them), and bytes that
are not UTF-8 become replacement characters (the local reader refuses the file). A Parquet file becomes
strings on the executors too (``training.spark.parquet``).

An orders file is then validated (``training.spark.validation``: every check, by the local functions) and its
kept lines indexed (``training.spark.ids``) on the executors: the driver receives the kept lines as numbers,
their distinct ids, and the rejected rows (``RawTable.indexed``). A catalog is collected as strings and
validated on the driver.
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
from recommender.data.readers import RawTable, TableReader, file_kind, matched_table
from recommender.errors import UnreadableFileError
from training.spark.ids import indexed_table
from training.spark.parquet import parquet_rows
from training.spark.strings import StringRows, real_names, schemas, string_fields

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_SCHEME_SLASHES = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):/(?!/)")


def spark_path(path: Path | str) -> str:
    """The path as Spark wants it: ``Path`` folds ``s3a://bucket/key`` into ``s3a:/bucket/key``; undo that."""
    return _SCHEME_SLASHES.sub(r"\1://", str(path))


def spark_reader(session: SparkSession, min_partitions: int | None = None) -> TableReader:
    """A ``TableReader`` (``recommender.data.readers``) that reads with ``session`` (a CSV in at least
    ``min_partitions`` partitions: Spark's default when none)."""

    def read(path: Path, wanted: Sequence[str], required: Sequence[str]) -> RawTable:
        source = spark_path(path)
        if file_kind(Path(source)) == "csv":
            rows = _read_csv(session, source, min_partitions)
        else:
            rows = parquet_rows(session, source, wanted)
        if rows is None:  # an empty file
            empty = pl.DataFrame(schema={LINE: pl.Int64, EXTRA: pl.String})
            return matched_table(source, empty, [], wanted, required)
        matched = matched_table(source, rows.header(), rows.raw_names, wanted, required)  # before any work
        if tuple(wanted) == ORDER_COLUMNS:
            return indexed_table(rows, matched)
        return RawTable(rows.collect(), matched.columns, matched.known)

    return read


def _read_csv(session: SparkSession, source: str, min_partitions: int | None) -> StringRows | None:
    try:
        lines = session.sparkContext.textFile(source, min_partitions)
        first = lines.take(1)
    except Exception as exc:  # Spark raises its own analysis and IO errors; the message says what failed
        raise UnreadableFileError(f"{source}: Spark cannot read it: {exc}") from exc
    if not first or not first[0].strip():
        if first and not lines.filter(lambda line: bool(line.strip())).isEmpty():
            raise UnreadableFileError(f"{source}: line 1 is blank; the header must be on the first line")
        return None
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

    frame = session.createDataFrame(lines.zipWithIndex().mapPartitions(rows), schemas(string_fields(n))[0])
    return StringRows(frame, real_names(names), raw_names)
