"""Baselines every model is compared against, computed directly from a training history.

Next basket (Reality Check names): ``g_topfreq`` (globally most frequent items), ``p_topfreq`` (the
customer's own most frequent items), ``gp_topfreq`` (own, then filled with global). For-you:
``most_pop`` (global popularity without what the customer already bought).

Each returns a ``Ranked`` with one row per requested customer index, best first, padded with -1.
Frequencies count orders (an item twice in one order counts once). Ties go to the lower item index,
except in ``p_topfreq`` where the item bought most recently comes first. A customer index outside the
history gets no personal part (``p_topfreq``: an empty row; the others: the global list).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.distinct import unique_inverse, unique_values
from recommender.evaluation._common import (
    binary_csr,
    expand_ranges,
    fill_rows,
    pattern_member,
)
from recommender.history import OrderHistory
from recommender.numeric.topk import topk_dense

_MEMBERSHIP_BUDGET = 4_000_000  # candidate cells per batch in most_pop


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _queries(customers: np.ndarray) -> np.ndarray:
    return np.asarray(customers, dtype=np.int64).ravel()


def order_counts(train: OrderHistory) -> np.ndarray:
    """Number of orders containing each item (float64, per item)."""
    key = unique_values(train.order.astype(np.int64) * np.int64(train.n_items) + train.item)
    return np.bincount(key % train.n_items, minlength=train.n_items).astype(np.float64)


def _global_ranking(counts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``length`` best items by count (items with count 0 left out): items int32, scores float32."""
    scores = np.where(counts > 0, counts, -np.inf)[None, :]
    ranked = topk_dense(scores, max(min(length, len(counts)), 1))
    valid = ranked.items[0] >= 0
    return ranked.items[0][valid], ranked.scores[0][valid]


def _customer_pairs(train: OrderHistory, queries: np.ndarray) -> dict[str, np.ndarray]:
    """Distinct (customer, item) pairs of the ``queries`` customers, sorted by customer: order count and last
    order index of each (only their lines are read: an evaluation scores a sample of the customers)."""
    n_items = np.int64(train.n_items)
    asked = np.zeros(train.n_customers, dtype=bool)
    asked[queries[(queries >= 0) & (queries < train.n_customers)]] = True  # customers new to ``train``: none
    lines = asked[train.customer]
    order_key = unique_values(train.order[lines].astype(np.int64) * n_items + train.item[lines])
    order, item = order_key // n_items, order_key % n_items
    customer = np.zeros(train.n_orders, dtype=np.int64)
    customer[train.order] = train.customer
    pair_key, pair_of = unique_inverse(customer[order] * n_items + item)
    last = np.full(len(pair_key), -1, dtype=np.int64)
    np.maximum.at(last, pair_of, order)
    return {
        "customer": pair_key // n_items,
        "item": pair_key % n_items,
        "count": np.bincount(pair_of, minlength=len(pair_key)).astype(np.float64),
        "last": last,
    }


def _rows_of(pairs: dict[str, np.ndarray], queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query row, pair position) for every pair of every queried customer."""
    lo = np.searchsorted(pairs["customer"], queries, side="left")
    hi = np.searchsorted(pairs["customer"], queries, side="right")
    return expand_ranges(lo, hi)


def _same_list(popularity: np.ndarray, n: int, k: int) -> Ranked:
    """The same global top-``k`` list (by ``popularity``, zeros left out) for ``n`` rows."""
    items, scores = _global_ranking(popularity, k)
    out = Ranked.empty(n, k)
    out.items[:, : len(items)] = items
    out.scores[:, : len(items)] = scores
    return out


def g_topfreq(train: OrderHistory, customers: np.ndarray, k: int, counts: np.ndarray | None = None) -> Ranked:
    """G-TopFreq: the globally most frequent items (by orders), the same list for every customer (``counts``:
    ``order_counts``, when the caller has them)."""
    _check_k(k)
    return _same_list(order_counts(train) if counts is None else counts, len(_queries(customers)), k)


def p_topfreq(train: OrderHistory, customers: np.ndarray, k: int) -> Ranked:
    """P-TopFreq: the customer's own most frequently bought items (ties: most recent first); rows may be short."""
    _check_k(k)
    q = _queries(customers)
    pairs = _customer_pairs(train, q)
    row, pos = _rows_of(pairs, q)
    count, last = pairs["count"][pos], pairs["last"][pos]
    order = np.lexsort((pairs["item"][pos], -last, -count, row))
    row_sorted = row[order]
    starts = np.searchsorted(row_sorted, np.arange(len(q)))
    rank = np.arange(len(order)) - starts[row_sorted]
    keep = rank < k
    out = Ranked.empty(len(q), k)
    out.items[row_sorted[keep], rank[keep]] = pairs["item"][pos][order][keep]
    out.scores[row_sorted[keep], rank[keep]] = count[order][keep]
    return out


def gp_topfreq(
    train: OrderHistory, customers: np.ndarray, k: int, own: Ranked | None = None, counts: np.ndarray | None = None
) -> Ranked:
    """GP-TopFreq: own most frequent items, then the global most frequent ones not already listed.

    Own items keep their order count as score (>= 1); filled global items get count / (max count + 1),
    below 1, so scores stay in rank order. ``own`` (P-TopFreq's lists for these customers and ``k``, filled
    in place) and ``counts`` (``order_counts``) save computing them again when the caller has them.
    """
    own = p_topfreq(train, customers, k) if own is None else own
    g_items, g_scores = _global_ranking(order_counts(train) if counts is None else counts, k)
    if len(g_items) == 0:
        return own
    rows, cols = np.nonzero(own.items >= 0)
    own_pattern = binary_csr(
        sp.csr_matrix((np.ones(len(rows)), (rows, own.items[rows, cols])), shape=(len(own.items), train.n_items))
    )
    listed = pattern_member(np.arange(len(own.items))[:, None], g_items[None, :], own_pattern)
    start = (own.items >= 0).sum(axis=1)
    fill_scores = (g_scores / (g_scores.max() + 1.0)).astype(np.float32)
    fill_rows(own.items, own.scores, start, g_items, fill_scores, listed)
    return own


def most_pop(train: OrderHistory, customers: np.ndarray, k: int, exclude_bought: bool = True) -> Ranked:
    """MostPop: items by number of distinct customers who bought them, minus each customer's own purchases."""
    _check_k(k)
    q = _queries(customers)
    bought = train.customer_items("binary")
    popularity = np.asarray(bought.sum(axis=0)).ravel().astype(np.float64)
    if not exclude_bought:
        return _same_list(popularity, len(q), k)
    n_bought = np.zeros(len(q), dtype=np.int64)
    known = (q >= 0) & (q < train.n_customers)
    n_bought[known] = np.diff(bought.indptr)[q[known]]
    out = Ranked.empty(len(q), k)
    items, scores = _global_ranking(popularity, k + int(n_bought.max(initial=0)))
    if len(items) == 0:
        return out
    batch = max(1, _MEMBERSHIP_BUDGET // len(items))
    for lo in range(0, len(q), batch):
        rows = slice(lo, lo + batch)
        excluded = np.zeros((len(q[rows]), len(items)), dtype=bool)
        sub = known[rows]
        excluded[sub] = bought[q[rows][sub]][:, items].toarray() > 0
        fill_rows(out.items[rows], out.scores[rows], np.zeros(len(q[rows]), dtype=np.int64), items, scores, excluded)
    return out
