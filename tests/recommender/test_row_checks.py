"""The orders' per-row checks give every row the same result whatever rows come with it, and the checks that
compare rows the same result on any parts that keep the rows of a key together.

``recs train --engine spark`` runs ``order_row_checks`` on each Arrow batch of each partition
(``training.spark.validation``) and the local loader on the whole table: both are right only if any cut of
the rows gives the same rows. The timestamp parser orders its formats by their hits on a sample, so the
cuts here differ in their dominant format (Unix seconds in one half, ISO dates and datetimes in the other).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import polars as pl
import pytest

from recommender.data import load_orders
from recommender.data.columns import _POS, _REASON, LINE, ORDER_COLUMNS, ORDER_REQUIRED
from recommender.data.readers import read_table
from recommender.data.validation import (
    DUPLICATE_LINE,
    SHARED_ORDER,
    order_check_key,
    order_key_checks,
    order_row_checks,
)

TIMES = ["1767225600", "1767225600.5", "2026-01-02", "2026-01-02T10:00:00Z", "2026-01-02 10:00:00.25+02:00"]
BAD = ["", "yesterday", "99999999999", "2026-13-01"]


def _rows() -> list[list[str]]:
    rows = []
    for i in range(60):
        when = TIMES[i % 2] if i < 30 else TIMES[2 + i % 3]
        if i % 7 == 3:
            when = BAD[i % 4]
        quantity = ["1", "", "-1", "x", "2.5"][i % 5]
        price = ["", "3.50", "-1", "nan", "1e40"][i % 5 if i % 3 == 0 else 1]
        customer = "" if i % 11 == 5 else f"c{i % 9}"
        rows.append([customer, f"item-{i % 13}", when, f"o{i // 2}", quantity, price])
    return rows


@pytest.mark.parametrize("cuts", [[30], [1, 2, 3, 31, 59], list(range(1, 60)), [7, 45]])
def test_any_cut_of_the_rows_gives_the_same_checked_rows(tmp_path: Path, cuts: list[int]) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(",".join(row) for row in [list(ORDER_COLUMNS), *_rows()]) + "\n")
    table = read_table(path, ORDER_COLUMNS, ORDER_REQUIRED)
    whole = order_row_checks(table, table.frame)
    bounds = [0, *cuts, table.frame.height]
    parts = [order_row_checks(table, table.frame.slice(lo, hi - lo)) for lo, hi in pairwise(bounds)]
    assert pl.concat(parts).equals(whole)
    reasons = whole.get_column("\x00reason")
    assert 10 < reasons.null_count() < whole.height  # kept and rejected rows both


@pytest.mark.parametrize("parts", [1, 2, 5, 13])
def test_the_key_checks_give_the_loaders_reasons_on_any_parts_that_keep_a_key_together(
    tmp_path: Path, parts: int
) -> None:
    """``order_key_checks`` (duplicate lines, order ids shared by customers) on the rows cut into parts by
    ``order_check_key`` (as Spark's reader partitions them) gives every row the reason the local loader gives."""
    rows = _rows()
    rows += [rows[4], rows[40], rows[40], ["c1", "item-1", TIMES[2], "o3", "1", ""], ["c8", "x", TIMES[2], "", "1", ""]]
    rows += [["c8", "x", TIMES[2], "", "1", ""], ["c2", "item-2", TIMES[3], "o0", "1", "1"]]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(",".join(row) for row in [list(ORDER_COLUMNS), *rows]) + "\n")
    table = read_table(path, ORDER_COLUMNS, ORDER_REQUIRED)
    checked = order_row_checks(table, table.frame)
    part = checked.select(order_check_key().hash() % parts).to_series()
    cut = [order_key_checks(table, checked.filter(part == j).with_row_index(_POS)) for j in range(parts)]
    ours = pl.concat(cut).sort(LINE)
    local = load_orders(path)
    reasons = ours.filter(pl.col(_REASON).is_not_null()).select(
        pl.col(LINE).alias("line"), pl.col(_REASON).alias("reason")
    )
    assert reasons.equals(local.rejects.select("line", "reason"))
    assert {DUPLICATE_LINE, SHARED_ORDER} <= set(local.summary.rejected_by_reason)
