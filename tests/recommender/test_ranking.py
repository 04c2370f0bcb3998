"""Top-k helpers against plain reference orderings (ties broken by the lower column, negatives kept)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.ranking import mask_sparse, topk_dense, topk_sparse


def _reference(matrix: sp.csr_matrix, k: int) -> np.ndarray:
    out = np.full((matrix.shape[0], k), -1)
    for i in range(matrix.shape[0]):
        row = matrix.getrow(i)
        pairs = sorted(zip(-row.data, row.indices, strict=True))[:k]
        out[i, : len(pairs)] = [col for _, col in pairs]
    return out


def test_topk_sparse_matches_a_reference_sort_with_ties_and_negatives() -> None:
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


def test_topk_dense_skips_masked_entries() -> None:
    scores = np.array([[1.0, 4.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]], dtype=np.float32)
    mask_sparse(scores, sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 1, 1, 0]])))
    ranked = topk_dense(scores, 3)
    np.testing.assert_array_equal(ranked.items, [[3, 2, 0], [3, -1, -1]])
