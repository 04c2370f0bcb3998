"""A bounded heap of the best ``(value, column)`` pairs, for numba kernels that keep a top-k per row.

Ranking: the higher value first, and among equal values the lower column (the order of a stable sort of
columns ascending by value descending, the rule of every top-k in this package). The heap keeps its worst
entry at the root, so a candidate is compared with one entry before it is kept or dropped.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def worse(v1: float, c1: int, v2: float, c2: int) -> bool:
    """(v1, c1) ranks after (v2, c2): lower value, or the same value at a higher column."""
    return v1 < v2 or (v1 == v2 and c1 > c2)


@njit(cache=True, nogil=True)
def sift_down(values: np.ndarray, columns: np.ndarray, size: int, at: int) -> None:
    """Restore the heap (worst entry at the root) below ``at``."""
    while True:
        child = 2 * at + 1
        if child >= size:
            return
        if child + 1 < size and worse(values[child + 1], columns[child + 1], values[child], columns[child]):
            child += 1
        if not worse(values[child], columns[child], values[at], columns[at]):
            return
        values[at], values[child] = values[child], values[at]
        columns[at], columns[child] = columns[child], columns[at]
        at = child


@njit(cache=True, nogil=True)
def offer(values: np.ndarray, columns: np.ndarray, size: int, value: float, column: int) -> int:
    """Keep ``(value, column)`` among the best ``len(values)`` seen so far; returns the new heap size."""
    capacity = len(values)
    if size < capacity:
        at = size
        values[at], columns[at] = value, column
        while at > 0:  # sift up
            parent = (at - 1) // 2
            if not worse(values[at], columns[at], values[parent], columns[parent]):
                break
            values[at], values[parent] = values[parent], values[at]
            columns[at], columns[parent] = columns[parent], columns[at]
            at = parent
        return size + 1
    if not worse(values[0], columns[0], value, column):  # no better than the worst kept
        return size
    values[0], columns[0] = value, column
    sift_down(values, columns, size, 0)
    return size


@njit(cache=True, nogil=True)
def drain_best_first(values: np.ndarray, columns: np.ndarray, size: int, out_v: np.ndarray, out_c: np.ndarray) -> None:
    """Empty the heap into ``out_v`` / ``out_c`` [0:size], best first."""
    for slot in range(size - 1, -1, -1):
        out_v[slot], out_c[slot] = values[0], columns[0]
        last = slot  # the heap now has ``slot`` entries: move its last one to the root
        values[0], columns[0] = values[last], columns[last]
        sift_down(values, columns, last, 0)


@njit(cache=True, nogil=True)
def keep_best(
    values: np.ndarray, columns: np.ndarray, n: int, heap_v: np.ndarray, heap_c: np.ndarray, scratch: np.ndarray
) -> int:
    """The best ``len(heap_v)`` of ``(values[i], columns[i])``, ``i < n``, into the empty heap (NaN skipped);
    returns its size. Same result as offering every pair, with far fewer offers.

    Offering all n pairs in turn costs about k * (1 + ln(n / k)) heap insertions (a few thousand at n =
    20,000, k = 300: most of a TIFU search's time). Instead: the maximum of every block of ``n / 4k`` values,
    and the k-th largest of those maxima, ``floor``: k values (one per block) are at least ``floor``, so the
    k best all are too, and only the values at least ``floor`` are offered (ties included: the heap decides
    among them exactly as before). ``scratch``: float32, at least ``n`` long. Measured by
    ``benchmarks.scale``'s profile (the TIFU search and the neighbours' mean of next purchase, 2M lines).
    """
    k = len(heap_v)
    floor = -np.inf
    size_of_block = max(n // (4 * k), 1)
    blocks = (n + size_of_block - 1) // size_of_block
    if blocks > k:
        for b in range(blocks):
            best = -np.inf
            for i in range(b * size_of_block, min((b + 1) * size_of_block, n)):
                value = values[i]
                best = value if value > best else best  # NaN never
            scratch[b] = best
        floor = np.partition(scratch[:blocks], blocks - k)[blocks - k]
    size = 0
    for i in range(n):
        value = values[i]
        if value >= floor and (size < k or not worse(value, columns[i], heap_v[0], heap_c[0])):  # NaN never
            size = offer(heap_v, heap_c, size, value, columns[i])
    return size
