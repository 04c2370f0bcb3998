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
from itertools import pairwise

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.distinct import customer_time_key, distinct_events, unique_values
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
from recommender.numeric.sparse_sum import sum_sparse
from recommender.numeric.topk import topk_dense, topk_sparse

_PAIR_BUDGET = 4_000_000  # event pairs expanded at once in symmetric_cooccurrence


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


def symmetric_cooccurrence(train: OrderHistory, window_days: float, k: int) -> Ranked:
    """Per item (n_items x k): the items most often bought by the same customer within the window of it,
    before or after (same order included), counted as distinct customers; the item itself left out."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    window = window_seconds(window_days)
    c, i, t = distinct_events(train)
    span = train.end_time - train.start_time + window
    key = customer_time_key(c, t, train.start_time, span)
    lo = np.arange(len(key)) + 1
    hi = np.searchsorted(key, key + window, side="right")
    batches = (_cooccurrence_counts(c, i, lo[ev], hi[ev], ev, train.n_items) for ev in _customer_batches(c, hi - lo))
    upper = sum_sparse(batches, (train.n_items, train.n_items), np.float32)  # pairs (a < b): mirrored once here
    return topk_sparse((upper + upper.T).tocsr(), k)


def _customer_batches(c: np.ndarray, n_pairs: np.ndarray) -> list[np.ndarray]:
    """Event index ranges, cut at customer boundaries, each expanding to about ``_PAIR_BUDGET`` pairs or fewer."""
    if len(c) == 0:
        return []
    first = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    per_customer = np.add.reduceat(n_pairs, first)
    batch_of_customer = np.cumsum(per_customer) // _PAIR_BUDGET
    cut = first[np.flatnonzero(np.r_[True, batch_of_customer[1:] != batch_of_customer[:-1]])]
    bounds = np.r_[cut, len(c)]
    return [np.arange(a, b) for a, b in pairwise(bounds)]


def _cooccurrence_counts(
    c: np.ndarray, i: np.ndarray, lo: np.ndarray, hi: np.ndarray, events: np.ndarray, n_items: int
) -> sp.csr_matrix:
    """Distinct-customer counts of unordered item pairs within the window for these events, stored once at
    (min, max): the caller mirrors the sum."""
    owner, other = expand_ranges(lo, hi)
    a, b, who = i[events[owner]], i[other], c[events[owner]]
    differ = a != b
    # one key per (customer, unordered item pair): count each customer once per pair, mirror at the end
    first, second = np.minimum(a[differ], b[differ]), np.maximum(a[differ], b[differ])
    n = np.int64(n_items)
    pair = _distinct_per_customer(who[differ], first * n + second, n * n)
    m = sp.csr_matrix((np.ones(len(pair), dtype=np.float32), (pair // n, pair % n)), shape=(n_items, n_items))
    m.sum_duplicates()
    return m


def _distinct_per_customer(who: np.ndarray, pair: np.ndarray, n_pairs: int) -> np.ndarray:
    """The ``pair`` value of every distinct (who, pair) combination (pair values lie in 0..n_pairs-1)."""
    if len(who) == 0:
        return pair
    who_local = who - who.min()
    if int(who_local.max()) + 1 < np.iinfo(np.int64).max // max(int(n_pairs), 1):
        return unique_values(who_local * np.int64(n_pairs) + pair) % np.int64(n_pairs)
    # too many values to pack both in one int64: sort the (who, pair) columns instead
    return np.unique(np.stack([who_local, pair]), axis=1)[1]
