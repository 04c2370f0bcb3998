"""Compiled (numba) kernel that turns a block of BLAS float32 inner products into an exact, CPU-independent top-k.

``rescored_top``: for each row of a (customers x columns) block of scores from a float32 matrix product,
the ``k``-th largest score ``K``, then every column whose score is at least ``K - slack[row]`` (the
candidates: with a slack of at least twice the largest error of one BLAS score, every item of the exact
top-k is one), rescored exactly (``exact_scores``) and ranked by (exact score descending, item ascending),
best first.

The exact score: the float32 factors multiplied in float64 (exact: 24 + 24 significant bits), summed in
factor order from 0.0 in float64, rounded once to float32. Every step is one IEEE-754 operation in a fixed
order (no ``fastmath``, so no reassociation; a fused multiply-add would give the same sums, the products
being exact), so the score depends on the two factor vectors only: not on the CPU, the BLAS kernel, or
where the item's column sits in a matrix, nor on how many rows were multiplied. Items with identical
factors get identical scores, and the tie goes to the lower item.

``K`` is found as ``recommender.numeric.topk.top_columns`` finds it: the k-th largest of a strided sample of the
row is at most ``K``, so only the entries at or above it (about ``k * stride``) are kept and selected from.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_SIGN = np.uint32(0x80000000)
_SHIFT = np.uint64(32)
_LOW = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def kth_largest(values: np.ndarray, count: int, k: int) -> float:
    """The ``k``-th largest of ``values[:count]`` (``1 <= k <= count``, no NaN), reordering them: a
    quickselect whose partitions are branch-free (a comparison adds to the store index)."""
    target = k - 1
    lo, hi = 0, count  # the k-th largest is in values[lo:hi], sorted descending it would sit at target
    while hi - lo > 1:
        a, b, c = values[lo], values[(lo + hi - 1) >> 1], values[hi - 1]  # pivot: the median of three
        if a < b:
            a, b = b, a
        if b < c:
            b = c if c < a else a
        pivot = b
        store = lo  # values above the pivot to the front ...
        for i in range(lo, hi):
            value = values[i]
            values[i] = values[store]
            values[store] = value
            store += value > pivot
        if target < store:
            hi = store
            continue
        equal = store  # ... then the values equal to it
        for i in range(store, hi):
            value = values[i]
            values[i] = values[equal]
            values[equal] = value
            equal += value == pivot
        if target < equal:
            return pivot
        lo = equal
    return values[lo]


@njit(cache=True, nogil=True)
def exact_scores(
    user: np.ndarray, item_factors: np.ndarray, positions: np.ndarray, count: int, out: np.ndarray
) -> None:
    """``out[j] = float32(sum over f, in order, of user[f] * item_factors[positions[j], f])`` for ``j <
    count``, summed in float64 from 0.0 (``user``: float64, converted from float32; ``item_factors``:
    float32). Four items at a time: four independent sums, each in factor order, that the CPU overlaps."""
    d = len(user)
    j = 0
    while j + 4 <= count:
        v0, v1 = item_factors[positions[j]], item_factors[positions[j + 1]]
        v2, v3 = item_factors[positions[j + 2]], item_factors[positions[j + 3]]
        s0 = s1 = s2 = s3 = 0.0
        for f in range(d):
            weight = user[f]
            s0 += weight * np.float64(v0[f])
            s1 += weight * np.float64(v1[f])
            s2 += weight * np.float64(v2[f])
            s3 += weight * np.float64(v3[f])
        out[j], out[j + 1], out[j + 2], out[j + 3] = np.float32(s0), np.float32(s1), np.float32(s2), np.float32(s3)
        j += 4
    while j < count:
        v0 = item_factors[positions[j]]
        s0 = 0.0
        for f in range(d):
            s0 += user[f] * np.float64(v0[f])
        out[j] = np.float32(s0)
        j += 1


@njit(cache=True, nogil=True)
def descending_keys(values: np.ndarray, count: int, keys: np.ndarray) -> None:
    """``keys[i]`` for ``i < count``: sorted ascending, the order of (``values[i]`` descending, ``i``
    ascending); ``values`` float32 and never NaN, -0.0 as 0.0."""
    bits = values.view(np.uint32)
    for i in range(count):
        b = bits[i] if values[i] != 0 else np.uint32(0)  # -0.0 as 0.0
        ascending = ~b if b & _SIGN else b | _SIGN  # the IEEE bits, made to sort as the values do
        keys[i] = (np.uint64(~ascending) << _SHIFT) | np.uint64(i)


@njit(cache=True, nogil=True)
def rescored_top(
    scores: np.ndarray,
    slack: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    columns: np.ndarray,
    sample_stride: float,
    out_items: np.ndarray,
    out_scores: np.ndarray,
) -> None:
    """Best ``k = out_items.shape[1]`` items of every row by exact score, found from approximate scores.

    ``scores`` (n, m) float32: ``user_factors @ item_factors.T`` from any float32 product, -inf where an
    item is excluded. ``slack`` (n,) float64: how far below the row's ``k``-th largest finite score a
    candidate may lie (at least twice the largest error of one score: no item of the exact top-k is missed).
    ``columns`` (m,) int64, ascending: the item each column stands for (ties go to the lower).
    ``sample_stride``: the sample takes every ``int(sample_stride * sqrt(m / k))``-th column. Written:
    ``out_items`` (n, k) int32 and ``out_scores`` (n, k) float32 (exact scores), best first; a row with fewer
    than ``k`` items keeps its tail as it was (the caller fills it with -1 / -inf). NaN scores are never
    chosen, nor items whose exact score is not finite.
    """
    n, m = scores.shape
    k = out_items.shape[1]
    if k == 0 or m == 0:
        return
    stride = max(1, int(sample_stride * np.sqrt(m / k)))
    sample = np.empty((m + stride - 1) // stride, dtype=np.float32)
    kept_v = np.empty(m, dtype=np.float32)  # the branch-free scans write every entry, at or before its place
    kept_p = np.empty(m, dtype=np.int64)
    exact = np.empty(m, dtype=np.float32)
    scratch = np.empty(m, dtype=np.float32)
    keys = np.empty(m, dtype=np.uint64)
    user = np.empty(user_factors.shape[1], dtype=np.float64)
    for row in range(n):
        count = 0  # 1. a floor at most the k-th largest finite score: the k-th largest of a sample
        for pos in range(0, m, stride):
            value = scores[row, pos]
            sample[count] = value
            count += value > -np.inf  # finite or +inf; never NaN
        floor = np.float64(kth_largest(sample, count, k)) if count >= k else -np.inf
        kept = 0  # 2. the entries at or above the floor (every finite one when the sample is short)
        for pos in range(m):
            value = scores[row, pos]
            kept_v[kept], kept_p[kept] = value, pos
            kept += (value >= floor) & (value > -np.inf)
        lower = -np.inf
        if kept >= k:  # selected on a copy: kept_v stays aligned with kept_p
            scratch[:kept] = kept_v[:kept]
            lower = np.float64(kth_largest(scratch, kept, k)) - slack[row]
        if lower < floor:  # 3. the window reaches below the floor (rare): keep the row's entries again
            kept = 0
            for pos in range(m):
                value = scores[row, pos]
                kept_v[kept], kept_p[kept] = value, pos
                kept += (value >= lower) & (value > -np.inf)
        candidates = 0  # 4. the candidates: within the window
        for i in range(kept):
            kept_p[candidates] = kept_p[i]
            candidates += kept_v[i] >= lower
        for f in range(len(user)):
            user[f] = np.float64(user_factors[row, f])
        exact_scores(user, item_factors, kept_p, candidates, exact)
        size = 0  # 5. ranked by exact score, ties by the candidate's place, which is the item's
        for i in range(candidates):
            value = exact[i]
            exact[size], kept_p[size] = value, kept_p[i]
            size += value - value == 0  # finite
        descending_keys(exact, size, keys)
        ranked = np.sort(keys[:size])
        for slot in range(min(size, k)):
            i = np.int64(ranked[slot] & _LOW)
            out_items[row, slot] = columns[kept_p[i]]
            out_scores[row, slot] = exact[i]
