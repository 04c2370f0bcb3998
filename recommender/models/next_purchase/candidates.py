"""Candidates as (row, item, score) triples: the stored entries of some CSR rows, and the top k of triples.

Every part of the next purchase formula (repeat items, the neighbours' items, transitions, ALS explore)
gives its candidates as parallel arrays of query rows, items and scores; ``top_candidates`` adds up the
scores of a (row, item) pair and keeps each row's best ``k``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.numeric.topk import topk_sparse

Triples = tuple[np.ndarray, np.ndarray, np.ndarray]  # candidates: (rows, items, scores), parallel arrays
RowLists = tuple[np.ndarray, np.ndarray, np.ndarray]  # per-customer lists as CSR arrays: (indptr, items, scores)


def gather_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR rows ``rows``: (position in ``rows`` of every stored entry, index of that entry)."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    total = int(lengths.sum())
    which = np.repeat(np.arange(len(rows)), lengths)
    offset = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return which, np.repeat(starts, lengths) + offset


def top_candidates(rows: np.ndarray, items: np.ndarray, scores: np.ndarray, n: int, n_items: int, k: int) -> Ranked:
    """Top-k of (row, item, score) candidates, rows ``0..n-1``; scores of the same (row, item) add up."""
    merged = sp.csr_matrix(
        (scores.astype(np.float32), (rows.astype(np.int64), items.astype(np.int64))), shape=(n, n_items)
    )
    merged.sum_duplicates()
    merged.data[merged.data <= 0] = 0.0
    merged.eliminate_zeros()
    return topk_sparse(merged, k)
