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
  included, computed in blocks of rows with sparse products (memory ``block x n_customers``); equally
  similar customers are taken by the lower index.
- ``neighbour_mean``: the mean of the neighbours' vectors, kept as each customer's best ``keep`` items.

No loop per customer: everything is sparse matrix algebra, in blocks where a dense block is needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recommender.history import OrderHistory
from recommender.ranking import top_columns

try:  # scipy's own sparse x sparse kernel, called without the public product's counting pass
    from scipy.sparse._sparsetools import csr_matmat as _csr_matmat
except ImportError:  # pragma: no cover - another scipy layout: the public product
    _csr_matmat = None

Similarity = Literal["cosine", "euclidean"]
_BLOCK_CELLS = 16_000_000  # dense cells per block (float32: 64 MB)
_DENSE_REFERENCE_CELLS = 50_000_000  # reference customers x items held dense up to this (float32: 200 MB)
_MAX_THREADS = 2  # blocks in flight at once (scipy's sparse kernels and numpy's selection release the GIL)


def _each_block(work: Callable[[int, int], None], blocks: list[tuple[int, int]]) -> None:
    """``work(lo, hi)`` for every block, in up to ``_MAX_THREADS`` threads (each block writes its own rows)."""
    threads = min(_MAX_THREADS, os.cpu_count() or 1, len(blocks))
    if threads <= 1:
        for lo, hi in blocks:
            work(lo, hi)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tifu-block") as pool:
        for future in [pool.submit(work, lo, hi) for lo, hi in blocks]:
            future.result()


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


def dense_product(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    """``(a @ b).toarray()`` as float32, for products dense enough that counting their entries first does not pay.

    scipy's kernel (the same sums, in the same order, so the same bits) writes into buffers sized for a dense
    result, skipping the counting pass of the public product: about twice as fast on the neighbour blocks.
    """
    a = sp.csr_matrix(a, dtype=np.float32)
    b = sp.csr_matrix(b, dtype=np.float32)
    n, m = a.shape[0], b.shape[1]
    if _csr_matmat is None or n * m == 0:
        return np.asarray((a @ b).toarray(), dtype=np.float32)
    index = np.int32 if max(n * m, a.nnz, b.nnz) < np.iinfo(np.int32).max else np.int64
    indptr, indices = np.empty(n + 1, dtype=index), np.empty(n * m, dtype=index)
    data = np.empty(n * m, dtype=np.float32)
    try:
        _csr_matmat(
            n,
            m,
            a.indptr.astype(index, copy=False),
            a.indices.astype(index, copy=False),
            a.data,
            b.indptr.astype(index, copy=False),
            b.indices.astype(index, copy=False),
            b.data,
            indptr,
            indices,
            data,
        )
    except (TypeError, ValueError):  # pragma: no cover - a private kernel whose signature changed
        return np.asarray((a @ b).toarray(), dtype=np.float32)
    nnz = int(indptr[-1])
    return sp.csr_matrix((data[:nnz], indices[:nnz], indptr), shape=(n, m)).toarray()


def _row_blocks(n_rows: int, n_cols: int) -> list[tuple[int, int]]:
    step = max(1, _BLOCK_CELLS // max(n_cols, 1))
    return [(lo, min(lo + step, n_rows)) for lo in range(0, n_rows, step)]


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
    v = sp.csr_matrix(vectors, dtype=np.float32)
    n = v.shape[0]
    ref = np.arange(n) if reference is None else np.asarray(reference, dtype=np.int64)
    m = len(ref)
    k = max(1, min(k, m))
    norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel()).astype(np.float32)
    if similarity == "cosine":
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        v = sp.csr_matrix(sp.diags(scale) @ v)
    # the reference vectors dense when they fit (sparse x dense is several times faster), else sparse
    dense_ref = m * v.shape[1] <= _DENSE_REFERENCE_CELLS
    vt = np.ascontiguousarray(v[ref].toarray().T) if dense_ref else v[ref].T.tocsr()
    ref_norms = norms[ref]
    ref_pos = np.full(n, -1, dtype=np.int64)
    ref_pos[ref] = np.arange(m)
    asked = None if queries is None else np.asarray(queries, dtype=np.int64).ravel()
    n_asked = n if asked is None else len(asked)
    indices = np.zeros((n_asked, k), dtype=np.int32)
    sims = np.zeros((n_asked, k), dtype=np.float32)
    squared_norms, squared_ref_norms = norms**2, ref_norms**2

    def search(lo: int, hi: int) -> None:
        which = np.arange(lo, hi) if asked is None else asked[lo:hi]
        part = v[lo:hi] if asked is None else v[which]
        block = np.asarray(part @ vt, dtype=np.float32) if dense_ref else dense_product(part, vt)
        if similarity == "euclidean":  # -squared distance, 2 * dot - |a|^2 - |b|^2, in place
            block *= 2.0
            block -= squared_norms[which, None]
            block -= squared_ref_norms[None, :]
        rows = np.arange(hi - lo)
        own = ref_pos[which]
        is_ref = own >= 0
        block[rows[is_ref], own[is_ref]] = np.inf  # a customer is its own nearest neighbour
        best_columns, best = top_columns(block, k)  # ties: the lower reference position first
        indices[lo:hi] = ref[best_columns]
        best[is_ref, 0] = 1.0 if similarity == "cosine" else 0.0
        sims[lo:hi] = best

    _each_block(search, _row_blocks(n_asked, m))
    return indices, sims


def neighbour_mean(vectors: sp.csr_matrix, neighbours: np.ndarray, keep: int) -> sp.csr_matrix:
    """Mean of the neighbours' vectors for every row, only its ``keep`` largest entries (CSR float32)."""
    v = sp.csr_matrix(vectors, dtype=np.float32)
    n, k = neighbours.shape
    n_items = v.shape[1]
    blocks = _row_blocks(n, n_items)
    parts: dict[int, sp.csr_matrix] = {}

    def mean_of(lo: int, hi: int) -> None:
        rows = np.repeat(np.arange(hi - lo), k)
        w = sp.csr_matrix(
            (np.full(rows.size, 1.0 / k, dtype=np.float32), (rows, neighbours[lo:hi].ravel())),
            shape=(hi - lo, v.shape[0]),
        )
        parts[lo] = _keep_top(dense_product(w, v), keep)

    _each_block(mean_of, blocks)
    if not blocks:
        return sp.csr_matrix((0, n_items), dtype=np.float32)
    return sp.vstack([parts[lo] for lo, _ in blocks], format="csr")


def _keep_top(dense: np.ndarray, keep: int) -> sp.csr_matrix:
    """CSR of the ``keep`` largest positive entries of every row of ``dense`` (ties: the lower column)."""
    n, m = dense.shape
    kk = min(keep, m)
    part, vals = top_columns(dense, kk, above=0.0)  # part -1 where a row has fewer positive entries
    found = part >= 0
    rows = np.repeat(np.arange(n), found.sum(axis=1))
    out = sp.csr_matrix((vals[found], (rows, part[found])), shape=(n, m), dtype=np.float32)
    out.eliminate_zeros()
    out.sort_indices()
    return out
