"""A compiled step that the row-by-row sparse kernels share: adding a scaled CSR row into a dense accumulator.

The kernels that compute rows of a sparse product (similar items' co-purchases, next purchase's neighbours'
mean and transitions) keep one dense accumulator per thread and the list of the columns a row touched, so that
clearing it costs the touched columns only. ``add_row`` is that inner loop, inlined into each kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def add_row(
    source: int,
    scale: float,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    acc: np.ndarray,
    seen: np.ndarray,
    touched: np.ndarray,
    n_touched: int,
) -> int:
    """``acc += scale * row source`` entry by entry in stored order (``acc[col] += scale * value``, in the
    accumulator's type); new columns appended to ``touched`` and flagged in ``seen``. Returns the new count of
    touched columns."""
    for jj in range(indptr[source], indptr[source + 1]):
        col = indices[jj]
        touched[n_touched] = col  # branch-free: kept (counted) only on the column's first visit
        n_touched += 1 - seen[col]
        seen[col] = True
        acc[col] += scale * data[jj]
    return n_touched
