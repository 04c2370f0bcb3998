"""The rejects of a load: rejected rows with their source, line, reason and raw values; the reason counts.

Orders and catalog rejects share one frame (and one CSV file, ``write_rejects``): ``source``, ``line``,
``reason``, then the input columns, known ones by their canonical name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from recommender.data.columns import _REASON
from recommender.data.columns import LINE as _LINE
from recommender.data.readers import RawTable
from recommender.data.results import LoadResult

REJECT_META = ("source", "line", "reason")


def _rejects_of(table: RawTable, frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """The rejected rows: ``source``, ``line``, ``reason``, then the raw input columns as strings.

    Known columns go by their canonical name (``item_id``, not `` Item_ID``) so orders and catalog
    rejects share them; other columns keep their names (suffixed ``_input`` if one is a meta name).
    """
    canonical = {original: norm for norm, original in table.known.items()}
    names = {c: canonical.get(c, f"{c}_input" if c in REJECT_META else c) for c in table.columns}
    return frame.filter(pl.col(_REASON).is_not_null()).select(
        pl.lit(source).alias("source"),
        pl.col(_LINE).cast(pl.Int64).alias("line"),
        pl.col(_REASON).alias("reason"),
        *(pl.col(c).alias(names[c]) for c in table.columns),
    )


def _count_reasons(frame: pl.DataFrame, reasons: Sequence[str]) -> dict[str, int]:
    counts = frame.get_column(_REASON).drop_nulls().value_counts()
    found = dict(zip(counts.get_column(_REASON).to_list(), counts.get_column("count").to_list(), strict=True))
    return {r: int(found[r]) for r in reasons if r in found}


_EMPTY_REJECTS = pl.DataFrame(schema={"source": pl.String, "line": pl.Int64, "reason": pl.String})


def write_rejects(result: LoadResult, path: str | Path) -> Path:
    """Write the rejected rows as CSV (a header-only file when there are none); return the path."""
    path = Path(path)
    result.rejects.write_csv(path)
    return path
