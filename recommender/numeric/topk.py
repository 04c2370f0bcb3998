"""Vectorized top-k selection shared by the models.

``rank_in_blocks`` scores many queries a block at a time (bounded memory);
``top_columns`` finds the largest entries of every row of a dense matrix and ``topk_dense`` ranks with it;
``topk_sparse`` ranks the stored entries of every row of a CSR matrix; ``mask_sparse`` sets the entries of
a CSR pattern to -inf in a dense block (used to exclude already-bought items). No Python loop per row.

Ties are broken by the lower column everywhere, so a ranking does not depend on how rows are blocked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

BLOCK_CELLS = 1_000_000  # most cells of one dense (queries x items) score block
SAMPLE_STRIDE = 0.8  # top_columns samples every (0.8 * sqrt(m / k))-th column: measured at 20,000 columns
SELECT_CELLS = 1_000_000  # most cells ``top_columns`` works on at once (4 MB of float32: cache-sized)
SORT_ENTRIES = 2_000_000  # most stored entries ``topk_sparse`` sorts at once (about 50 MB of keys)


class Ranked(NamedTuple):
    """Top-k lists for a batch of queries: ``items`` int32 (n, k), ``scores`` float32 (n, k)."""

    items: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls, n: int, k: int) -> Ranked:
        return cls(np.full((n, k), -1, dtype=np.int32), np.full((n, k), -np.inf, dtype=np.float32))

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Valid (item, score) pairs of row ``i``, without padding."""
        keep = self.items[i] >= 0
        return self.items[i][keep], self.scores[i][keep]


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
    """Best ``k`` columns of each row of ``scores`` (n, m), ties by the lower column; -inf entries are never
    returned."""
    scores = np.asarray(scores, dtype=np.float32)
    n, m = scores.shape
    out = Ranked.empty(n, k)
    if n == 0 or m == 0:
        return out
    items, top = top_columns(scores, k)
    kk = items.shape[1]
    valid = np.isfinite(top)
    out.items[:, :kk] = np.where(valid, items, -1)
    out.scores[:, :kk] = np.where(valid, top, -np.inf)
    return out


def top_columns(scores: np.ndarray, k: int, above: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``min(k, m)`` largest entries of every row of a dense (n, m) matrix, best first, ties by the lower
    column: (columns int64, values float32), both (n, min(k, m)). NaN is never chosen, nor, when ``above``
    is given, an entry at or below it; a row with too few other entries ends with column -1 and value -inf.

    Cheaper than an ``argpartition`` of every row (about 3x for 20,000 columns): the k-th largest entry of
    a strided sample of the columns is at most the row's k-th largest, so only the entries at or above it
    (about ``k * stride``, the stride ``SAMPLE_STRIDE`` times the square root of ``m / k``) are ranked, by
    one sort of (descending value, column) keys padded into a small block, a row per row. Sorts, not
    ``np.partition``: it slows down tenfold on rows of many equal values (the zeros of a sparse mean).
    Rows go a few at a time (``SELECT_CELLS``), so that every pass stays in the cache.
    """
    scores = np.asarray(scores, dtype=np.float32)
    n, m = scores.shape
    kk = min(k, m)
    columns = np.full((n, kk), -1, dtype=np.int64)
    values = np.full((n, kk), -np.inf, dtype=np.float32)
    if n == 0 or kk <= 0:
        return columns, values
    step = max(1, SELECT_CELLS // m)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        _top_columns_block(np.ascontiguousarray(scores[lo:hi]), kk, above, columns[lo:hi], values[lo:hi])
    return columns, values


def _top_columns_block(
    scores: np.ndarray, kk: int, above: float | None, columns: np.ndarray, values: np.ndarray
) -> None:
    """``top_columns`` of a few rows (C-contiguous), written into ``columns`` and ``values``."""
    n, m = scores.shape
    stride = max(1, int(SAMPLE_STRIDE * np.sqrt(m / kk)))
    if stride > 1:  # the sample has ceil(m / stride) >= kk columns
        sample = np.ascontiguousarray(scores[:, ::stride])
        sample[np.isnan(sample)] = -np.inf  # np.partition ranks NaN above everything: read it as -inf here
        width = sample.shape[1]
        sample.sort(axis=1)
        candidate = scores >= sample[:, width - kk, None]
    else:
        candidate = ~np.isnan(scores)
    if above is not None:
        candidate &= scores > above
    flat = np.flatnonzero(candidate)
    rows = flat // m
    counts = np.bincount(rows, minlength=n)
    widest = int(counts.max(initial=0))
    if widest == 0:
        return
    # one key per candidate, (descending value, ascending column), sorted within its row of a padded block
    value_bits = descending_bits(scores.ravel()[flat] + np.float32(0.0)).astype(np.uint64)  # -0.0 as 0.0
    padded = np.full((n, widest), _NO_KEY, dtype=np.uint64)
    padded[rows, np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts)] = (value_bits << _SHIFT) | (
        flat - rows * m
    ).astype(np.uint64)
    padded.sort(axis=1)
    width = min(kk, widest)
    top = padded[:, :width]
    found = top != _NO_KEY
    chosen = np.where(found, (top & _LOW_BITS).astype(np.int64), 0)
    columns[:, :width] = np.where(found, chosen, -1)
    values[:, :width] = np.where(found, scores[np.arange(n)[:, None], chosen], -np.inf)


_NO_KEY = np.uint64(np.iinfo(np.uint64).max)  # padding: sorts after every candidate
_SHIFT = np.uint64(32)
_LOW_BITS = np.uint64(0xFFFFFFFF)


def topk_sparse(matrix: sp.csr_matrix, k: int, rows: np.ndarray | None = None) -> Ranked:
    """Best ``k`` stored entries of each row (or of ``rows``) of a CSR matrix, by value (ties: the lower
    column). Rows go in blocks of about ``SORT_ENTRIES`` stored entries, so the sort keys stay small
    whatever the matrix (a catalog-squared co-occurrence matrix took 2 GB of keys at once)."""
    m = sp.csr_matrix(matrix) if not sp.isspmatrix_csr(matrix) else matrix
    if rows is not None:
        m = m[np.asarray(rows, dtype=np.int64)]
    n = m.shape[0]
    out = Ranked.empty(n, k)
    if m.nnz == 0 or k < 1:
        return out
    if not m.has_sorted_indices:
        m = m.sorted_indices()
    for lo, hi in entry_blocks(m.indptr, SORT_ENTRIES):
        _topk_sparse_rows(m, lo, hi, k, out)
    return out


def entry_blocks(indptr: np.ndarray, entries: int) -> list[tuple[int, int]]:
    """Consecutive ``(lo, hi)`` row ranges of a CSR ``indptr`` holding at most ``entries`` stored entries
    each (a longer row alone), covering every row."""
    n = len(indptr) - 1
    blocks, lo = [], 0
    while lo < n:
        hi = int(np.searchsorted(indptr, indptr[lo] + entries, side="right")) - 1
        hi = min(max(hi, lo + 1), n)
        blocks.append((lo, hi))
        lo = hi
    return blocks


def _topk_sparse_rows(m: sp.csr_matrix, lo: int, hi: int, k: int, out: Ranked) -> None:
    """``topk_sparse`` of rows ``lo:hi`` (indices sorted within rows) into ``out``."""
    start, stop = int(m.indptr[lo]), int(m.indptr[hi])
    if start == stop:
        return
    lengths = np.diff(m.indptr[lo : hi + 1])
    row_of = np.repeat(np.arange(hi - lo, dtype=np.int64), lengths)
    data, indices = m.data[start:stop], m.indices[start:stop]
    # sort entries by (row, -value, column) and keep the first k of each row. Columns are ascending
    # within CSR rows, so one stable sort of the int64 key (row << 32 | descending-value bits) gives that
    # order; rows already come in order, which the stable (run-aware) sort exploits.
    key = (row_of << 32) | descending_bits(data).astype(np.int64)
    order = np.argsort(key, kind="stable")
    del key
    row_sorted = row_of[order]
    rank = np.arange(len(order)) - (m.indptr[lo:hi][row_sorted] - start)
    keep = rank < k
    order, row_sorted, rank = order[keep], row_sorted[keep] + lo, rank[keep]
    out.items[row_sorted, rank] = indices[order]
    out.scores[row_sorted, rank] = data[order]


def descending_bits(values: np.ndarray) -> np.ndarray:
    """uint32 keys whose ascending order is the descending order of the float32 ``values``."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    ascending = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))
    return np.uint32(0xFFFFFFFF) - ascending


def mask_sparse(scores: np.ndarray, pattern: sp.csr_matrix, value: float = -np.inf) -> None:
    """In place: ``scores[i, j] = value`` wherever ``pattern[i, j]`` is stored (same row count)."""
    p = pattern if sp.isspmatrix_csr(pattern) else sp.csr_matrix(pattern)
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    scores[rows, p.indices] = value
