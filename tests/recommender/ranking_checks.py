"""A check that a ranked list is a top-k of reference scores up to near-ties.

Two models that compute the same scores through different BLAS calls (a blend at one weight's extreme, a
batch of another size) may order two items whose scores differ in the last bits either way; comparing item
arrays would then test the CPU's floating-point kernel instead of the model. This compares against scores
recomputed in float64, with a tolerance far above rounding and far below any real score gap.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

RTOL = 1e-4  # of the row's largest absolute score


def assert_top_k_up_to_ties(items: np.ndarray, reference: np.ndarray, excluded: sp.csr_matrix | None = None) -> None:
    """Each row of ``items`` holds distinct items, in non-increasing ``reference`` order, none below the
    row's k-th best reference score (``excluded`` entries never count), each up to ``RTOL``."""
    scores = np.array(reference, dtype=np.float64)
    if excluded is not None:
        rows, cols = excluded.nonzero()
        scores[rows, cols] = -np.inf
    k = items.shape[1]
    finite = np.where(np.isfinite(scores), np.abs(scores), 0.0)
    tol = RTOL * np.maximum(finite.max(axis=1), 1e-12)
    got = np.take_along_axis(scores, items, axis=1)
    assert np.all(np.isfinite(got)), "an excluded item was ranked"
    assert all(len(set(row)) == k for row in items.tolist()), "an item appears twice in a list"
    assert np.all(np.diff(got, axis=1) <= tol[:, None]), "a list is out of score order"
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
    assert np.all(got[:, -1] >= kth - tol), "a list misses an item that scores clearly higher"
