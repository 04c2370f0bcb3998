"""Top-k helpers against plain reference orderings (ties broken by the lower column, negatives kept)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.numeric import topk
from recommender.numeric.topk import mask_sparse, top_columns, topk_dense, topk_sparse


def _reference(matrix: sp.csr_matrix, k: int) -> np.ndarray:
    out = np.full((matrix.shape[0], k), -1)
    for i in range(matrix.shape[0]):
        row = matrix.getrow(i)
        pairs = sorted(zip(-row.data, row.indices, strict=True))[:k]
        out[i, : len(pairs)] = [col for _, col in pairs]
    return out


@pytest.mark.parametrize("sort_entries", [2_000_000, 1, 13])
def test_topk_sparse_matches_a_reference_sort_with_ties_and_negatives(
    sort_entries: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topk, "SORT_ENTRIES", sort_entries)  # 1 and 13: a row or a few rows a block
    rng = np.random.default_rng(3)
    dense = rng.choice([0.0, -1.5, -0.25, 0.5, 0.5, 2.0, 3.25], size=(40, 30)).astype(np.float32)
    dense[5] = 0.0  # an empty row
    matrix = sp.csr_matrix(dense)
    ranked = topk_sparse(matrix, 7)
    np.testing.assert_array_equal(ranked.items, _reference(matrix, 7))
    valid = ranked.items >= 0
    np.testing.assert_array_equal(ranked.scores[valid], dense[np.nonzero(valid)[0], ranked.items[valid]])
    assert np.all(ranked.scores[~valid] == -np.inf)


def test_topk_sparse_with_unsorted_indices_and_row_selection() -> None:
    data = np.array([1.0, 5.0, 3.0, 2.0], dtype=np.float32)
    matrix = sp.csr_matrix((data, np.array([3, 0, 2, 1]), np.array([0, 3, 4])), shape=(2, 4))
    matrix.has_sorted_indices = False
    ranked = topk_sparse(matrix, 2, rows=np.array([1, 0]))
    np.testing.assert_array_equal(ranked.items, [[1, -1], [0, 2]])


def test_entry_blocks_cover_every_row_within_the_budget() -> None:
    indptr = np.array([0, 3, 3, 10, 11, 12, 20])
    blocks = topk.entry_blocks(indptr, 4)
    assert blocks == [(0, 2), (2, 3), (3, 5), (5, 6)]  # a row longer than the budget alone
    assert topk.entry_blocks(np.array([0]), 4) == []


def test_topk_dense_skips_masked_entries() -> None:
    scores = np.array([[1.0, 4.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]], dtype=np.float32)
    mask_sparse(scores, sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 1, 1, 0]])))
    ranked = topk_dense(scores, 3)
    np.testing.assert_array_equal(ranked.items, [[3, 2, 0], [3, -1, -1]])


def _reference_top(dense: np.ndarray, k: int, above: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns per row by a plain sort: value descending, then the lower column; NaN skipped."""
    n, m = dense.shape
    kk = min(k, m)
    cols, vals = np.full((n, kk), -1), np.full((n, kk), -np.inf, dtype=np.float32)
    for i in range(n):
        keep = [j for j in range(m) if not np.isnan(dense[i, j]) and (above is None or dense[i, j] > above)]
        pairs = sorted((-float(dense[i, j]), j) for j in keep)[:kk]
        cols[i, : len(pairs)] = [j for _, j in pairs]
        vals[i, : len(pairs)] = [-v for v, _ in pairs]
    return cols, vals


@pytest.mark.parametrize("select_cells", [1_000_000, 7])
def test_top_columns_matches_a_reference_sort(select_cells: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topk, "SELECT_CELLS", select_cells)  # 7: a few rows at a time
    rng = np.random.default_rng(11)
    for trial in range(120):
        n, m, k = int(rng.integers(0, 25)), int(rng.integers(1, 300)), int(rng.integers(1, 50))
        kind = trial % 4
        if kind == 0:  # distinct values
            dense = rng.standard_normal((n, m)).astype(np.float32)
        elif kind == 1:  # many ties, signed zeros and infinities
            dense = rng.choice([0.0, -0.0, 1.0, 2.0, -1.0, np.inf, -np.inf], size=(n, m)).astype(np.float32)
        elif kind == 2:  # NaN is never chosen
            dense = rng.integers(0, 5, size=(n, m)).astype(np.float32)
            dense[rng.random((n, m)) < 0.3] = np.nan
        else:  # rows with fewer than k finite entries
            dense = rng.standard_normal((n, m)).astype(np.float32)
            dense[rng.random((n, m)) < 0.9] = -np.inf
        above = 0.0 if trial % 3 == 0 else None
        cols, vals = top_columns(dense, k, above=above)
        want_cols, want_vals = _reference_top(dense, k, above)
        np.testing.assert_array_equal(cols, want_cols)
        np.testing.assert_array_equal(vals, want_vals)


def test_topk_dense_breaks_ties_by_the_lower_column() -> None:
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [5.0, 5.0, 5.0, 5.0, 5.0]], dtype=np.float32)
    ranked = topk_dense(scores, 3)
    np.testing.assert_array_equal(ranked.items, [[1, 2, 4], [0, 1, 2]])
