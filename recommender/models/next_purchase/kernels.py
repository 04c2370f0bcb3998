"""Compiled (numba) kernels for the two costly TIFU-KNN steps, a block of rows per call, no GIL held.

- ``neighbour_search``: for each query row, its similarity to every reference row through the references'
  item posting lists (a sparse accumulator the size of the reference set), then the best ``k`` by
  (similarity descending, reference position ascending), best first.
- ``mean_top_items``: for each row, the mean of its neighbours' vectors (accumulated only over the items
  they hold), then its best ``keep`` positive entries by (value descending, item ascending), stored by
  ascending item.

They do the arithmetic of the scipy products they replace, in the same order and in float32 (scipy's
``csr_matmat`` accumulates ``sum += a * b`` row by row in the input's type; numba contracts nothing into
fused multiply-adds unless asked), so the neighbours and means are the same numbers. What they save is
the rest: at 100,000 customers x a 20,000-customer pool, the dense (query x reference) blocks, their
conversion from sparse, and a sort-based top-k over 2e9 cells were 28 s of a 2M-line fit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from recommender.numeric.heap import drain_best_first, keep_best
from recommender.numeric.sparse_rows import add_row


@njit(cache=True, nogil=True)
def neighbour_search(
    q_indptr: np.ndarray,
    q_indices: np.ndarray,
    q_data: np.ndarray,
    q_squared: np.ndarray,
    own: np.ndarray,
    ref_indptr: np.ndarray,
    ref_rows: np.ndarray,
    ref_data: np.ndarray,
    ref_squared: np.ndarray,
    ref_column: np.ndarray,
    euclidean: bool,
    out_columns: np.ndarray,
    out_values: np.ndarray,
) -> None:
    """Best ``k`` reference columns of every query row (``k = out_columns.shape[1]``).

    Queries: CSR rows (``q_*``) with their squared norms; ``own[i]``: the query's own visiting position
    or -1 (it then ranks first, with value +inf). References, in visiting positions: the item x position
    CSR (``ref_*``, each item's posting list), their squared norms, and ``ref_column[pos]``, the column
    that a position stands for (what is ranked and returned). Similarity: the dot product, or with
    ``euclidean`` the negative squared distance ``2 * dot - |q|^2 - |r|^2``, each step rounded to float32.
    The visiting order changes only how many candidates displace a kept one, never the result: ties are
    broken by the column, whatever the order they come in.
    """
    n_ref = len(ref_squared)
    k = out_columns.shape[1]
    acc = np.zeros(n_ref, dtype=np.float32)
    values = np.empty(n_ref, dtype=np.float32)
    heap_v = np.empty(k, dtype=np.float32)
    heap_c = np.empty(k, dtype=np.int64)
    scratch = np.empty(n_ref, dtype=np.float32)
    two = np.float32(2.0)
    for row in range(len(q_indptr) - 1):
        acc[:] = 0.0
        for jj in range(q_indptr[row], q_indptr[row + 1]):
            weight = q_data[jj]
            item = q_indices[jj]
            for pp in range(ref_indptr[item], ref_indptr[item + 1]):
                acc[ref_rows[pp]] += weight * ref_data[pp]
        if euclidean:
            squared = q_squared[row]
            for pos in range(n_ref):  # a loop the compiler vectorizes
                values[pos] = acc[pos] * two - squared - ref_squared[pos]
        else:
            values[:] = acc
        if own[row] >= 0:
            values[own[row]] = np.float32(np.inf)
        size = keep_best(values, ref_column, n_ref, heap_v, heap_c, scratch)
        out_columns[row, :] = -1
        out_values[row, :] = -np.inf
        drain_best_first(heap_v, heap_c, size, out_values[row], out_columns[row])


@njit(cache=True, nogil=True, inline="always")
def _take_touched(
    acc: np.ndarray,
    seen: np.ndarray,
    touched: np.ndarray,
    n_touched: int,
    positive: bool,
    cand_v: np.ndarray,
    cand_c: np.ndarray,
) -> int:
    """The touched columns' values (float32) into ``cand_v`` / ``cand_c`` (only those above 0 with
    ``positive``), ``acc`` and ``seen`` cleared behind; returns how many were taken."""
    n = 0
    for t in range(n_touched):
        item = touched[t]
        value = np.float32(acc[item])
        cand_v[n] = value
        cand_c[n] = item
        n += (value > 0) or not positive
        acc[item] = 0.0
        seen[item] = False
    return n


@njit(cache=True, nogil=True)
def mean_top_items(
    neighbours: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    n_items: int,
    out_items: np.ndarray,
    out_values: np.ndarray,
    out_counts: np.ndarray,
) -> None:
    """Per row of ``neighbours`` (row indices into the CSR ``indptr / indices / data``), the mean of those
    rows' vectors, kept as its best ``keep = out_items.shape[1]`` positive entries, stored by ascending
    item (``out_counts[row]`` of them).

    Each row of ``neighbours`` must ascend (the caller sorts them all at once): the neighbours are visited in
    that order, each one's entries in stored order, adding ``float32(1 / k) * value``: the order of scipy's
    product of the weight matrix with the vectors.
    """
    n_rows, k = neighbours.shape
    keep = out_items.shape[1]
    acc = np.zeros(n_items, dtype=np.float32)
    touched = np.empty(n_items, dtype=np.int64)
    seen = np.zeros(n_items, dtype=np.bool_)
    heap_v = np.empty(keep, dtype=np.float32)
    heap_c = np.empty(keep, dtype=np.int64)
    best_v = np.empty(keep, dtype=np.float32)
    best_c = np.empty(keep, dtype=np.int64)
    cand_v = np.empty(n_items, dtype=np.float32)
    cand_c = np.empty(n_items, dtype=np.int64)
    scratch = np.empty(n_items, dtype=np.float32)
    weight = np.float32(1.0 / k)
    for row in range(n_rows):
        n_touched = 0
        for neighbour in neighbours[row]:
            n_touched = add_row(neighbour, weight, indptr, indices, data, acc, seen, touched, n_touched)
        n_positive = _take_touched(acc, seen, touched, n_touched, True, cand_v, cand_c)
        size = keep_best(cand_v, cand_c, n_positive, heap_v, heap_c, scratch)
        drain_best_first(heap_v, heap_c, size, best_v, best_c)
        order = np.argsort(best_c[:size])
        for slot in range(size):
            out_items[row, slot] = best_c[order[slot]]
            out_values[row, slot] = best_v[order[slot]]
        out_counts[row] = size


@njit(cache=True, nogil=True)
def summed_rows_top(
    q_indptr: np.ndarray,
    q_indices: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    n_items: int,
    out_items: np.ndarray,
    out_values: np.ndarray,
) -> None:
    """Per query row (CSR ``q_indptr`` / ``q_indices``: which rows of the CSR ``indptr / indices / data`` to
    add), the sum of those rows, kept as its best ``keep = out_items.shape[1]`` entries by (value descending,
    item ascending), best first; -1 / -inf after the last.

    The rows are added in the query's stored order, each row's entries in stored order, in ``data``'s type
    (float32 for transitions): the arithmetic of scipy's product of a 0/1 query matrix with that matrix,
    then ``topk_sparse`` (transitions of next purchase; ``benchmarks.scale``: the Sparse-catalog tuning candidate
    took 102 s of fit at 2M lines with the scipy product and its top-k per block of customers).
    """
    n_rows, keep = out_items.shape
    acc = np.zeros(n_items, dtype=data.dtype)
    seen = np.zeros(n_items, dtype=np.bool_)
    touched = np.empty(n_items, dtype=np.int64)
    cand_v = np.empty(n_items, dtype=np.float32)
    cand_c = np.empty(n_items, dtype=np.int64)
    one = data.dtype.type(1.0)
    scratch = np.empty(n_items, dtype=np.float32)
    heap_v = np.empty(keep, dtype=np.float32)
    heap_c = np.empty(keep, dtype=np.int64)
    for row in range(n_rows):
        n_touched = 0
        for qq in range(q_indptr[row], q_indptr[row + 1]):
            n_touched = add_row(q_indices[qq], one, indptr, indices, data, acc, seen, touched, n_touched)
        n_taken = _take_touched(acc, seen, touched, n_touched, False, cand_v, cand_c)
        size = keep_best(cand_v, cand_c, n_taken, heap_v, heap_c, scratch) if keep > 0 else 0
        out_items[row, :] = -1
        out_values[row, :] = -np.inf
        drain_best_first(heap_v, heap_c, size, out_values[row], out_items[row])
