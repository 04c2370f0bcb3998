"""What a load gives (``LoadResult``: the history, the rejects, ``LoadSummary``) and the checks a job makes on it."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from recommender.data.events import EventSummary
from recommender.errors import EmptyHistoryError, TooManyRejectsError
from recommender.history import OrderHistory


@dataclass(frozen=True)
class LoadSummary:
    """Counts of one load. Always ``rows_in == rows_kept + rows_rejected`` (the same for the catalog)."""

    path: str
    rows_in: int
    rows_kept: int
    rows_rejected: int
    rejected_by_reason: dict[str, int]
    blank_lines: int = 0
    catalog_path: str | None = None
    catalog_rows_in: int = 0
    catalog_rows_kept: int = 0
    catalog_rows_rejected: int = 0
    catalog_rejected_by_reason: dict[str, int] = field(default_factory=dict)
    events: EventSummary | None = None  # ``recs train --events``

    @property
    def reject_ratio(self) -> float:
        """Share of order rows rejected (0.0 for a file without rows)."""
        return self.rows_rejected / self.rows_in if self.rows_in else 0.0

    def lines(self) -> list[str]:
        """Human-readable summary, one string per line."""
        out = [
            f"orders {self.path}: {self.rows_in:,} rows in, {self.rows_kept:,} kept, "
            f"{self.rows_rejected:,} rejected ({self.reject_ratio:.2%})"
        ]
        out += [f"  {n:,} {reason}" for reason, n in self.rejected_by_reason.items()]
        if self.blank_lines:
            out.append(f"  ({self.blank_lines:,} blank lines skipped)")
        if self.catalog_path is not None:
            out.append(
                f"catalog {self.catalog_path}: {self.catalog_rows_in:,} rows in, {self.catalog_rows_kept:,} kept, "
                f"{self.catalog_rows_rejected:,} rejected"
            )
            out += [f"  {n:,} {reason}" for reason, n in self.catalog_rejected_by_reason.items()]
        if self.events is not None:
            out += self.events.lines()
        return out


@dataclass(frozen=True)
class LoadResult:
    """The history built from the kept rows, the rejected rows, and the counts."""

    history: OrderHistory
    rejects: pl.DataFrame
    summary: LoadSummary


def check_reject_ratio(summary: LoadSummary, max_ratio: float) -> None:
    """Raise ``TooManyRejectsError`` when the share of rejected order rows is above ``max_ratio``."""
    if not 0.0 <= max_ratio <= 1.0:
        raise ValueError(f"max_ratio must be within [0, 1], got {max_ratio}")
    if summary.rows_in and summary.rows_rejected / summary.rows_in > max_ratio:
        raise TooManyRejectsError(summary.rows_rejected, summary.rows_in, max_ratio)


def check_usable(result: LoadResult) -> None:
    """Raise ``EmptyHistoryError`` when no order line was kept."""
    if result.history.n_lines == 0:
        raise EmptyHistoryError(f"no usable order lines in {result.summary.path}")
