"""Reading an orders or catalog file as a table of strings, each row with its line number in the file.

``read_table`` returns every column of a CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``)
file as strings, plus ``LINE`` (1-based: the line where the row's record starts in a CSV, the row number in
a Parquet file) and ``EXTRA`` (the fields past the header's last column: non-empty on a row with too many
fields). What cannot be read faithfully is refused with an ``UnreadableFileError`` that names the line and
the problem, never half-read: a file that is not UTF-8, a damaged gzip or Parquet file, a quote left open
(at the end, or swallowing the rows after it), a blank, over-long or NUL-bearing header, a nested column
where text is needed.

``csv_reader`` and ``parquet_reader`` read the two kinds; ``read_table`` picks one by the file's name and
matches the columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recommender.data.columns import EXTRA, LINE, normalized
from recommender.data.csv_reader import _read_csv
from recommender.data.parquet_reader import _read_parquet
from recommender.errors import DataError, MissingColumnsError, UnreadableFileError


class AmbiguousColumnsError(DataError):
    """Two columns of one file have the same name once stripped and lower-cased."""


@dataclass(frozen=True)
class RawTable:
    """A file read as strings: input columns (unique names), ``LINE``, ``EXTRA`` (overflow field)."""

    frame: pl.DataFrame
    columns: list[str]  # input column names as they appear in ``frame``, file order
    known: dict[str, str]  # normalized known name -> input column name
    # an orders file its reader validated and indexed (Spark's, on its executors): ``frame`` then holds the
    # rejected rows (with ``_REASON``) and the blank ones (flagged in ``BLANK``), ``indexed`` the kept lines
    indexed: IndexedLines | None = None


@dataclass(frozen=True)
class IndexedLines:
    """An orders file's kept lines, validated and indexed by its reader: ``lines`` holds ``_T``, ``_C``, ``_I``,
    ``_O``, ``_Q``, ``_P`` in file order, the ids (Int32) as indices into ``ids``' sorted unique ids (of the kept
    lines, keyed by ``_C``, ``_I``, ``_O``): what the loader's validation and indexing would give."""

    lines: pl.DataFrame
    ids: Mapping[str, pl.Series]


# how a file becomes a ``RawTable``: ``read_table`` here, or Spark's reader (``recs train --engine spark``)
TableReader = Callable[[Path, Sequence[str], Sequence[str]], "RawTable"]


def matched_table(
    source: str, frame: pl.DataFrame, raw_names: Sequence[str], wanted: Sequence[str], required: Sequence[str]
) -> RawTable:
    """A read frame (strings, ``LINE``, ``EXTRA``) with its columns matched to ``wanted``; raises
    ``MissingColumnsError`` and ``AmbiguousColumnsError``."""
    columns = [c for c in frame.columns if c not in (LINE, EXTRA)]
    known: dict[str, str] = {}
    for raw, name in zip(raw_names, columns, strict=True):
        norm = normalized(raw)
        if norm in wanted:
            if norm in known:
                raise AmbiguousColumnsError(f"{source}: columns {known[norm]!r} and {raw!r} both read as {norm!r}")
            known[norm] = name
    if columns:
        missing = [c for c in required if c not in known]
        if missing:
            raise MissingColumnsError(source, missing, list(raw_names))
    return RawTable(frame, columns, known)


def file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise UnreadableFileError(f"{path}: unsupported file type; use .csv, .csv.gz, .parquet or .pq")


def read_table(path: Path, wanted: Sequence[str], required: Sequence[str]) -> RawTable:
    """Read ``path`` as strings and match its columns to ``wanted``; raise when a required one is missing.

    An empty CSV (no header) gives a table without columns. Raises ``UnreadableFileError`` (see the module
    docstring), ``MissingColumnsError`` and ``AmbiguousColumnsError``.
    """
    if not path.is_file():
        raise UnreadableFileError(f"{path}: no such file")
    if file_kind(path) == "csv":
        frame, raw_names = _read_csv(path)
    else:
        frame, raw_names = _read_parquet(path, wanted)
    return matched_table(str(path), frame, raw_names, wanted, required)
