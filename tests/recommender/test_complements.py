"""Directional complements on a small hand-built camping shop: tent -> sleeping bag within days."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.errors import NotFittedError
from recommender.history import DAY, Catalog, OrderHistory
from recommender.ids import IdMap
from recommender.models.complements import (
    ComplementsConfig,
    ComplementsModel,
    UnknownPairError,
    reverse_counts,
    window_matrix,
)

T0 = 1_700_000_000
ITEMS = ["lantern", "milk", "sleeping_bag", "stove", "tent", "tent_xl"]
CATEGORY_OF = {
    "lantern": "Lights",
    "milk": "Food",
    "sleeping_bag": "Sleeping",
    "stove": "Cooking",
    "tent": "Tents",
    "tent_xl": "Tents",
}


def camping_lines(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer, item, day) lines of a shop where most tent buyers buy a sleeping bag days later.

    - 200 customers buy milk every 4 days (an item everyone buys, in every window);
    - customers 0..59 buy a tent; 45 of them a sleeping bag 1..10 days later, 20 a lantern 30..40
      days later (outside a 14-day window), 15 the other tent (same category) 2 days later;
    - customers 60..89 buy a sleeping bag alone; 90..94 buy a sleeping bag, then a tent 3 days later;
    - customers 95..99 buy a stove 5 days after a tent-free milk order.
    """
    rng = np.random.default_rng(seed)
    cust: list[np.ndarray] = []
    item: list[np.ndarray] = []
    day: list[np.ndarray] = []

    def add(c: np.ndarray, name: str, d: np.ndarray) -> None:
        cust.append(np.asarray(c))
        item.append(np.full(len(c), name))
        day.append(np.asarray(d, dtype=np.float64))

    milk_days = np.arange(0, 160, 4)
    add(np.repeat(np.arange(200), len(milk_days)), "milk", np.tile(milk_days, 200) + 0.5)
    buyers = np.arange(60)
    tent_day = rng.integers(0, 100, 60) + 0.3
    add(buyers, "tent", tent_day)
    add(buyers[:45], "sleeping_bag", tent_day[:45] + rng.integers(1, 11, 45))
    add(buyers[10:30], "lantern", tent_day[10:30] + rng.integers(30, 41, 20))
    add(buyers[40:55], "tent_xl", tent_day[40:55] + 2)
    add(np.arange(60, 90), "sleeping_bag", rng.integers(0, 150, 30) + 0.7)
    reversed_day = rng.integers(0, 100, 5) + 0.2
    add(np.arange(90, 95), "sleeping_bag", reversed_day)
    add(np.arange(90, 95), "tent", reversed_day + 3)
    add(np.arange(95, 100), "stove", np.full(5, 20.5) + 5)
    return np.concatenate(cust), np.concatenate(item), np.concatenate(day)


def make_history(lines: tuple[np.ndarray, np.ndarray, np.ndarray], with_catalog: bool) -> OrderHistory:
    cust, item, day = lines
    items = IdMap(np.asarray(ITEMS))
    catalog = None
    if with_catalog:
        names = sorted(set(CATEGORY_OF.values()))
        categories = IdMap(np.asarray(names))
        catalog = Catalog(
            categories=categories,
            category=categories.index([CATEGORY_OF[i] for i in ITEMS]),
            name=np.asarray([i.replace("_", " ").title() for i in ITEMS]),
            in_stock=np.ones(len(ITEMS), dtype=bool),
            price=np.full(len(ITEMS), np.nan, dtype=np.float32),
        )
    return OrderHistory.from_arrays(
        np.char.add("c", cust.astype(str)), item, T0 + (day * DAY).astype(np.int64), catalog=catalog, items=items
    )


def brute_force_n_ab(history: OrderHistory, anchor: int, cand: int, window_days: int) -> int:
    """Distinct customers with a ``cand`` purchase in (0, window] after an ``anchor`` purchase (slow, obvious)."""
    hits = set()
    a_lines = np.flatnonzero(history.item == anchor)
    b_lines = np.flatnonzero(history.item == cand)
    for a in a_lines:
        for b in b_lines:
            gap = history.ordered_at[b] - history.ordered_at[a]
            if history.customer[a] == history.customer[b] and 0 < gap <= window_days * DAY:
                hits.add(int(history.customer[a]))
    return len(hits)


@pytest.fixture(scope="module")
def shop() -> OrderHistory:
    return make_history(camping_lines(), with_catalog=True)


@pytest.fixture(scope="module")
def model(shop: OrderHistory) -> ComplementsModel:
    return ComplementsModel().fit(shop)


def idx(history: OrderHistory, name: str) -> int:
    return history.items.index_one(name)


def offered(model: ComplementsModel, history: OrderHistory, anchor: str, k: int = 10) -> list[str]:
    items, _ = model.recommend(np.array([idx(history, anchor)]), k).row(0)
    return [str(x) for x in history.items.external(items)]


def test_tent_offers_sleeping_bag_in_top_3(model: ComplementsModel, shop: OrderHistory) -> None:
    assert "sleeping_bag" in offered(model, shop, "tent", k=3)


def test_sleeping_bag_never_offers_a_tent(model: ComplementsModel, shop: OrderHistory) -> None:
    # five customers did buy a tent right after a sleeping bag: enough support, wrong direction
    assert brute_force_n_ab(shop, idx(shop, "sleeping_bag"), idx(shop, "tent"), 14) == 5
    got = offered(model, shop, "sleeping_bag", k=10)
    assert "tent" not in got
    assert "tent_xl" not in got


def test_purchase_outside_the_window_does_not_count(shop: OrderHistory) -> None:
    narrow = ComplementsModel(ComplementsConfig(pad_with_popular=False)).fit(shop)
    assert "lantern" not in offered(narrow, shop, "tent")
    with pytest.raises(UnknownPairError):
        narrow.pair_stats(idx(shop, "tent"), idx(shop, "lantern"))
    wide = ComplementsModel(ComplementsConfig(window_days=45)).fit(shop)
    assert "lantern" in offered(wide, shop, "tent")


def test_same_category_substitutes_are_excluded_with_a_catalog(model: ComplementsModel, shop: OrderHistory) -> None:
    assert "tent_xl" not in offered(model, shop, "tent")
    no_catalog = make_history(camping_lines(), with_catalog=False)
    plain = ComplementsModel().fit(no_catalog)
    assert "tent_xl" in offered(plain, no_catalog, "tent")
    keep_substitutes = ComplementsModel(ComplementsConfig(exclude_same_category=False)).fit(shop)
    assert "tent_xl" in offered(keep_substitutes, shop, "tent")


def test_anchor_itself_is_never_offered(model: ComplementsModel, shop: OrderHistory) -> None:
    # milk is re-bought every 4 days by everyone, yet milk never complements milk
    assert "milk" not in offered(model, shop, "milk")


def test_everyone_buys_it_does_not_outrank_the_real_complement(model: ComplementsModel, shop: OrderHistory) -> None:
    got = offered(model, shop, "tent")
    # every tent buyer bought milk within 14 days after the tent: more often than the sleeping bag
    tent, milk, bag = idx(shop, "tent"), idx(shop, "milk"), idx(shop, "sleeping_bag")
    assert brute_force_n_ab(shop, tent, milk, 14) > brute_force_n_ab(shop, tent, bag, 14)
    assert got.index("sleeping_bag") < (got.index("milk") if "milk" in got else len(got))


def test_reason_numbers_match_the_counts(model: ComplementsModel, shop: OrderHistory) -> None:
    tent, bag = idx(shop, "tent"), idx(shop, "sleeping_bag")
    n_ab, n_a = model.pair_stats(tent, bag)
    assert n_ab == brute_force_n_ab(shop, tent, bag, 14)
    assert n_a == len(np.unique(shop.customer[shop.item == tent]))
    assert model.reason(tent, bag, "Tent") == f"bought by {round(100 * n_ab / n_a)}% of Tent buyers within 14 days"


def test_shares_of_every_kept_pair_match_pair_stats(model: ComplementsModel, shop: OrderHistory) -> None:
    anchors = np.repeat(np.arange(shop.n_items), shop.n_items)
    items = np.tile(np.arange(shop.n_items), shop.n_items)
    shares = model.shares(anchors, items)
    assert shares.dtype == np.float32
    kept = np.asarray(model.matrix[anchors, items]).ravel() > 0
    assert kept.sum() > 0 and (~kept).sum() > 0
    for a, i, share in zip(anchors[kept], items[kept], shares[kept], strict=True):
        n_ab, n_a = model.pair_stats(int(a), int(i))
        assert share == pytest.approx(n_ab / n_a, rel=1e-6)
    assert (shares[~kept] == -1).all()
    tent, bag = idx(shop, "tent"), idx(shop, "sleeping_bag")
    assert 0 < model.shares(np.array([tent, -1, tent]), np.array([bag, bag, shop.n_items]))[0] <= 1
    assert (model.shares(np.array([-1, tent]), np.array([bag, shop.n_items])) == -1).all()


def test_every_kept_pair_has_exact_counts_and_support() -> None:
    rng = np.random.default_rng(7)
    n = 600
    lines = (rng.integers(0, 40, n), rng.choice(np.asarray(ITEMS), n), rng.integers(0, 60, n).astype(np.float64))
    history = make_history(lines, with_catalog=False)
    fitted = ComplementsModel(ComplementsConfig(min_direction=0.0, min_support=2, min_lift=0.0)).fit(history)
    m = fitted.matrix.tocoo()
    assert m.nnz > 0
    for a, b in zip(m.row, m.col, strict=True):
        n_ab, _ = fitted.pair_stats(int(a), int(b))
        assert n_ab == brute_force_n_ab(history, int(a), int(b), 14) >= 2


def test_window_links_later_orders_of_the_same_customer_only() -> None:
    # a: orders on days 0, 0 (a second order at the same moment), 5, 19 (exactly 14 days after 5); b: day 3
    cust = np.array(["a", "a", "a", "a", "b"])
    day = np.array([0.0, 0.0, 5.0, 19.0, 3.0])
    history = OrderHistory.from_arrays(
        cust, np.array(["milk"] * 5), T0 + (day * DAY).astype(np.int64), order_ids=np.array([f"o{j}" for j in range(5)])
    )
    table = history.orders_table()
    day_of = dict(zip(table["order"], (table["ordered_at"] - T0) // DAY, strict=True))
    f = window_matrix(history, 14).tocoo()
    links = sorted((int(day_of[r]), int(day_of[c])) for r, c in zip(f.row, f.col, strict=True))
    assert links == [(0, 5), (0, 5), (5, 19)]


def test_reverse_counts_read_the_transposed_entry() -> None:
    rng = np.random.default_rng(5)
    dense = rng.integers(0, 4, size=(40, 40)) * (rng.random((40, 40)) < 0.3)
    counts = sp.csr_matrix(dense.astype(np.float32))
    rows = np.repeat(np.arange(40), np.diff(counts.indptr))
    assert counts.nnz > 100
    np.testing.assert_array_equal(reverse_counts(counts), dense.T[rows, counts.indices])


def test_chunked_counting_gives_the_same_model(shop: OrderHistory, model: ComplementsModel) -> None:
    chunked = ComplementsModel(ComplementsConfig(max_chunk_triples=50)).fit(shop)
    queries = np.arange(shop.n_items)
    a, b = model.recommend(queries, 5), chunked.recommend(queries, 5)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)


def test_for_basket_excludes_basket_items_and_their_categories(model: ComplementsModel, shop: OrderHistory) -> None:
    basket = np.array([idx(shop, "tent"), idx(shop, "milk")])
    items, scores = model.for_basket(basket, k=5)
    names = set(shop.items.external(items))
    assert "sleeping_bag" in names
    assert names.isdisjoint({"tent", "milk", "tent_xl"})
    assert np.all(np.diff(scores) <= 0)
    empty_items, _ = model.for_basket(np.array([-1, 99]), k=5)
    assert len(empty_items) == 0


def test_save_load_round_trip(model: ComplementsModel, shop: OrderHistory, tmp_path: Path) -> None:
    model.save(tmp_path / "m")
    loaded = ComplementsModel.load(tmp_path / "m")
    queries = np.arange(shop.n_items)
    a, b = model.recommend(queries, 4), loaded.recommend(queries, 4)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_array_equal(a.scores, b.scores)
    tent, bag = idx(shop, "tent"), idx(shop, "sleeping_bag")
    assert loaded.reason(tent, bag, "Tent") == model.reason(tent, bag, "Tent")
    basket = np.array([tent])
    np.testing.assert_array_equal(loaded.for_basket(basket, 3)[0], model.for_basket(basket, 3)[0])


def test_unfitted_model_refuses_to_answer() -> None:
    with pytest.raises(NotFittedError):
        ComplementsModel().for_basket(np.array([0]), 3)
