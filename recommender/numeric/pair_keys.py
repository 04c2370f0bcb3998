"""(row, column) pairs as int64 keys, and where each query key sits in a sorted key array.

``pack(rows, cols, n_cols)`` is ``rows * n_cols + cols`` in int64: pairs sorted by (row, column) give sorted
keys, so one ``np.searchsorted`` answers a whole batch of "is this pair stored, and where" questions without a
Python loop or a hash table. ``csr_keys`` packs the stored entries of a canonical CSR matrix (sorted indices,
no duplicates), whose keys are then sorted.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def pack(rows: np.ndarray, cols: np.ndarray, n_cols: int) -> np.ndarray:
    """``rows * n_cols + cols`` as int64 (any shapes that broadcast)."""
    return np.asarray(rows, dtype=np.int64) * np.int64(n_cols) + np.asarray(cols, dtype=np.int64)


def csr_keys(matrix: sp.csr_matrix) -> np.ndarray:
    """The packed key of every stored entry of a canonical CSR matrix, in storage order (sorted)."""
    keys = np.repeat(np.arange(matrix.shape[0], dtype=np.int64) * np.int64(matrix.shape[1]), np.diff(matrix.indptr))
    keys += matrix.indices  # in place: one int64 array, no temporaries of its size
    return keys


def positions(sorted_keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of each ``query`` key in ``sorted_keys`` (any query shape), -1 where it is absent."""
    query = np.asarray(query, dtype=np.int64)
    if len(sorted_keys) == 0:
        return np.full(query.shape, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
    return np.where(sorted_keys[pos] == query, pos, -1)


def values_at(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: int) -> np.ndarray:
    """``values`` (int64) at each ``query`` key's position in ``sorted_keys``; ``default`` where absent."""
    pos = positions(sorted_keys, query)
    out = np.full(pos.shape, default, dtype=np.int64)
    found = pos >= 0
    out[found] = np.asarray(values, dtype=np.int64)[pos[found]]
    return out
