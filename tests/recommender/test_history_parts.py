"""The per-customer and per-order passes on parts of a history give the whole history's results exactly.

The time split's last orders, repeat statistics and popularity run ``work(part)`` on parts of whole customers
(orders) by the fit's ``HistoryParts`` (``recommender.history_parts``) and join the parts' results; here the
parts run in this process, cut as the Spark engine cuts them (``key_ranges``, ``cut_lines``, ``with_lines``),
so the joining is checked without Spark (``tests/serving/test_spark_engine.py`` runs the parts as Spark tasks).
"""

from __future__ import annotations

from dataclasses import fields
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender.data import load_orders
from recommender.evaluation import split_customers_last_order, split_last_order
from recommender.history import OrderHistory
from recommender.history_parts import (
    LINE_FIELDS,
    PartKey,
    PartWork,
    bare_history,
    cut_lines,
    history_parts_by,
    key_ranges,
    with_lines,
)
from recommender.models.next_purchase import NextPurchaseConfig
from recommender.models.next_purchase.repeats import RepeatStats
from recommender.models.popular import decayed_item_scores


def in_parts(n_parts: int, seen: list[int]):
    """A ``HistoryParts`` running ``n_parts`` parts here, the way the Spark engine cuts them."""

    def run(work: PartWork, history: OrderHistory, key: PartKey, name: str) -> list[Any]:
        ranges = key_ranges(history, key, n_parts)
        seen.append(len(ranges))
        bare = bare_history(history)
        return [work(with_lines(bare, lines)) for lines in cut_lines(history, key, ranges)]

    return run


@pytest.fixture(scope="module")
def history(shop: dict[str, Path]) -> OrderHistory:
    return load_orders(shop["orders"], catalog_path=shop["catalog"]).history


def test_key_ranges_cut_every_line_once_into_consecutive_non_empty_parts(history: OrderHistory) -> None:
    for key, size in (("customer", history.n_customers), ("order", history.n_orders)):
        values = getattr(history, key)
        for n_parts in (1, 2, 7, 50):
            ranges = key_ranges(history, key, n_parts)
            assert 1 <= len(ranges) <= n_parts and ranges[0][0] == 0 and ranges[-1][1] == size
            assert all(hi == next_lo for (_, hi), (next_lo, _) in pairwise(ranges))
            parts = cut_lines(history, key, ranges)
            for (lo, hi), lines in zip(ranges, parts, strict=True):
                mask = (values >= lo) & (values < hi)
                assert mask.any() and lines.keys() == set(LINE_FIELDS)
                for name in LINE_FIELDS:  # the range's lines, in the history's order, same dtypes
                    np.testing.assert_array_equal(lines[name], getattr(history, name)[mask], strict=True)
        assert len(key_ranges(history, key, 7)) == 7
        assert max(len(lines["item"]) for lines in parts) < 2 * history.n_lines / 50  # about as many lines each


@pytest.mark.parametrize("recency_unit", ["orders", "days"])
def test_repeat_statistics_in_parts_are_the_whole_historys(history: OrderHistory, recency_unit: str) -> None:
    cfg = NextPurchaseConfig(recency_unit=recency_unit, groups=3)
    whole = RepeatStats.fit(history, cfg)
    for n_parts in (2, 9):
        seen: list[int] = []
        with history_parts_by(in_parts(n_parts, seen)):
            parted = RepeatStats.fit(history, cfg)
        assert seen == [n_parts]
        for field in fields(RepeatStats):
            np.testing.assert_array_equal(getattr(parted, field.name), getattr(whole, field.name), field.name)
    assert whole.repeatable.any() and len(whole.items) > 1000


def test_the_time_split_in_parts_is_the_whole_historys(history: OrderHistory) -> None:
    whole, seen = split_last_order(history), []
    with history_parts_by(in_parts(6, seen)):
        parted = split_last_order(history)
        customers = split_customers_last_order(history, 0.1, 0.2, seed=3)
    assert seen == [6, 6]
    np.testing.assert_array_equal(parted.customers, whole.customers)
    np.testing.assert_array_equal(parted.at, whole.at)
    assert (parted.targets != whole.targets).nnz == 0 and whole.targets.nnz > 0
    for name in ("customer", "item", "order", "ordered_at"):
        np.testing.assert_array_equal(getattr(parted.train, name), getattr(whole.train, name))
    theirs = split_customers_last_order(history, 0.1, 0.2, seed=3)
    np.testing.assert_array_equal(customers.test.customers, theirs.test.customers)
    np.testing.assert_array_equal(customers.train.order, theirs.train.order)


def test_popularity_in_parts_is_the_whole_historys_to_the_bit(history: OrderHistory) -> None:
    whole, seen = decayed_item_scores(history, 30.0), []
    with history_parts_by(in_parts(8, seen)):
        parted = decayed_item_scores(history, 30.0)
    assert seen == [8]
    np.testing.assert_array_equal(parted, whole)
    assert (whole > 0).sum() > 100
