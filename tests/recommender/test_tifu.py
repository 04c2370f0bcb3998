"""TIFU-KNN pieces: the authors' grouping and decay, and block-wise neighbours against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import recommender.models.next_purchase.tifu as tifu
from recommender.models.next_purchase.tifu import nearest_neighbours, neighbour_mean, order_weights, personal_vectors
from tests.recommender.conftest import history_from_lines


def reference_weights(n: int, groups: int, rb: float, rg: float) -> np.ndarray:
    """Per-order weights the way the authors' code builds them, one customer at a time."""
    if n < groups:
        sizes = [1] * n
    else:
        base, extra = divmod(n, groups)
        sizes = [base] * (groups - extra) + [base + 1] * extra
    out, pos = [], 0
    for g, size in enumerate(sizes):
        for _ in range(size):
            out.append(rb ** (n - 1 - pos) * rg ** (groups - 1 - g) / size / len(sizes))
            pos += 1
    return np.asarray(out)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 10, 23])
def test_order_weights_match_the_reference_grouping(n: int) -> None:
    got = order_weights(np.arange(n), np.full(n, n), groups=3, within_decay=0.9, group_decay=0.7)
    np.testing.assert_allclose(got, reference_weights(n, 3, 0.9, 0.7))


def test_personal_vectors_count_an_item_once_per_order() -> None:
    lines = [("a", "x", 0.0), ("a", "x", 0.0), ("a", "y", 1.0), ("a", "x", 2.0), ("b", "y", 5.0)]
    history = history_from_lines(lines)
    v = personal_vectors(history, groups=1, within_decay=0.5, group_decay=1.0).toarray()
    a, b = history.customers.index(["a", "b"])
    x, y = history.items.index(["x", "y"])
    # a: orders at days 0, 1, 2 (weights .25, .5, 1 over 3 orders); x in days 0 and 2, y in day 1
    np.testing.assert_allclose(v[a, [x, y]], [(0.25 + 1.0) / 3, 0.5 / 3])
    np.testing.assert_allclose(v[b, [x, y]], [0.0, 1.0])


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_neighbours_in_blocks_match_brute_force(similarity: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tifu, "_SEARCH_ROWS", 7)  # many small blocks, in two threads
    rng = np.random.default_rng(3)
    dense = rng.random((60, 15)) * (rng.random((60, 15)) < 0.3)
    idx, sims = nearest_neighbours(sp.csr_matrix(dense), 5, similarity)  # type: ignore[arg-type]
    if similarity == "cosine":
        unit = dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
        full = unit @ unit.T
    else:
        full = -(((dense[:, None, :] - dense[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(full, np.inf)
    assert (idx[:, 0] == np.arange(60)).all(), "a customer is its own nearest neighbour"
    for r in range(60):
        kth = np.sort(full[r])[::-1][4]
        assert (full[r, idx[r]] >= kth - 1e-5).all()
        assert len(set(idx[r].tolist())) == 5
    assert np.all(np.diff(sims[:, 1:], axis=1) <= 1e-6), "best first"


def test_neighbour_mean_keeps_the_largest_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tifu, "_SEARCH_ROWS", 3)
    rng = np.random.default_rng(4)
    dense = rng.random((20, 10)) * (rng.random((20, 10)) < 0.4)
    neighbours = rng.integers(0, 20, size=(20, 4))
    got = neighbour_mean(sp.csr_matrix(dense), neighbours, keep=3).toarray()
    expected = dense[neighbours].mean(axis=1)
    for r in range(20):
        top = np.sort(expected[r])[::-1][:3]
        np.testing.assert_allclose(np.sort(got[r][got[r] > 0])[::-1], top[top > 0], rtol=1e-5)


def test_a_reference_pool_bounds_the_neighbour_search() -> None:
    rng = np.random.default_rng(5)
    vectors = sp.csr_matrix(rng.random((30, 12)) * (rng.random((30, 12)) < 0.3), dtype=np.float32)
    full_idx, full_sims = nearest_neighbours(vectors, 4, "euclidean")
    same_idx, same_sims = nearest_neighbours(vectors, 4, "euclidean", reference=np.arange(30))
    np.testing.assert_array_equal(full_idx, same_idx)
    np.testing.assert_allclose(full_sims, same_sims)
    pool = np.arange(0, 30, 3)
    idx, _ = nearest_neighbours(vectors, 4, "euclidean", reference=pool)
    assert np.isin(idx, pool).all()
    assert (idx[pool, 0] == pool).all()  # a pool member is its own nearest neighbour


def test_euclidean_similarities_are_the_scipy_float32_numbers_bit_for_bit() -> None:
    rng = np.random.default_rng(9)
    vectors = sp.csr_matrix(rng.random((40, 15)) * (rng.random((40, 15)) < 0.3), dtype=np.float32)
    pool = np.arange(0, 40, 2)
    idx, sims = nearest_neighbours(vectors, 5, "euclidean", reference=pool)
    squared = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()).astype(np.float32) ** 2  # as fit
    product = (vectors @ vectors[pool].T.tocsr()).toarray()  # float32, scipy's accumulation order
    full = product * 2 - squared[:, None] - squared[pool][None, :]
    assert full.dtype == np.float32
    outside = np.setdiff1d(np.arange(40), pool)  # a pool member's first neighbour is itself (similarity 0)
    position = np.searchsorted(pool, idx[outside])
    np.testing.assert_array_equal(sims[outside], np.take_along_axis(full[outside], position, axis=1))
    order = np.lexsort((np.arange(len(pool))[None, :].repeat(len(outside), 0), -full[outside]), axis=1)
    np.testing.assert_array_equal(position, order[:, :5])


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_equally_near_customers_are_taken_by_the_lower_index(similarity: str) -> None:
    same = np.array([1.0, 0.5, 0.0, 0.25], dtype=np.float32)
    vectors = sp.csr_matrix(np.vstack([same] * 6 + [[0.0, 0.0, 3.0, 0.0]]), dtype=np.float32)
    idx, _ = nearest_neighbours(vectors, 3, similarity)  # type: ignore[arg-type]
    np.testing.assert_array_equal(idx[:6], [[i, *[j for j in range(6) if j != i][:2]] for i in range(6)])


def test_neighbour_mean_breaks_ties_by_the_lower_item() -> None:
    vectors = sp.csr_matrix(np.array([[1.0, 2.0, 2.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32))
    mean = neighbour_mean(vectors, np.array([[0], [1]]), keep=2).toarray()
    np.testing.assert_array_equal(mean, [[0.0, 2.0, 2.0, 0.0, 0.0], [0.0] * 5])


@pytest.mark.parametrize("shape", [(7, 11, 3), (1, 4, 1), (30, 40, 6)])
def test_neighbour_mean_is_the_scipy_product_of_the_weights_bit_for_bit(shape: tuple[int, int, int]) -> None:
    n, n_items, k = shape
    rng = np.random.default_rng(n + n_items + k)
    vectors = sp.csr_matrix(rng.random((n, n_items)) * (rng.random((n, n_items)) < 0.4), dtype=np.float32)
    neighbours = np.stack([rng.permutation(n)[:k] for _ in range(n)])  # distinct, in any order
    weights = sp.csr_matrix(
        (np.full(n * k, 1.0 / k, dtype=np.float32), (np.repeat(np.arange(n), k), neighbours.ravel())), shape=(n, n)
    )
    expected = (weights @ vectors).toarray()
    keep = 4
    got = neighbour_mean(vectors, neighbours, keep)
    assert got.dtype == np.float32
    dense = got.toarray()
    for r in range(n):
        ranked = np.lexsort((np.arange(n_items), -expected[r]))[:keep]
        ranked = ranked[expected[r, ranked] > 0]
        np.testing.assert_array_equal(np.flatnonzero(dense[r]), np.sort(ranked))
        np.testing.assert_array_equal(dense[r, ranked], expected[r, ranked])


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_neighbours_of_some_rows_are_those_rows_of_the_full_search(similarity: str) -> None:
    rng = np.random.default_rng(11)
    vectors = sp.csr_matrix(rng.random((50, 12)) * (rng.random((50, 12)) < 0.3), dtype=np.float32)
    pool = np.arange(0, 50, 2)
    full_idx, full_sims = nearest_neighbours(vectors, 4, similarity, reference=pool)  # type: ignore[arg-type]
    asked = np.array([7, 2, 40, 3])  # any order, members of the pool or not
    idx, sims = nearest_neighbours(vectors, 4, similarity, reference=pool, queries=asked)  # type: ignore[arg-type]
    np.testing.assert_array_equal(idx, full_idx[asked])
    np.testing.assert_array_equal(sims, full_sims[asked])
    # neighbour_mean over the vectors of all rows, one result row per asked row
    np.testing.assert_array_equal(
        neighbour_mean(vectors, idx, 5).toarray(), neighbour_mean(vectors, full_idx, 5).toarray()[asked]
    )
