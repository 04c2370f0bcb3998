"""Small vectorized helpers shared by the evaluation modules (not public API).

Membership of (row, item) pairs in a sparse pattern, expansion of index ranges, the "fill a row
with the first candidates not excluded" step of the baselines (distinct purchase events and customer/time
sort keys live in ``recommender.distinct``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.history import DAY
from recommender.numeric import pair_keys


def binary_csr(matrix: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """A canonical binary CSR copy of ``matrix``: explicit zeros dropped, duplicates merged, indices sorted.
    A matrix that already is one (float32 CSR, canonical, every stored value 1) is returned as is, not copied:
    callers only read it (the Complete Journey's complement follow-ups are 11M entries)."""
    if (
        sp.isspmatrix_csr(matrix)
        and matrix.dtype == np.float32
        and matrix.has_canonical_format
        and bool(np.all(matrix.data == 1.0))
    ):
        return matrix
    m = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    m.eliminate_zeros()
    m.sum_duplicates()
    m.sort_indices()
    m.data[:] = 1.0
    return m


def pattern_member(rows: np.ndarray, items: np.ndarray, pattern: sp.csr_matrix) -> np.ndarray:
    """For every query (rows[i], items[i]) (any shape, broadcast): is it stored in ``pattern``?

    ``pattern`` must be canonical (see ``binary_csr``). Items < 0 (padding) are never members.
    """
    rows_b, items_b = np.broadcast_arrays(np.asarray(rows, dtype=np.int64), np.asarray(items, dtype=np.int64))
    found = pair_keys.positions(pair_keys.csr_keys(pattern), pair_keys.pack(rows_b, items_b, pattern.shape[1]))
    return (found >= 0) & (items_b >= 0)


def has_repeated_items(ranked_items: np.ndarray) -> bool:
    """Does any row of a padded (n, k) item array list the same item twice?"""
    srt = np.sort(np.asarray(ranked_items), axis=1)
    return bool(np.any((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)))


def expand_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ``(owner, j)`` with ``lo[owner] <= j < hi[owner]``, owner-major, as two int64 arrays."""
    lengths = np.maximum(np.asarray(hi, dtype=np.int64) - np.asarray(lo, dtype=np.int64), 0)
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    j = np.arange(int(lengths.sum()), dtype=np.int64) - starts[owner] + np.asarray(lo, dtype=np.int64)[owner]
    return owner, j


def fill_rows(
    out_items: np.ndarray,
    out_scores: np.ndarray,
    start: np.ndarray,
    candidates: np.ndarray,
    candidate_scores: np.ndarray,
    excluded: np.ndarray,
) -> None:
    """In place: after position ``start[r]`` of row ``r``, append the candidates not ``excluded[r]``, in order.

    ``candidates``/``candidate_scores`` are one shared list (L,); ``excluded`` is (n, L). Stops at the row width.
    """
    k = out_items.shape[1]
    keep = ~excluded
    pos = np.asarray(start, dtype=np.int64)[:, None] + np.cumsum(keep, axis=1) - 1
    place = keep & (pos < k)
    rows, cols = np.nonzero(place)
    out_items[rows, pos[rows, cols]] = candidates[cols]
    out_scores[rows, pos[rows, cols]] = candidate_scores[cols]


def window_seconds(window_days: float) -> int:
    """A window in whole seconds; must be positive."""
    if not window_days > 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    return round(window_days * DAY)


def mean_or_nan(values: np.ndarray) -> float:
    """Mean of ``values``, or NaN when there are none (no warning)."""
    return float(np.mean(values)) if len(values) else float("nan")
