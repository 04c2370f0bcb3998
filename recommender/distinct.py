"""Distinct values of large 1-d integer key arrays, by sorting.

numpy 2's ``np.unique(keys)`` without ``return_*`` arguments takes a hash-table path that is about 50x
slower than a sort on millions of int64 keys (measured on numpy 2.4: 1.5 s against 0.03 s for 2.2M keys),
so every hot path that needs distinct keys (per (customer, item) or (order, category) pairs packed into
one int64) goes through here.
"""

from __future__ import annotations

import numpy as np


def _first_of_runs(srt: np.ndarray) -> np.ndarray:
    """True where a sorted array starts a new value."""
    new = np.ones(len(srt), dtype=bool)
    new[1:] = srt[1:] != srt[:-1]
    return new


def unique_values(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a 1-d array."""
    srt = np.sort(np.asarray(keys))
    return srt[_first_of_runs(srt)]


def unique_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of a 1-d array and how often each occurs (int64)."""
    srt = np.sort(np.asarray(keys))
    starts = np.flatnonzero(_first_of_runs(srt))
    return srt[starts], np.diff(np.append(starts, len(srt))).astype(np.int64)


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of a 1-d array and, for every key, the position of its distinct value."""
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    srt = keys[order]
    new = _first_of_runs(srt)
    inverse = np.empty(len(srt), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return srt[new], inverse
