"""Parsing ``ordered_at``: ISO-8601 dates and datetimes (any offset, or UTC) and Unix seconds, vectorized."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

# an ordered_at outside [1970-01-01, 2100-01-01) UTC is an error in the data (milliseconds given as
# seconds, a two-digit year), whatever its format
MIN_SECONDS = 0
MAX_SECONDS = 4_102_444_800
assert MAX_SECONDS < 2**32  # order keys pack (customer, seconds) into an int64

# without and with a fraction: polars parses the plain form faster, and the first that fits is used
DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%d %H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)

_SAMPLE = 2_000


def _numeric_seconds(values: pl.Series) -> pl.Series:
    as_int = values.cast(pl.Int64, strict=False)
    as_float = values.cast(pl.Float64, strict=False)
    frame = pl.DataFrame({"i": as_int, "f": as_float})
    finite = pl.col("f").is_finite() & (pl.col("f").abs() < 2.0**62)
    return frame.select(pl.coalesce(pl.col("i"), pl.when(finite).then(pl.col("f").floor().cast(pl.Int64)))).to_series()


def _datetime_parser(fmt: str) -> Callable[[pl.Series], pl.Series]:
    def parse(values: pl.Series) -> pl.Series:
        return values.str.to_datetime(fmt, strict=False, time_unit="us").dt.epoch("s")

    return parse


_PARSERS: tuple[Callable[[pl.Series], pl.Series], ...] = (
    *(_datetime_parser(f) for f in DATETIME_FORMATS),
    _numeric_seconds,
)


def parse_timestamps(values: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Unix seconds (int64) and an ``ok`` mask for string ``values`` (stripped; empty is not ok).

    Accepts ISO-8601 dates (``2026-01-31``), datetimes with ``T`` or a space, optional fraction,
    optional ``Z`` or offset (offsets are converted to UTC; no offset means UTC), and Unix seconds
    as integer or decimal digits (a fraction is dropped). Instants outside ``[MIN_SECONDS,
    MAX_SECONDS)`` (1970 to 2099) are not ok. Each format is tried only on the rows that earlier
    ones did not parse, the most frequent format (on a sample) first, so a file in one format
    costs one parse.
    """
    s = values.cast(pl.String).str.strip_chars()
    seconds = np.zeros(len(s), dtype=np.int64)
    ok = np.zeros(len(s), dtype=bool)
    pending = np.flatnonzero((s.is_not_null() & (s != "")).to_numpy())
    sample = s.gather(pending[:_SAMPLE])
    hits = [int(parser(sample).is_not_null().sum()) for parser in _PARSERS]
    for p in np.argsort(-np.asarray(hits), kind="stable"):
        if len(pending) == 0:
            break
        parsed = _PARSERS[p](s if len(pending) == len(s) else s.gather(pending))
        good = (parsed.is_between(MIN_SECONDS, MAX_SECONDS, closed="left")).fill_null(False).to_numpy()
        seconds[pending[good]] = parsed.filter(good).to_numpy()
        ok[pending[good]] = True
        pending = pending[~good]
    return seconds, ok
