"""The learned re-ordering of next-purchase candidates (``recommender.models.next_purchase.ranker``): it
learns, from the shop's own history, a rhythm that the hand-set formula gets wrong, and it survives save / load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.base import ARRAYS_FILE
from recommender.errors import ModelFileError
from recommender.evaluation import NextBasketSplit, split_last_order
from recommender.history import OrderHistory
from recommender.models.next_purchase import NextPurchaseConfig, NextPurchaseModel
from recommender.models.next_purchase.ranker import FEATURES, HistoryStats, RankerConfig, reorder
from tests.recommender.conftest import Line, history_from_lines

# due-ness off: the formula ranks a customer's items by recency alone (most recent order first)
FORMULA = NextPurchaseConfig(due_floor=1.0, neighbours=0, min_repeaters=0, min_repeat_share=0.0)
RANKED = FORMULA.model_copy(update={"ranker": RankerConfig(rounds=30, min_leaf=20)})


def rotation_lines(n_customers: int = 200, seed: int = 3) -> list[Line]:
    """Every customer cycles through four items of their own, one per weekly order: the next order always
    holds the item bought longest ago, the one recency ranks last."""
    rng = np.random.default_rng(seed)
    lines: list[Line] = []
    for c in range(n_customers):
        cycle = [f"p{j}" for j in rng.choice(40, 4, replace=False)]
        start = float(rng.uniform(0, 7))
        lines += [(f"c{c}", cycle[t % 4], start + 7.0 * t) for t in range(10)]
    return lines


@pytest.fixture(scope="module")
def rotation() -> OrderHistory:
    return history_from_lines(rotation_lines())


def top1_hit_rate(model: NextPurchaseModel, split: NextBasketSplit) -> float:
    first = model.recommend(split.customers, k=1, now=split.at).items[:, 0]
    return float(np.asarray(split.targets[np.arange(len(first)), np.maximum(first, 0)]).ravel().mean())


def test_the_ranker_learns_the_shops_rhythm_that_the_formula_misses(rotation: OrderHistory) -> None:
    split = split_last_order(rotation)
    formula = NextPurchaseModel(FORMULA).fit(split.train)
    ranked = NextPurchaseModel(RANKED).fit(split.train)
    assert top1_hit_rate(formula, split) < 0.1  # recency puts last week's item first: wrong
    assert top1_hit_rate(ranked, split) > 0.9  # learned from the earlier orders: the item bought longest ago


def test_the_ranker_only_reorders_the_formulas_candidates(rotation: OrderHistory) -> None:
    customers = np.arange(rotation.n_customers)
    formula = NextPurchaseModel(FORMULA).fit(rotation).recommend(customers, k=4)
    ranked = NextPurchaseModel(RANKED).fit(rotation).recommend(customers, k=4)
    assert np.array_equal(np.sort(formula.items, axis=1), np.sort(ranked.items, axis=1))
    assert not np.array_equal(formula.items, ranked.items)
    assert (ranked.scores[:, :-1] >= ranked.scores[:, 1:]).all() and (ranked.scores > 0).all()


def test_a_longer_list_starts_with_the_shorter_one(rotation: OrderHistory) -> None:
    """Publish asks for 100 items, the evaluation for 20: the ranker re-orders the same candidates for both."""
    config = RANKED.model_copy(update={"ranker": RANKED.ranker.model_copy(update={"candidates": 2})})
    model = NextPurchaseModel(config).fit(rotation)
    customers = np.arange(rotation.n_customers)
    long = model.recommend(customers, k=4)
    for k in (1, 2, 3):
        short = model.recommend(customers, k=k)
        np.testing.assert_array_equal(short.items, long.items[:, :k])
        np.testing.assert_array_equal(short.scores, long.scores[:, :k])
    valid = long.items >= 0
    assert valid[:, 3].all()  # every customer's four items: two re-ordered, two after them
    assert (long.scores[:, :-1] >= long.scores[:, 1:]).all()  # best first across the seam
    formula = NextPurchaseModel(config.model_copy(update={"ranker": RankerConfig()})).fit(rotation)
    np.testing.assert_array_equal(long.items[:, 2:], formula.recommend(customers, k=4).items[:, 2:])


def test_save_and_load_keep_the_learned_order(rotation: OrderHistory, tmp_path: Path) -> None:
    model = NextPurchaseModel(RANKED).fit(rotation)
    model.save(tmp_path)
    loaded = NextPurchaseModel.load(tmp_path)
    customers = np.arange(rotation.n_customers)
    before, after = model.recommend(customers, k=4), loaded.recommend(customers, k=4)
    assert np.array_equal(before.items, after.items)
    assert np.allclose(before.scores, after.scores)


def test_a_damaged_ranker_model_is_refused(rotation: OrderHistory, tmp_path: Path) -> None:
    NextPurchaseModel(RANKED).fit(rotation).save(tmp_path)
    with np.load(tmp_path / ARRAYS_FILE, allow_pickle=False) as saved:
        arrays = dict(saved)
    arrays["ranker.model"] = np.frombuffer(b"tree\nnot a booster\n", dtype=np.uint8)
    np.savez(tmp_path / ARRAYS_FILE, **arrays)
    with pytest.raises(ModelFileError, match="ranker"):
        NextPurchaseModel.load(tmp_path)


def test_without_repeat_customers_the_formulas_order_stays(tmp_path: Path) -> None:
    history = history_from_lines([(f"c{c}", f"p{c % 7}", float(c)) for c in range(50)])  # one order each
    model = NextPurchaseModel(RANKED).fit(history)
    formula = NextPurchaseModel(FORMULA).fit(history)
    customers = np.arange(history.n_customers)
    assert np.array_equal(model.recommend(customers, k=3).items, formula.recommend(customers, k=3).items)
    model.save(tmp_path)
    assert np.array_equal(
        NextPurchaseModel.load(tmp_path).recommend(customers, k=3).items, formula.recommend(customers, k=3).items
    )


def test_history_stats_count_buyers_recent_lines_and_orders(rotation: OrderHistory) -> None:
    stats = HistoryStats.of(rotation)
    assert stats.items.shape == (rotation.n_items, 4) and stats.customers.shape == (rotation.n_customers, 2)
    buyers, recent14, recent30, lines = stats.items.T
    assert (buyers <= lines).all() and (recent14 <= recent30).all() and (recent30 <= lines).all()
    assert lines.sum() == rotation.n_lines
    assert (stats.customers[:, 0] == 10).all()  # ten orders each


def test_reorder_sorts_by_odds_within_each_row_and_pads() -> None:
    rows = np.array([0, 0, 0, 2])
    items = np.array([5, 6, 7, 1])
    odds = np.array([0.1, 0.9, 0.5, 0.3])
    out_items, out_odds = reorder(rows, items, odds, n_rows=3, k=2)
    assert out_items.tolist() == [[6, 7], [-1, -1], [1, -1]]
    assert out_odds[0].tolist() == pytest.approx([0.9, 0.5])
    assert out_odds[1].tolist() == [-np.inf, -np.inf]


def test_the_feature_count_matches_the_names(rotation: OrderHistory) -> None:
    model = NextPurchaseModel(RANKED).fit(rotation)
    customers = np.arange(5)
    candidates = model._formula_recommend(customers, 4, None)
    rows, _, features = model._candidate_features(customers, candidates, None)
    assert features.shape == (len(rows), len(FEATURES)) and np.isfinite(features).all()
