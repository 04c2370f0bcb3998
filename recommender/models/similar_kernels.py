"""Compiled (numba) kernel for similar items: a sparse product's rows, scored and cut to their top k, a block
of rows per call, no GIL held.

``product_top`` computes rows ``lo:hi`` of ``A @ B`` (both CSR) with a sparse accumulator over the rows of
``B`` it reaches, turns each stored entry into a score (the product itself, or the shrunk cosine
``co / (sqrt(n_a * n_b) + shrinkage)`` of co-purchase counts), drops the diagonal and, when asked, items of
another category, and keeps the best ``k`` by (score descending, column ascending), best first.

It does scipy's arithmetic in the same order (``csr_matmat``: for each entry of the row of ``A``, add
``a * b`` over the matching row of ``B``, in the inputs' common type), so the scores are the
numbers the scipy product gave; what it saves is storing every product entry and sorting them: on the
Complete Journey catalog (68,260 items, 514M co-purchase pairs) that product and sort took 57 s.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from recommender.numeric.heap import drain_best_first, offer, worse
from recommender.numeric.sparse_rows import add_row


@njit(cache=True, nogil=True)
def product_top(
    a_indptr: np.ndarray,
    a_indices: np.ndarray,
    a_data: np.ndarray,
    b_indptr: np.ndarray,
    b_indices: np.ndarray,
    b_data: np.ndarray,
    lo: int,
    count: np.ndarray,
    shrinkage: float,
    shrunk_cosine: bool,
    category: np.ndarray,
    same_category: bool,
    unknown_keeps_all: bool,
    out_columns: np.ndarray,
    out_values: np.ndarray,
    out_counts: np.ndarray,
) -> None:
    """Rows ``lo : lo + len(out_counts)`` of ``A @ B``, the best ``k = out_columns.shape[1]`` of each.

    The row index is also the column index of the same item (a square item x item product): the diagonal is
    dropped. ``count``: per item, its number of buyers (the shrunk cosine's ``n``). Stored per output row:
    ``out_counts[row]`` columns and float32 scores, best first. With ``same_category``, a row of a known
    category keeps columns of that category only, and a row of unknown category (-1) keeps every column
    with ``unknown_keeps_all``, none without.
    """
    n_cols = len(category)
    k = out_columns.shape[1]
    acc = np.zeros(n_cols, dtype=b_data.dtype)
    touched = np.empty(n_cols, dtype=np.int64)
    seen = np.zeros(n_cols, dtype=np.bool_)
    heap_v = np.empty(k, dtype=np.float32)
    heap_c = np.empty(k, dtype=np.int64)
    for out_row in range(len(out_counts)):
        row = lo + out_row
        n_touched = 0
        for jj in range(a_indptr[row], a_indptr[row + 1]):
            n_touched = add_row(a_indices[jj], a_data[jj], b_indptr, b_indices, b_data, acc, seen, touched, n_touched)
        anchor = category[row]
        size = 0
        for t in range(n_touched):
            col = touched[t]
            together = acc[col]
            acc[col] = 0.0
            seen[col] = False
            if together == 0.0 or col == row:  # scipy's product stores no zero sums
                continue
            if same_category and (category[col] != anchor if anchor >= 0 else not unknown_keeps_all):
                continue
            if shrunk_cosine:
                together = together / (np.sqrt(count[row] * count[col]) + shrinkage)
            value = np.float32(together)
            if size < k or worse(heap_v[0], heap_c[0], value, col):
                size = offer(heap_v, heap_c, size, value, col)
        out_columns[out_row, :] = -1
        out_values[out_row, :] = 0.0
        drain_best_first(heap_v, heap_c, size, out_values[out_row], out_columns[out_row])
        out_counts[out_row] = size
