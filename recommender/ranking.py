"""Vectorized top-k selection shared by the models.

``rank_in_blocks`` scores many queries a block at a time (bounded memory);
``topk_dense`` ranks rows of a dense score matrix; ``topk_sparse`` ranks the stored entries of every
row of a CSR matrix; ``mask_sparse`` sets the entries of a CSR pattern to -inf in a dense block
(used to exclude already-bought items). No Python loop per row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranked

BLOCK_CELLS = 1_000_000  # most cells of one dense (queries x items) score block


def rank_in_blocks(
    queries: np.ndarray, k: int, n_items: int, score_block: Callable[[np.ndarray, int], Ranked]
) -> Ranked:
    """Top-k for many queries, scored ``score_block(rows, k)`` a block of rows at a time so the dense
    (rows x items) scores stay within ``BLOCK_CELLS``."""
    out = Ranked.empty(len(queries), k)
    step = max(1, BLOCK_CELLS // max(n_items, 1))
    for start in range(0, len(queries), step):
        rows = queries[start : start + step]
        ranked = score_block(rows, k)
        out.items[start : start + len(rows)] = ranked.items
        out.scores[start : start + len(rows)] = ranked.scores
    return out


def topk_dense(scores: np.ndarray, k: int) -> Ranked:
    """Best ``k`` columns of each row of ``scores`` (n, m); -inf entries are never returned."""
    scores = np.asarray(scores, dtype=np.float32)
    n, m = scores.shape
    out = Ranked.empty(n, k)
    if n == 0 or m == 0:
        return out
    kk = min(k, m)
    if kk < m:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(m), (n, m)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1)
    top = np.take_along_axis(part_scores, order, axis=1)
    valid = np.isfinite(top)
    out.items[:, :kk] = np.where(valid, items, -1)
    out.scores[:, :kk] = np.where(valid, top, -np.inf)
    return out


def topk_sparse(matrix: sp.csr_matrix, k: int, rows: np.ndarray | None = None) -> Ranked:
    """Best ``k`` stored entries of each row (or of ``rows``) of a CSR matrix, by value."""
    m = sp.csr_matrix(matrix) if not sp.isspmatrix_csr(matrix) else matrix
    if rows is not None:
        m = m[np.asarray(rows, dtype=np.int64)]
    n = m.shape[0]
    out = Ranked.empty(n, k)
    if m.nnz == 0:
        return out
    lengths = np.diff(m.indptr)
    row_of = np.repeat(np.arange(n), lengths)
    # sort entries by (row, -value, column) and keep the first k of each row. Columns are ascending
    # within CSR rows, so one stable sort of the int64 key (row << 32 | descending-value bits) gives that
    # order; rows already come in order, which the stable (run-aware) sort exploits.
    if not m.has_sorted_indices:
        m = m.sorted_indices()
    key = (row_of.astype(np.int64) << 32) | _descending_bits(m.data).astype(np.int64)
    order = np.argsort(key, kind="stable")
    row_sorted = row_of[order]
    rank = np.arange(len(order)) - m.indptr[row_sorted]
    keep = rank < k
    out.items[row_sorted[keep], rank[keep]] = m.indices[order][keep]
    out.scores[row_sorted[keep], rank[keep]] = m.data[order][keep]
    return out


def _descending_bits(values: np.ndarray) -> np.ndarray:
    """uint32 keys whose ascending order is the descending order of the float32 ``values``."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    ascending = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))
    return np.uint32(0xFFFFFFFF) - ascending


def mask_sparse(scores: np.ndarray, pattern: sp.csr_matrix, value: float = -np.inf) -> None:
    """In place: ``scores[i, j] = value`` wherever ``pattern[i, j]`` is stored (same row count)."""
    p = pattern if sp.isspmatrix_csr(pattern) else sp.csr_matrix(pattern)
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    scores[rows, p.indices] = value
