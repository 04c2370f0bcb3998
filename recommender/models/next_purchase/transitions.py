"""Transitions of next purchase (``transition_weight > 0``): what customers bought in the order right after
one holding the items of this customer's last order.

``transition_lists`` (fit) keeps each customer's best ``neighbour_items`` such items, scaled to 1 at the
best; ``add_transitions`` (recommend) adds them to the candidates, and scales the items new to the customer
by their ``explore_by_customer`` factor.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.history import OrderHistory
from recommender.models.next_purchase.candidates import RowLists, Triples, gather_rows
from recommender.models.next_purchase.config import NextPurchaseConfig
from recommender.numeric.row_blocks import each_block, row_blocks

TRANSITION_BLOCK = 2048  # customers per block of the transition product


def consecutive_orders(history: OrderHistory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(earlier order, next order) index pairs of the same customer, and each customer's last order (-1: none)."""
    table = history.orders_table()
    perm = np.lexsort((table["order"], table["ordered_at"], table["customer"]))
    order, customer = table["order"][perm].astype(np.int64), table["customer"][perm]
    same = customer[1:] == customer[:-1]
    last = np.full(history.n_customers, -1, dtype=np.int64)
    last[customer] = order  # the latest order of each customer is written last
    return order[:-1][same], order[1:][same], last


def transition_lists(history: OrderHistory, shrinkage: float, keep: int) -> sp.csr_matrix:
    """Per customer, what customers bought in the order after one holding the items of this customer's
    last order: ``sum over i in last of n(i -> j) / (n(i) + shrinkage)``, ``n(i -> j)`` the consecutive
    order pairs with ``i`` in the first and ``j`` in the next, ``n(i)`` the first orders holding ``i``;
    the best ``keep`` items of each customer, scaled to 1 at the best (customers x items CSR, float32)."""
    from recommender.models.next_purchase.kernels import summed_rows_top  # numba: imported where it runs

    n_orders = max(history.n_orders, 1)
    baskets = sp.csr_matrix(
        (np.ones(history.n_lines, dtype=np.float32), (history.order, history.item)), shape=(n_orders, history.n_items)
    )
    baskets.data[:] = 1.0  # an item counts once per order
    earlier, following, last = consecutive_orders(history)
    first = baskets[earlier]
    pairs = (first.T @ baskets[following]).tocsr()
    per_item = np.asarray(first.sum(axis=0)).ravel()
    pairs = (sp.diags(1.0 / (per_item + shrinkage + 1e-12)) @ pairs).tocsr()
    has = last >= 0
    query = (sp.diags(has.astype(np.float32)) @ baskets[np.where(has, last, 0)]).tocsr()
    query.eliminate_zeros()  # customers without an order: no rows to add
    ranked = Ranked.empty(history.n_customers, keep)
    items32 = ranked.items  # the kernel writes int64 columns: a block's own array, copied into the int32 lists
    indptr, indices, data = pairs.indptr.astype(np.int64), pairs.indices.astype(np.int64), pairs.data

    def top_of(lo: int, hi: int) -> None:
        block = query[lo:hi]
        columns = np.empty((hi - lo, keep), dtype=np.int64)
        summed_rows_top(
            block.indptr.astype(np.int64),
            block.indices.astype(np.int64),
            indptr,
            indices,
            data,
            history.n_items,
            columns,
            ranked.scores[lo:hi],
        )
        items32[lo:hi] = columns

    # each customer's last order's transition rows summed and cut to their top ``keep`` in a compiled kernel,
    # a block of customers per call on two threads (the scipy product held ~100M entries at once on Ta-Feng)
    each_block(top_of, row_blocks(history.n_customers, TRANSITION_BLOCK), "transitions")
    found = ranked.items >= 0
    best = np.where(found[:, 0], ranked.scores[:, 0], 1.0)
    rows = np.repeat(np.arange(history.n_customers), found.sum(axis=1))
    scaled = (ranked.scores / best[:, None])[found]
    out = sp.csr_matrix((scaled, (rows, ranked.items[found])), shape=(history.n_customers, history.n_items))
    out.sort_indices()
    return out


def add_transitions(
    cfg: NextPurchaseConfig,
    queries: np.ndarray,
    candidates: Triples,
    n_bought: int,
    lists: RowLists,
    explore_factor: np.ndarray,
    bought: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Triples:
    """Add the transition candidates (``transition_weight`` times the customer's best score so far
    times the list's score), then scale the scores of items new to the customer by their
    ``explore_by_customer`` factor. The first ``n_bought`` candidates (rows into ``queries``, items, scores)
    are bought items, the rest of the given ones (the neighbours' new items) are not. ``lists`` are the
    transition lists (CSR indptr, items, scores), ``bought`` tells whether customers bought items."""
    rows, items, scores = candidates
    tr_indptr, tr_items, tr_scores = lists
    new = np.arange(len(rows)) >= n_bought
    if cfg.transition_weight > 0:
        best = np.zeros(len(queries), dtype=np.float64)
        np.maximum.at(best, rows, scores)
        best[best <= 0] = 1.0  # customers without other candidates: the list's own scale
        t_rows, t_entry = gather_rows(tr_indptr, queries)
        t_items = tr_items[t_entry]
        t_scores = cfg.transition_weight * best[t_rows] * tr_scores[t_entry]
        rows = np.concatenate([rows, t_rows])
        items = np.concatenate([items, t_items])
        scores = np.concatenate([scores, t_scores])
        t_new = ~bought(queries[t_rows], t_items) if len(t_rows) else np.zeros(0, dtype=bool)
        new = np.concatenate([new, t_new])
    if cfg.explore_by_customer > 0:
        scores = np.where(new, scores * explore_factor[queries[rows]], scores)
    return rows, items, scores
