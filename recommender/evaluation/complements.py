"""Complements evaluation: after a customer buys an anchor item at time t, do they buy one of the
k items offered for that anchor within (t, t + window]?

``complement_events`` builds the test events from a (test-period) history, ``complement_metrics``
scores a ``Ranked`` list per item against them, and two baselines fitted on a training history give
lists to compare with: ``popularity_in_window`` (one list for every anchor) and
``symmetric_cooccurrence`` (items bought near each other, either direction).

Choices (documented because numbers depend on them):
- an anchor is a distinct (customer, item, time) purchase; two lines of one item in one order are one anchor;
- the window is only evaluated when fully observed: ``t >= start`` and ``t + window <= history end``;
- follow-ups are the items bought in (t, t + window], the anchor item excluded (buying it again is a
  repeat, not a complement); items of the same order (time t) are not follow-ups (that is the cart surface);
- anchors with no follow-up item are dropped (nothing to hit), so HitRate@k is "among anchors followed
  by another purchase within the window".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.distinct import customer_time_key, distinct_events, unique_counts, unique_values
from recommender.evaluation._common import (
    binary_csr,
    expand_ranges,
    fill_rows,
    has_repeated_items,
    mean_or_nan,
    pattern_member,
    window_seconds,
)
from recommender.history import OrderHistory
from recommender.numeric.topk import topk_dense, topk_sparse

_PAIR_BUDGET = 2_000_000  # event pairs expanded at once in symmetric_cooccurrence (a block of row items)


@dataclass(frozen=True)
class ComplementEvents:
    """Anchors (parallel arrays ``customers``, ``anchor_items``, ``at``) and ``followups``: binary CSR
    (n_anchors x n_items) of what each anchor's customer bought in (at, at + window_s], anchor item excluded."""

    customers: np.ndarray  # int32
    anchor_items: np.ndarray  # int32
    at: np.ndarray  # int64
    followups: sp.csr_matrix
    window_s: int

    @property
    def n_anchors(self) -> int:
        return len(self.anchor_items)


def complement_events(history: OrderHistory, start: int, window_days: float) -> ComplementEvents:
    """Every purchase at ``t >= start`` with ``t + window <= history.end_time`` that was followed, within
    (t, t + window], by a purchase of another item by the same customer; see the module notes."""
    window = window_seconds(window_days)
    c, i, t = distinct_events(history)
    anchor = np.flatnonzero((t >= start) & (t + window <= history.end_time))
    span = history.end_time - history.start_time + window
    key = customer_time_key(c, t, history.start_time, span)
    lo = np.searchsorted(key, key[anchor], side="right")
    hi = np.searchsorted(key, key[anchor] + window, side="right")
    owner, line = expand_ranges(lo, hi)
    other = i[line] != i[anchor[owner]]
    followups = sp.csr_matrix(
        (np.ones(int(other.sum()), dtype=np.float32), (owner[other], i[line[other]])),
        shape=(len(anchor), history.n_items),
    )
    followups = binary_csr(followups)
    kept = np.diff(followups.indptr) > 0
    a = anchor[kept]
    return ComplementEvents(
        customers=c[a].astype(np.int32),
        anchor_items=i[a].astype(np.int32),
        at=t[a],
        followups=followups[kept],
        window_s=window,
    )


def complement_hits(
    anchor_items: np.ndarray, followups: sp.spmatrix | sp.sparray, ranked_for_items: Ranked, k: int
) -> np.ndarray:
    """Per anchor, how many of the anchor item's top-k were bought in its window (int64; see
    ``complement_metrics``). Paired comparisons of two lists (``training.self_tune``) need the values."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    anchors = np.asarray(anchor_items, dtype=np.int64).ravel()
    f = binary_csr(followups)
    if f.shape[0] != len(anchors):
        raise ValueError(f"followups has {f.shape[0]} rows for {len(anchors)} anchors")
    n_lists = ranked_for_items.items.shape[0]
    if len(anchors) and (anchors.min() < 0 or anchors.max() >= n_lists):
        raise ValueError(f"anchor items must be indices into the {n_lists} ranked lists")
    offered = ranked_for_items.items[anchors, :k]
    if has_repeated_items(offered):
        raise ValueError("a ranked list repeats an item")
    return pattern_member(np.arange(len(anchors))[:, None], offered, f).sum(axis=1).astype(np.int64)


def complement_metrics(
    anchor_items: np.ndarray, followups: sp.spmatrix | sp.sparray, ranked_for_items: Ranked, k: int
) -> dict[str, float]:
    """``hit_rate_at_k``: share of anchors where any of the anchor item's top-k was bought in the window;
    ``precision_at_k``: hits / k, averaged over anchors; ``n_anchors``. Row ``a`` of ``ranked_for_items``
    is the list offered for item ``a`` (padding -1 never hits)."""
    hits = complement_hits(anchor_items, followups, ranked_for_items, k)
    anchors = np.asarray(anchor_items).ravel()
    return {
        "n_anchors": float(len(anchors)),
        f"hit_rate_at_{k}": mean_or_nan((hits > 0).astype(np.float64)),
        f"precision_at_{k}": mean_or_nan(hits / k),
    }


def popularity_in_window(train: OrderHistory, window_days: float, k: int) -> Ranked:
    """One list for every anchor item (row = item, n_items x k), the anchor itself left out.

    Items are ranked by how many of their purchases (distinct customer, item, time) came within the
    window after a purchase of another item by the same customer, i.e. how often they are a follow-up.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    window = window_seconds(window_days)
    c, i, t = distinct_events(train)
    span = train.end_time - train.start_time + window
    key = customer_time_key(c, t, train.start_time, span)
    n_before = np.searchsorted(key, key, side="left") - np.searchsorted(key, key - window, side="left")
    # the same item bought earlier in the window does not count: subtract those events
    pair, pair_order = _pair_time_key(c, i, t, train.start_time, span)
    n_same_before = np.searchsorted(pair, pair, side="left") - np.searchsorted(pair, pair - window, side="left")
    is_followup = np.empty(len(c), dtype=bool)
    is_followup[pair_order] = n_before[pair_order] > n_same_before
    counts = np.bincount(i[is_followup], minlength=train.n_items).astype(np.float64)
    scores = np.where(counts > 0, counts, -np.inf)[None, :]
    top = topk_dense(scores, min(k + 1, max(train.n_items, 1)))
    out = Ranked.empty(train.n_items, k)
    valid = top.items[0] >= 0
    candidates, candidate_scores = top.items[0][valid], top.scores[0][valid]
    is_anchor = candidates[None, :] == np.arange(train.n_items)[:, None]
    fill_rows(out.items, out.scores, np.zeros(train.n_items, dtype=np.int64), candidates, candidate_scores, is_anchor)
    return out


def _pair_time_key(
    c: np.ndarray, i: np.ndarray, t: np.ndarray, origin: int, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted key of (customer-item pair, time) for the events, and the event behind each sorted key."""
    order = np.lexsort((t, i, c))
    pair_change = np.ones(len(order), dtype=bool)
    pair_change[1:] = (c[order][1:] != c[order][:-1]) | (i[order][1:] != i[order][:-1])
    pair_id = np.cumsum(pair_change) - 1
    return customer_time_key(pair_id, t[order], origin, span), order


def symmetric_cooccurrence(train: OrderHistory, window_days: float, k: int, rows: np.ndarray | None = None) -> Ranked:
    """Per item (n_items x k): the items most often bought by the same customer within the window of it,
    before or after (same order included), counted as distinct customers; the item itself left out.

    ``rows``: the items whose lists are wanted (the others' rows stay empty); None: every item.

    The counts go a block of row items at a time: each block's event pairs expanded, sorted by one
    (row item, other item, customer) key and counted, about ``_PAIR_BUDGET`` pairs a block. Memory stays
    one block's pairs and the lists, never the catalog-squared counts (50M pairs and over 1 GB on the
    Complete Journey)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    out = Ranked.empty(train.n_items, k)
    window = window_seconds(window_days)
    c, i, t = distinct_events(train)
    span = train.end_time - train.start_time + window
    key = customer_time_key(c, t, train.start_time, span)
    lo = np.searchsorted(key, key - window, side="left")
    hi = np.searchsorted(key, key + window, side="right")
    wanted = np.ones(train.n_items, dtype=bool) if rows is None else np.isin(np.arange(train.n_items), rows)
    events = np.flatnonzero(wanted[i])
    events = events[np.argsort(i[events], kind="stable")]  # by row item
    n_items, n_customers = np.int64(train.n_items), np.int64(max(train.n_customers, 1))
    most_rows = max(1, int(np.iinfo(np.int64).max // (n_items * n_customers)))  # the key fits in an int64
    for block in _item_blocks(i[events], hi[events] - lo[events], most_rows):
        ev = events[block]
        first = int(i[ev[0]])
        owner, other = expand_ranges(lo[ev], hi[ev])
        a, b, who = i[ev[owner]], i[other], c[ev[owner]]
        differ = a != b
        # one key per (row item, other item, customer): distinct, then counted per item pair
        keys = unique_values(((a[differ] - first) * n_items + b[differ]) * n_customers + who[differ])
        pairs, counts = unique_counts(keys // n_customers)
        n_rows = int(i[ev[-1]]) - first + 1
        counted = sp.csr_matrix(
            (counts.astype(np.float32), (pairs // n_items, pairs % n_items)), shape=(n_rows, train.n_items)
        )
        ranked = topk_sparse(counted, k)
        out.items[first : first + n_rows], out.scores[first : first + n_rows] = ranked.items, ranked.scores
    return out


def _item_blocks(items: np.ndarray, n_pairs: np.ndarray, most_rows: int) -> list[slice]:
    """Slices of the events (sorted by item), cut between items, each expanding to at most ``_PAIR_BUDGET``
    pairs (an item with more alone) and spanning fewer than ``most_rows`` item indices."""
    if len(items) == 0:
        return []
    first = np.flatnonzero(np.r_[True, items[1:] != items[:-1]])
    per_item = np.add.reduceat(n_pairs, first)
    through = np.cumsum(per_item)  # pairs of the items up to each, itself included
    blocks, start = [], 0
    while start < len(first):
        stop = int(np.searchsorted(through, through[start] - per_item[start] + _PAIR_BUDGET, side="right"))
        stop = min(stop, int(np.searchsorted(items[first], items[first[start]] + most_rows, side="left")))
        stop = max(stop, start + 1)
        blocks.append(slice(int(first[start]), int(first[stop]) if stop < len(first) else len(items)))
        start = stop
    return blocks
