"""Reading a Parquet file (``.parquet``, ``.pq``) as a table of strings, each row with its row number.

Float id columns (pandas stores an integer column with gaps as float) read as integers, NaN as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from recommender.data.columns import EXTRA, LINE, normalized
from recommender.errors import UnreadableFileError

ID_COLUMNS = ("customer_id", "item_id", "order_id")


def _read_parquet(path: Path, wanted: Sequence[str]) -> tuple[pl.DataFrame, list[str]]:
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError) as exc:
        raise UnreadableFileError(f"{path}: cannot read as Parquet: {exc}") from exc
    return parquet_strings(frame, str(path), wanted)


def parquet_strings(
    frame: pl.DataFrame, path: str, wanted: Sequence[str], id_counts: Mapping[str, tuple[int, int]] | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """A Parquet table read (here or by ``recs train --engine spark``) as strings with ``LINE`` and ``EXTRA``
    (rows numbered from 1). Whether a float id column reads as integers depends on all its values: on a part of
    the file, ``id_counts`` gives the whole file's ``float_id_counts`` per such column (none: this frame's)."""
    if any("\x00" in name for name in frame.columns):
        raise UnreadableFileError(f"{path}: a column name contains a NUL character")
    columns = []
    for name in frame.columns:
        norm = normalized(name)
        column = frame.get_column(name)
        if column.dtype.is_float() and norm in ID_COLUMNS:
            column = _float_ids(column, id_counts[name] if id_counts is not None else float_id_counts(column))
        try:
            columns.append(column.cast(pl.String))
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
            if norm in wanted:
                raise UnreadableFileError(f"{path}: column {name!r} of type {column.dtype} is not text") from exc
            # a nested extra column: not ours to read, and it has no text form
    strings = pl.DataFrame(columns, schema={s.name: pl.String for s in columns})
    line = pl.Series(LINE, np.arange(1, frame.height + 1, dtype=np.int64))
    extra = pl.Series(EXTRA, [None] * frame.height, dtype=pl.String)
    return pl.concat([line.to_frame(), strings, extra.to_frame()], how="horizontal"), strings.columns


def float_id_counts(column: pl.Series) -> tuple[int, int]:
    """The values (NaN is missing) of a float id column, and how many of them are not integers (below 2**53)."""
    values = column.fill_nan(None).drop_nulls()
    integral = (values == values.round(0)) & (values.abs() < 2.0**53)
    return values.len(), values.len() - int(integral.sum())


def _float_ids(column: pl.Series, counts: tuple[int, int]) -> pl.Series:
    """Float ids (pandas stores an int column with gaps as float): NaN is missing, 1234.0 reads as 1234 when
    every value of the column (``counts``: ``float_id_counts``) is an integer."""
    column = column.fill_nan(None)
    values, odd = counts
    if values and not odd:
        return column.cast(pl.Int64)
    return column
