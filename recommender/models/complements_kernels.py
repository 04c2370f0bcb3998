"""Compiled (numba) kernels for complements: follow-up counts per anchor item, scored and cut to a top list,
a block of anchor items per call, no GIL held.

The input is every distinct purchase event (customer, item, time), sorted by customer and time, and for
each event the range ``lo:hi`` of the same customer's events in the window after it. An anchor item's
*anchor events* are its purchases whose window lies inside the history, each with a weight (recency).

- ``followup_top``: for each anchor item A, a sparse accumulator over the events in its anchor events'
  windows gives, per candidate B, the weighted and the plain number of A's anchor events followed by B
  (each event counts B once, however often B was bought in its window; B = A never counts). Each
  candidate, and each item of a shared prior list (the items most often bought after any purchase), is
  scored ``(w_AB + s * base_B) / (w_A + s) * base_B ** -exponent`` in float64 and the best ``L`` kept by
  (score descending, item ascending), best first, with their plain counts.
- ``reverse_counts``: for given (anchor, candidate) pairs, the plain number of the candidate's anchor
  events followed by the anchor: how often the pair was seen the other way round.

Both walk the events in the same fixed order on every machine (no BLAS, no reassociation), so the scores
and therefore the lists do not depend on the CPU. Cost: one pass over the (anchor event, later event in
its window) pairs per call; 135M such pairs on the Complete Journey with a 30-day window.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from recommender.numeric.heap import drain_best_first, offer, worse


@njit(cache=True, nogil=True)
def _accumulate(
    event_item: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    anchor_indptr: np.ndarray,
    anchor_event: np.ndarray,
    anchor_weight: np.ndarray,
    row: int,
    acc_w: np.ndarray,
    acc_n: np.ndarray,
    stamp: np.ndarray,
    touched: np.ndarray,
    n_touched: int,
) -> int:
    """Add anchor item ``row``'s anchor events to the accumulators (each event counts an item once; the
    event's own item never counts); returns the new number of touched items."""
    for p in range(anchor_indptr[row], anchor_indptr[row + 1]):
        event = anchor_event[p]
        own = event_item[event]
        weight = anchor_weight[p]
        for j in range(lo[event], hi[event]):
            col = event_item[j]
            if col == own or stamp[col] == p:
                continue
            if acc_n[col] == 0:
                touched[n_touched] = col
                n_touched += 1
            stamp[col] = p
            acc_n[col] += 1
            acc_w[col] += weight
    return n_touched


@njit(cache=True, nogil=True)
def followup_top(
    event_item: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    anchor_indptr: np.ndarray,
    anchor_event: np.ndarray,
    anchor_weight: np.ndarray,
    item_weight: np.ndarray,
    base: np.ndarray,
    prior: np.ndarray,
    group_indptr: np.ndarray,
    group_items: np.ndarray,
    n_categories: int,
    blocked_category: np.ndarray,
    category: np.ndarray,
    shrinkage: float,
    category_shrinkage: float,
    exponent: float,
    min_support: int,
    with_prior: bool,
    group_lo: int,
    group_hi: int,
    out_columns: np.ndarray,
    out_scores: np.ndarray,
    out_counts: np.ndarray,
    out_sizes: np.ndarray,
) -> None:
    """The best ``L = out_columns.shape[1]`` candidates of every anchor item of the groups ``group_lo:group_hi``,
    written to the outputs' rows in the order of ``group_items[group_indptr[group_lo] : group_indptr[group_hi]]``
    (the block's own rows: a block's outputs hold its anchor items only).

    Groups (``group_indptr`` / ``group_items``) are the catalog's categories, then one group of the items
    without a category (index ``n_categories``). Within a category g, a candidate's prior is g's own
    follow-up rate ``(W_gB + category_shrinkage * base_B) / (W_g + category_shrinkage)`` (summed over g's
    anchor items), and g's ``L`` best by it are candidates of every anchor in g; without a category the
    prior is ``base_B``. The score is ``(w_AB + shrinkage * prior_B) / (w_A + shrinkage) * base_B **
    -exponent``; ``prior`` lists the items offered to every row even without evidence (``with_prior``). A
    candidate in the anchor's own category is skipped when ``blocked_category[category[A]]``, one with fewer
    than ``min_support`` plain counts is kept only ``with_prior``.
    """
    n_items = len(base)
    width = out_columns.shape[1]
    acc_w = np.zeros(n_items, dtype=np.float64)
    acc_n = np.zeros(n_items, dtype=np.int64)
    stamp = np.full(n_items, -1, dtype=np.int64)
    touched = np.empty(n_items, dtype=np.int64)
    cat_w = np.zeros(n_items, dtype=np.float64)
    cat_n = np.zeros(n_items, dtype=np.int64)
    cat_stamp = np.full(n_items, -1, dtype=np.int64)
    cat_touched = np.empty(n_items, dtype=np.int64)
    offered = np.full(n_items, -1, dtype=np.int64)
    heap_v = np.empty(width, dtype=np.float32)
    heap_c = np.empty(width, dtype=np.int64)
    cat_top = np.empty(width, dtype=np.int64)
    cat_top_v = np.empty(width, dtype=np.float32)
    for group in range(group_lo, group_hi):
        members = group_items[group_indptr[group] : group_indptr[group + 1]]
        first_slot = group_indptr[group] - group_indptr[group_lo]
        has_parent = group < n_categories
        n_cat_touched = 0
        group_weight = 0.0
        n_cat_top = 0
        if has_parent:
            for a in members:
                group_weight += item_weight[a]
                n_cat_touched = _accumulate(event_item, lo, hi, anchor_indptr, anchor_event, anchor_weight, a,
                                            cat_w, cat_n, cat_stamp, cat_touched, n_cat_touched)  # fmt: skip
            for t in range(n_cat_touched):
                col = cat_touched[t]
                value = np.float32((cat_w[col] + category_shrinkage * base[col]) / (group_weight + category_shrinkage))
                if n_cat_top < width or worse(heap_v[0], heap_c[0], value, col):
                    n_cat_top = offer(heap_v, heap_c, n_cat_top, value, col)
            drain_best_first(heap_v, heap_c, n_cat_top, cat_top_v, cat_top)
        group_denominator = group_weight + category_shrinkage
        for position, row in enumerate(members):
            slot = first_slot + position
            n_touched = _accumulate(event_item, lo, hi, anchor_indptr, anchor_event, anchor_weight, row,
                                    acc_w, acc_n, stamp, touched, 0)  # fmt: skip
            anchor_category = category[row]
            skip_same = anchor_category >= 0 and blocked_category[anchor_category]
            denominator = item_weight[row] + shrinkage
            size = 0
            for source in range(3):  # the anchor's own follow-ups, its category's best, the shared prior list
                count = n_touched if source == 0 else (n_cat_top if source == 1 else len(prior))
                for t in range(count):
                    col = touched[t] if source == 0 else (cat_top[t] if source == 1 else prior[t])
                    if offered[col] == row or col == row:
                        continue
                    offered[col] = row
                    if source > 0 and not with_prior:
                        continue
                    if acc_n[col] < min_support and not with_prior:
                        continue
                    if skip_same and category[col] == anchor_category:
                        continue
                    if has_parent and group_denominator > 0:
                        parent = (cat_w[col] + category_shrinkage * base[col]) / group_denominator
                    else:
                        parent = base[col]
                    if denominator <= 0:
                        continue
                    lift = base[col] ** -exponent if base[col] > 0 else 1.0
                    value = np.float32((acc_w[col] + shrinkage * parent) / denominator * lift)
                    if value <= 0:
                        continue
                    if size < width or worse(heap_v[0], heap_c[0], value, col):
                        size = offer(heap_v, heap_c, size, value, col)
            out_columns[slot, :] = -1
            out_scores[slot, :] = 0.0
            out_counts[slot, :] = 0
            drain_best_first(heap_v, heap_c, size, out_scores[slot], out_columns[slot])
            for rank in range(size):
                out_counts[slot, rank] = acc_n[out_columns[slot, rank]]
            out_sizes[slot] = size
            for t in range(n_touched):
                col = touched[t]
                acc_w[col] = 0.0
                acc_n[col] = 0
        for t in range(n_cat_touched):
            col = cat_touched[t]
            cat_w[col] = 0.0
            cat_n[col] = 0


@njit(cache=True, nogil=True)
def reverse_counts(
    event_item: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    anchor_indptr: np.ndarray,
    anchor_event: np.ndarray,
    pair_indptr: np.ndarray,
    pair_target: np.ndarray,
    row_lo: int,
    row_hi: int,
    out: np.ndarray,
) -> None:
    """For the rows (candidate items) ``row_lo:row_hi``: ``out[q]`` = how many of the row's anchor events were
    followed by ``pair_target[q]``, for the row's pairs ``pair_indptr[row] : pair_indptr[row + 1]`` (CSR by
    row; ``out[q - pair_indptr[row_lo]]``: the block's own pairs only, ``out`` as long as they are)."""
    n_items = len(anchor_indptr) - 1
    slot_of = np.full(n_items, -1, dtype=np.int64)
    stamp = np.full(n_items, -1, dtype=np.int64)
    for row in range(row_lo, row_hi):
        start, stop = pair_indptr[row], pair_indptr[row + 1]
        if start == stop:
            continue
        for q in range(start, stop):
            slot_of[pair_target[q]] = q
        for p in range(anchor_indptr[row], anchor_indptr[row + 1]):
            event = anchor_event[p]
            for j in range(lo[event], hi[event]):
                col = event_item[j]
                q = slot_of[col]
                if q >= 0 and stamp[col] != p:
                    stamp[col] = p
                    out[q - pair_indptr[row_lo]] += 1
        for q in range(start, stop):
            slot_of[pair_target[q]] = -1


@njit(cache=True, nogil=True)
def followed_weight(
    event_item: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    anchor_event: np.ndarray,
    anchor_weight: np.ndarray,
    n_items: int,
) -> np.ndarray:
    """Per item B: the summed weight of the anchor events followed by B (each event counts B once; an
    event's own item never counts)."""
    out = np.zeros(n_items, dtype=np.float64)
    stamp = np.full(n_items, -1, dtype=np.int64)
    for p in range(len(anchor_event)):
        event = anchor_event[p]
        own = event_item[event]
        for j in range(lo[event], hi[event]):
            col = event_item[j]
            if col != own and stamp[col] != p:
                stamp[col] = p
                out[col] += anchor_weight[p]
    return out


@njit(cache=True, nogil=True)
def followed_by_other(event_item: np.ndarray, lo: np.ndarray, hi: np.ndarray, anchor_event: np.ndarray) -> np.ndarray:
    """Per anchor event: was anything other than its own item bought in its window?"""
    out = np.zeros(len(anchor_event), dtype=np.bool_)
    for p in range(len(anchor_event)):
        event = anchor_event[p]
        own = event_item[event]
        for j in range(lo[event], hi[event]):
            if event_item[j] != own:
                out[p] = True
                break
    return out
