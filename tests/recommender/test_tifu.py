"""TIFU-KNN pieces: the authors' grouping and decay, and block-wise neighbours against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import recommender.models.tifu as tifu
from recommender.models.tifu import nearest_neighbours, neighbour_mean, order_weights, personal_vectors
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
    monkeypatch.setattr(tifu, "_BLOCK_CELLS", 200)  # many small blocks
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
    monkeypatch.setattr(tifu, "_BLOCK_CELLS", 30)
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


def test_dense_and_sparse_reference_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(9)
    vectors = sp.csr_matrix(rng.random((40, 15)) * (rng.random((40, 15)) < 0.3), dtype=np.float32)
    dense_idx, dense_sims = nearest_neighbours(vectors, 5, "euclidean")
    monkeypatch.setattr(tifu, "_DENSE_REFERENCE_CELLS", 0)  # force the sparse path
    sparse_idx, sparse_sims = nearest_neighbours(vectors, 5, "euclidean")
    np.testing.assert_allclose(dense_sims, sparse_sims, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(dense_idx[:, 0], sparse_idx[:, 0])


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


@pytest.mark.parametrize("shape", [(7, 11, 5), (0, 4, 3), (5, 6, 0), (30, 40, 25)])
def test_dense_product_is_the_public_product_bit_for_bit(shape: tuple[int, int, int]) -> None:
    n, inner, m = shape
    rng = np.random.default_rng(n + inner + m)
    a = sp.csr_matrix(rng.random((n, inner)) * (rng.random((n, inner)) < 0.3), dtype=np.float32)
    b = sp.csr_matrix(rng.random((inner, m)) * (rng.random((inner, m)) < 0.3), dtype=np.float32)
    got = tifu.dense_product(a, b)
    assert got.dtype == np.float32 and got.shape == (n, m)
    np.testing.assert_array_equal(got, (a @ b).toarray())


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
