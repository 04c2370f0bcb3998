"""Behaviour of the time-decayed popularity model: decay, per-category lists, excluding bought items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import recommender.models.popular as popular
from recommender.history import OrderHistory
from recommender.models.popular import PopularConfig, PopularModel
from tests.recommender.conftest import MakeHistory


def test_recent_sales_beat_old_ones(make_history: MakeHistory) -> None:
    # "old" sold 4 times 100 days before the end, "new" twice at the end
    lines = [(f"c{i}", "old", 0) for i in range(4)] + [(f"d{i}", "new", 100) for i in range(2)]
    history = make_history(lines)
    recent = PopularModel(PopularConfig(half_life_days=30)).fit(history)
    items, _ = recent.top(2)
    assert list(history.items.external(items)) == ["new", "old"]
    # with a very long half-life, the raw count wins again
    slow = PopularModel(PopularConfig(half_life_days=100_000)).fit(history)
    items, _ = slow.top(2)
    assert list(history.items.external(items)) == ["old", "new"]


def test_a_sale_one_half_life_ago_counts_half(make_history: MakeHistory) -> None:
    history = make_history([("a", "x", 0), ("b", "y", 30), ("c", "z", 60)])
    model = PopularModel(PopularConfig(half_life_days=30)).fit(history)
    scores = model.item_scores[history.items.index(["x", "y", "z"])]
    np.testing.assert_allclose(scores, [0.25, 0.5, 1.0], rtol=1e-6)


def test_an_item_counts_once_per_order(make_history: MakeHistory) -> None:
    # "twice" is on two lines of the same order; "again" is in two orders of the same customer
    history = make_history([("a", "twice", 10), ("a", "twice", 10), ("b", "again", 5), ("b", "again", 10)])
    model = PopularModel(PopularConfig(half_life_days=1e9)).fit(history)
    scores = model.item_scores[history.items.index(["twice", "again"])]
    np.testing.assert_allclose(scores, [1.0, 2.0], rtol=1e-6)


def test_every_customer_gets_the_overall_list(history: OrderHistory) -> None:
    model = PopularModel().fit(history)
    items, scores = model.top(10)
    ranked = model.recommend(np.arange(history.n_customers), 10)
    assert np.all(ranked.items == items) and np.all(ranked.scores == scores)
    assert np.all(np.diff(scores) <= 0)
    best = int(np.argmax(model.item_scores))
    assert items[0] == best


def test_category_lists_hold_only_that_category_in_overall_order(history: OrderHistory) -> None:
    model = PopularModel().fit(history)
    overall, _ = model.top(history.n_items)
    category = history.catalog.category
    for c in range(len(history.catalog.categories)):
        items, scores = model.top(history.n_items, category=c)
        assert len(items) > 0
        assert np.all(category[items] == c)
        assert np.array_equal(items, overall[category[overall] == c])
        assert np.all(np.diff(scores) <= 0)
        assert np.array_equal(model.top(3, category=c)[0], items[:3])


def test_unknown_category_gives_an_empty_list(history: OrderHistory) -> None:
    model = PopularModel().fit(history)
    for category in (-1, len(history.catalog.categories), 10_000):
        items, scores = model.top(5, category=category)
        assert len(items) == 0 and len(scores) == 0


def test_items_never_sold_are_not_listed(make_history: MakeHistory) -> None:
    catalog = {"sold": "tents", "shelf-warmer": "tents"}
    history = make_history([("a", "sold", 0)], category_of=catalog)
    model = PopularModel().fit(history)
    assert list(history.items.external(model.top(5)[0])) == ["sold"]
    assert list(history.items.external(model.top(5, category=0)[0])) == ["sold"]
    ranked = model.recommend(np.array([0]), 3)
    assert list(ranked.items[0]) == [history.items.index_one("sold"), -1, -1]


def test_category_lists_survive_save_and_load(history: OrderHistory, tmp_path: Path) -> None:
    model = PopularModel().fit(history)
    model.save(tmp_path / "popular")
    loaded = PopularModel.load(tmp_path / "popular")
    for c in range(len(history.catalog.categories)):
        assert np.array_equal(loaded.top(7, category=c)[0], model.top(7, category=c)[0])
    np.testing.assert_array_equal(loaded.item_scores, model.item_scores)


@pytest.mark.parametrize("block_cells", [None, 40])
def test_exclude_bought_drops_only_the_customers_own_items(
    history: OrderHistory, monkeypatch: pytest.MonkeyPatch, block_cells: int | None
) -> None:
    if block_cells is not None:  # many small blocks of customers
        monkeypatch.setattr(popular, "_BLOCK_CELLS", block_cells)
    model = PopularModel(PopularConfig(exclude_bought=True)).fit(history)
    overall, _ = model.top(history.n_items)
    bought = history.customer_items("binary")
    customers = np.arange(history.n_customers)
    ranked = model.recommend(customers, 10)
    for c in customers[::9]:
        own = bought.indices[bought.indptr[c] : bought.indptr[c + 1]]
        expected = overall[~np.isin(overall, own)][:10]
        assert np.array_equal(ranked.row(c)[0], expected)


def test_exclude_bought_is_off_by_default(history: OrderHistory) -> None:
    bought = history.customer_items("binary")
    ranked = PopularModel().fit(history).recommend(np.arange(history.n_customers), 5)
    rows = np.repeat(np.arange(history.n_customers), 5)
    assert bought[rows, ranked.items.ravel()].sum() > 0


def test_item_scores_are_read_only(history: OrderHistory) -> None:
    model = PopularModel().fit(history)
    with pytest.raises(ValueError):
        model.item_scores[0] = 99.0


def test_top_refuses_k_below_one(history: OrderHistory) -> None:
    with pytest.raises(ValueError, match="k must be"):
        PopularModel().fit(history).top(0)
