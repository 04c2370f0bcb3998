"""Behaviour of the co-purchase similar-items model: planted pairs, the similarity formula, blocking, categories."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import recommender.models.similar as similar
from recommender.history import OrderHistory
from recommender.models.similar import SimilarConfig, SimilarItemsModel
from tests.recommender.conftest import Line, MakeHistory, history_from_lines


def dense_neighbours(history: OrderHistory, shrinkage: float) -> np.ndarray:
    """Reference: the full item x item shrunk cosine matrix, diagonal removed, by brute force."""
    x = history.customer_items("binary").toarray().astype(np.float64)
    co = x.T @ x
    n = x.sum(axis=0)
    sims = co / (np.sqrt(np.outer(n, n)) + shrinkage)
    np.fill_diagonal(sims, 0.0)
    return sims


def planted_pairs(rng: np.random.Generator) -> list[Line]:
    """Tents go with sleeping bags, kettles with mugs; everyone also buys random other things."""
    lines: list[Line] = []
    for c in range(30):
        pair = ("tent", "sleeping-bag") if c % 2 == 0 else ("kettle", "mug")
        lines += [(f"c{c}", pair[0], 1.0), (f"c{c}", pair[1], 3.0)]
        lines += [(f"c{c}", f"other{j}", 5.0) for j in rng.choice(12, size=3, replace=False)]
    return lines


def test_items_bought_together_are_each_others_best_neighbour(make_history: MakeHistory) -> None:
    history = make_history(planted_pairs(np.random.default_rng(3)))
    model = SimilarItemsModel(SimilarConfig(same_category_only=False, neighbours=5)).fit(history)
    anchors = ["tent", "sleeping-bag", "kettle", "mug"]
    ranked = model.recommend(history.items.index(anchors), 3)
    best = list(history.items.external(ranked.items[:, 0]))
    assert best == ["sleeping-bag", "tent", "mug", "kettle"]


def test_kept_neighbours_match_the_formula(history: OrderHistory) -> None:
    config = SimilarConfig(same_category_only=False, neighbours=6, shrinkage=3.0)
    model = SimilarItemsModel(config).fit(history)
    reference = dense_neighbours(history, config.shrinkage)
    kept = model.neighbours
    assert np.all(np.diff(kept.indptr) <= config.neighbours)
    rows = np.repeat(np.arange(history.n_items), np.diff(kept.indptr))
    np.testing.assert_allclose(kept.data, reference[rows, kept.indices], rtol=1e-5)
    # the kept ones are the best of their row: the 6th best reference value is the row's smallest kept one
    expected_floor = -np.sort(-reference, axis=1)[:, config.neighbours - 1]
    smallest_kept = np.array([kept.data[a:b].min() for a, b in zip(kept.indptr[:-1], kept.indptr[1:], strict=True)])
    np.testing.assert_allclose(smallest_kept, expected_floor, rtol=1e-5)


def test_an_item_is_never_its_own_neighbour(history: OrderHistory) -> None:
    model = SimilarItemsModel(SimilarConfig(same_category_only=False, neighbours=20)).fit(history)
    ranked = model.recommend(np.arange(history.n_items), 20)
    assert not np.any(ranked.items == np.arange(history.n_items)[:, None])


def test_blocked_computation_equals_one_block(history: OrderHistory, monkeypatch: pytest.MonkeyPatch) -> None:
    config = SimilarConfig(neighbours=8, profile_weight=0.5)
    whole = SimilarItemsModel(config).fit(history).neighbours
    monkeypatch.setattr(similar, "_KERNEL_ROWS", 3)  # many small blocks, run on two threads
    blocked = SimilarItemsModel(config).fit(history).neighbours
    assert np.array_equal(whole.indptr, blocked.indptr)
    assert np.array_equal(whole.indices, blocked.indices) and np.array_equal(whole.data, blocked.data)


def scipy_top_rows(product: sp.csr_matrix, n: int, keep: np.ndarray) -> sp.csr_matrix:
    """Reference: the scipy product's stored entries where ``keep`` (a dense mask), top ``n`` per row by
    (value descending, column ascending), rows best first."""
    co = product.tocoo()
    mask = keep[co.row, co.col]
    rows, cols, vals = co.row[mask], co.col[mask], co.data[mask].astype(np.float32)
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(product.shape[0]))
    chosen = (np.arange(len(rows)) - starts[rows]) < n
    counts = np.bincount(rows[chosen], minlength=product.shape[0])
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return sp.csr_matrix((vals[chosen], cols[chosen], indptr), shape=product.shape)


@pytest.mark.parametrize("same_category_only", [True, False])
def test_compiled_kernel_gives_the_scipy_numbers_bit_for_bit(history: OrderHistory, same_category_only: bool) -> None:
    """The co-purchase kernel does scipy's float32 arithmetic in scipy's order: the same floats, ties by column."""
    buyers = history.customer_items("binary")
    category = history.catalog.category.astype(np.int32)
    config = SimilarConfig(neighbours=7, shrinkage=2.0, same_category_only=same_category_only)
    got = similar.co_purchase_matrix(buyers, config, category)
    item_buyers = buyers.T.tocsr()
    co = (item_buyers @ buyers).tocsr()
    n = np.diff(item_buyers.indptr).astype(np.float64)
    co.data = (co.data / (np.sqrt(n[co.tocoo().row] * n[co.indices]) + config.shrinkage)).astype(np.float32)
    keep = ~np.eye(history.n_items, dtype=bool)
    if same_category_only:
        known = category[:, None] >= 0
        keep &= ~known | (category[:, None] == category[None, :])
    expected = scipy_top_rows(co, config.neighbours, keep)
    assert got.nnz > history.n_items
    assert np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices) and np.array_equal(got.data, expected.data)
    # second order: cosine of the profiles (float32 products), same known category only
    profiles = similar.co_purchase_matrix(buyers, config.model_copy(update={"same_category_only": False}), category)
    norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())
    unit = sp.csr_matrix(sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ profiles)
    same = (category[:, None] >= 0) & (category[:, None] == category[None, :]) & ~np.eye(history.n_items, dtype=bool)
    expected_second = scipy_top_rows((unit @ unit.T.tocsr()).tocsr(), 5, same)
    second = similar.profile_similarity(profiles, category, 5)
    assert np.array_equal(second.indptr, expected_second.indptr)
    assert np.array_equal(second.indices, expected_second.indices) and np.array_equal(second.data, expected_second.data)


def test_shrinkage_prefers_pairs_with_more_support(make_history: MakeHistory) -> None:
    # 20 buy the anchor; "rare" is bought once, by an anchor buyer; "broad" by 180, 10 of them anchor buyers
    lines: list[Line] = [(f"a{c}", "anchor", 0.0) for c in range(20)]
    lines += [("a0", "rare", 1.0)]
    lines += [(f"a{c}", "broad", 2.0) for c in range(10)] + [(f"b{c}", "broad", 2.0) for c in range(170)]
    history = make_history(lines)
    anchor = np.array([history.items.index_one("anchor")])
    unshrunk = (
        SimilarItemsModel(SimilarConfig(same_category_only=False, shrinkage=0.0)).fit(history).recommend(anchor, 1)
    )
    shrunk = SimilarItemsModel(SimilarConfig(same_category_only=False, shrinkage=5.0)).fit(history).recommend(anchor, 1)
    assert history.items.external(unshrunk.items[0])[0] == "rare"
    assert history.items.external(shrunk.items[0])[0] == "broad"


def test_same_category_only_keeps_the_anchors_category(history: OrderHistory) -> None:
    model = SimilarItemsModel(SimilarConfig(neighbours=20, same_category_only=True)).fit(history)
    ranked = model.recommend(np.arange(history.n_items), 20)
    category = history.catalog.category
    valid = ranked.items >= 0
    assert np.all(category[ranked.items[valid]] == np.broadcast_to(category[:, None], ranked.items.shape)[valid])
    # without the option, neighbours do cross categories
    free = (
        SimilarItemsModel(SimilarConfig(same_category_only=False, neighbours=20))
        .fit(history)
        .recommend(np.arange(history.n_items), 20)
    )
    crossing = category[free.items] != category[:, None]
    assert np.any(crossing & (free.items >= 0))


def test_an_item_without_category_is_not_restricted(make_history: MakeHistory) -> None:
    lines: list[Line] = [(f"c{c}", item, 0.0) for c in range(5) for item in ("tent", "stove", "mystery")]
    history = make_history(lines, category_of={"tent": "camping", "stove": "kitchen"})
    model = SimilarItemsModel(SimilarConfig(same_category_only=True)).fit(history)
    ranked = model.recommend(history.items.index(["mystery", "tent"]), 5)
    assert set(history.items.external(ranked.row(0)[0])) == {"tent", "stove"}
    assert len(ranked.row(1)[0]) == 0, "the tent's only co-purchases are of another category or uncategorized"


def test_neighbours_is_a_csr_sorted_best_first(history: OrderHistory) -> None:
    kept = SimilarItemsModel(SimilarConfig(same_category_only=False, neighbours=10)).fit(history).neighbours
    assert isinstance(kept, sp.csr_matrix) and kept.shape == (history.n_items, history.n_items)
    assert kept.dtype == np.float32
    row_of = np.repeat(np.arange(history.n_items), np.diff(kept.indptr))
    same_row = row_of[1:] == row_of[:-1]
    assert np.all(np.diff(kept.data)[same_row] <= 0)


def test_items_nobody_buys_together_are_alike_through_what_their_buyers_buy() -> None:
    # six customers each buy one tent and a sleeping bag; nobody buys two tents; two tea buyers buy mugs
    lines = [(f"c{c}", f"tent-{c % 3}", 1.0) for c in range(6)] + [(f"c{c}", "bag", 3.0) for c in range(6)]
    lines += [("t0", "tea", 1.0), ("t0", "mug", 2.0), ("t1", "tea", 1.0), ("t1", "mug", 2.0), ("t1", "tent-x", 5.0)]
    category = {
        "tent-0": "Tents",
        "tent-1": "Tents",
        "tent-2": "Tents",
        "tent-x": "Tents",
        "bag": "Bags",
        "tea": "Tea",
        "mug": "Kitchen",
    }
    history = history_from_lines(lines, category)
    tent0 = history.items.index_one("tent-0")

    def similar_to_tent0(config: SimilarConfig) -> list[str]:
        items, _ = SimilarItemsModel(config).fit(history).recommend(np.array([tent0]), 5).row(0)
        return [str(x) for x in history.items.external(items)]

    got = similar_to_tent0(SimilarConfig(same_category_only=True))
    assert got[:2] in (["tent-1", "tent-2"], ["tent-2", "tent-1"])  # their buyers all buy the sleeping bag
    assert "bag" not in got  # a complement, not an alternative
    assert similar_to_tent0(SimilarConfig(same_category_only=True, profile_weight=0.0)) == []
