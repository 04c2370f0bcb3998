"""TIFU-KNN building blocks (Hu et al., SIGIR 2020), vectorized: time-decayed personal item-frequency
vectors, nearest-neighbour customers on those vectors, and the neighbours' mean vector.

- ``personal_vectors``: per customer, the orders (oldest first) are cut into ``groups`` consecutive groups
  of near-equal size (the later groups one order longer when it does not divide; a customer with fewer
  orders than ``groups`` has one group per order). An order ``ago`` orders before the customer's last
  one, in group ``g`` (0 = oldest) of a customer with ``G`` groups, weighs
  ``within_decay ** ago * group_decay ** (groups - 1 - g) / size(g) / G``; the vector is the sum of the
  weights of the orders holding each item (an item counts once per order). Same formula as the
  authors' code (which counts ``ago`` over the whole history, not within the group).
- ``nearest_neighbours``: for every customer, the ``k`` most similar customers by cosine similarity (or
  negative Euclidean distance, as the authors' code does) of their vectors, the customer itself
  included, through the reference rows' item posting lists; equally similar customers are taken by the
  lower index.
- ``neighbour_mean``: the mean of the neighbours' vectors, kept as each customer's best ``keep`` items.

No Python loop per customer: the vectors are sparse matrix algebra, the two searches compiled kernels
(``recommender.models.next_purchase.kernels``, numba) run on blocks of rows in two threads.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from recommender.history import OrderHistory
from recommender.numeric.row_blocks import each_block, row_blocks

Similarity = Literal["cosine", "euclidean"]
_SEARCH_ROWS = 1_000  # query rows per compiled-kernel call (a block of the work for a thread)


def order_positions(history: OrderHistory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per order index: (customer, position among the customer's orders oldest first, the customer's order count).

    Orders absent from ``history`` (gaps after ``select``) get customer -1, position 0, count 0.
    """
    table = history.orders_table()
    n_orders = history.n_orders
    customer = np.full(n_orders, -1, dtype=np.int64)
    position = np.zeros(n_orders, dtype=np.int64)
    count = np.zeros(n_orders, dtype=np.int64)
    if len(table["order"]) == 0:
        return customer, position, count
    perm = np.lexsort((table["order"], table["ordered_at"], table["customer"]))
    cust = table["customer"][perm].astype(np.int64)
    first = np.searchsorted(cust, cust, side="left")
    per_customer = np.bincount(cust, minlength=history.n_customers)
    orders = table["order"][perm]
    customer[orders] = cust
    position[orders] = np.arange(len(perm)) - first
    count[orders] = per_customer[cust]
    return customer, position, count


def order_weights(
    position: np.ndarray, count: np.ndarray, groups: int, within_decay: float, group_decay: float
) -> np.ndarray:
    """TIFU weight of each order from its position (0 = oldest) among ``count`` orders of its customer."""
    position = np.asarray(position, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    n = np.maximum(count, 1)
    few = n < groups
    base = np.maximum(n // groups, 1)
    extra = np.where(few, 0, n - groups * base)
    boundary = (groups - extra) * base
    long_group = position >= boundary
    group = np.where(long_group, (groups - extra) + (position - boundary) // (base + 1), position // base)
    size = np.where(long_group, base + 1, base)
    group = np.where(few, position, group)
    size = np.where(few, 1, size)
    n_groups = np.where(few, n, groups)
    ago = n - 1 - position
    weight = within_decay ** ago.astype(np.float64) * group_decay ** (groups - 1 - group).astype(np.float64)
    return np.where(count > 0, weight / size / n_groups, 0.0)


def personal_vectors(
    history: OrderHistory, groups: int = 7, within_decay: float = 0.9, group_decay: float = 0.7
) -> sp.csr_matrix:
    """Customers x items CSR (float32) of TIFU personal vectors (see the module docstring)."""
    if groups < 1:
        raise ValueError(f"groups must be at least 1, got {groups}")
    _, position, count = order_positions(history)
    weight = order_weights(position, count, groups, within_decay, group_decay)
    key = history.order.astype(np.int64) * np.int64(max(history.n_items, 1)) + history.item
    _, first = np.unique(key, return_index=True)  # an item counts once per order
    m = sp.csr_matrix(
        (weight[history.order[first]].astype(np.float32), (history.customer[first], history.item[first])),
        shape=(history.n_customers, history.n_items),
        dtype=np.float32,
    )
    m.sum_duplicates()
    return m


def nearest_neighbours(
    vectors: sp.csr_matrix,
    k: int,
    similarity: Similarity = "cosine",
    reference: np.ndarray | None = None,
    queries: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of every row, or of the ``queries`` rows only (one result row per query, in
    their order): (indices int32 (n, k), similarities float32). A row's neighbours do not depend on which
    other rows are asked for.

    Neighbours are searched among the ``reference`` rows (all rows when None); a row that is itself a
    reference row is its own nearest neighbour. A bounded reference set keeps the cost at n x |reference|
    instead of n x n for large shops. Rows with an empty vector get arbitrary neighbours with similarity 0
    (cosine) - callers weigh them by similarity or ignore them. ``k`` is capped at the reference count.
    """
    from recommender.models.next_purchase.kernels import neighbour_search  # numba: imported where it runs

    v = sp.csr_matrix(vectors, dtype=np.float32)
    n = v.shape[0]
    ref = np.arange(n) if reference is None else np.asarray(reference, dtype=np.int64)
    m = len(ref)
    k = max(1, min(k, m))
    norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel()).astype(np.float32)
    if similarity == "cosine":
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        v = sp.csr_matrix(sp.diags(scale) @ v)
    squared_norms = norms**2
    # references are visited from the smallest norm up: with Euclidean similarity the near ones then tend
    # to come first, so fewer candidates displace a kept one (a third less work at 2M lines; same result)
    visit = np.argsort(squared_norms[ref], kind="stable") if similarity == "euclidean" else np.arange(m)
    visited = ref[visit]
    ref_items = v[visited].T.tocsr()  # item -> the visiting positions holding it: posting lists
    ref_pos = np.full(n, -1, dtype=np.int64)  # customer -> its visiting position, -1 outside the references
    ref_pos[visited] = np.arange(m)
    asked = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64).ravel()
    indices = np.zeros((len(asked), k), dtype=np.int32)
    sims = np.zeros((len(asked), k), dtype=np.float32)
    squared_ref_norms = squared_norms[visited]
    index = np.int64

    def search(lo: int, hi: int) -> None:
        which = asked[lo:hi]
        part = v[which]
        columns = np.empty((hi - lo, k), dtype=np.int64)
        best = np.empty((hi - lo, k), dtype=np.float32)
        neighbour_search(
            part.indptr.astype(index, copy=False),
            part.indices.astype(np.int32, copy=False),
            part.data,
            squared_norms[which],
            ref_pos[which],
            ref_items.indptr.astype(index, copy=False),
            ref_items.indices.astype(np.int32, copy=False),
            ref_items.data,
            squared_ref_norms,
            visit,
            similarity == "euclidean",
            columns,
            best,
        )  # ties: the lower reference column first; a reference row first of its own list (value inf)
        indices[lo:hi] = ref[columns]
        best[ref_pos[which] >= 0, 0] = 1.0 if similarity == "cosine" else 0.0
        sims[lo:hi] = best

    each_block(search, row_blocks(len(asked), _SEARCH_ROWS), "tifu-search")
    return indices, sims


def neighbour_mean(vectors: sp.csr_matrix, neighbours: np.ndarray, keep: int) -> sp.csr_matrix:
    """Mean of the neighbours' vectors for every row, only its ``keep`` largest positive entries (CSR
    float32; ties: the lower item)."""
    from recommender.models.next_purchase.kernels import mean_top_items  # numba: imported where it runs

    v = sp.csr_matrix(vectors, dtype=np.float32)
    n = len(neighbours)
    n_items = v.shape[1]
    kk = max(0, min(keep, n_items))
    items = np.zeros((n, kk), dtype=np.int64)
    values = np.zeros((n, kk), dtype=np.float32)
    counts = np.zeros(n, dtype=np.int64)
    if n == 0 or kk == 0 or neighbours.shape[1] == 0:
        return sp.csr_matrix((n, n_items), dtype=np.float32)
    # only the rows that are someone's neighbour (a pool), compacted: their vectors stay in the cache
    used = np.zeros(v.shape[0], dtype=bool)
    used[neighbours.ravel()] = True
    rows = np.flatnonzero(used)
    position = np.zeros(v.shape[0], dtype=np.int64)
    position[rows] = np.arange(len(rows))  # ascending, as the rows: the visiting order is kept
    near = np.sort(position[neighbours], axis=1)  # each row ascending: the order of the sums
    pool = v[rows]
    indptr, indices = pool.indptr.astype(np.int64, copy=False), pool.indices.astype(np.int32, copy=False)

    def mean_of(lo: int, hi: int) -> None:
        mean_top_items(near[lo:hi], indptr, indices, pool.data, n_items, items[lo:hi], values[lo:hi], counts[lo:hi])

    each_block(mean_of, row_blocks(n, _SEARCH_ROWS), "tifu-mean")
    found = np.arange(kk)[None, :] < counts[:, None]
    out_indptr = np.concatenate([[0], np.cumsum(counts)])
    return sp.csr_matrix((values[found], items[found], out_indptr), shape=(n, n_items))
