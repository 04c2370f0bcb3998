"""The exact ALS of the Spark parity study (``benchmarks.spark_parity``): each row's solve equals implicit's own
reference exact solver (``least_squares``, ``user_factor``) on implicit's objective, and on MLlib's (confidence
w + 1, each row regularized by ``regParam`` times its number of ratings)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import least_squares, user_factor

from benchmarks.spark_parity import _solve_rows


def _ratings(seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    ratings = sp.random(60, 40, density=0.15, random_state=seed, format="csr") * 5.0
    ratings.data += 0.5  # positive confidences
    keep = np.ones(60)
    keep[3] = 0.0  # an empty row
    ratings = (sp.diags(keep) @ ratings).tocsr()
    ratings.eliminate_zeros()
    return ratings, rng.standard_normal((40, 6))


def test_implicits_objective_solves_as_implicit() -> None:
    ratings, items = _ratings(1)
    ours = _solve_rows(ratings, items, np.full(60, 2.5), plus_one=False)
    theirs = np.zeros_like(ours)
    least_squares(ratings, theirs, items, 2.5)
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)
    assert not ours[3].any() and ours.any(axis=1).sum() > 50


def test_mllibs_objective_scales_each_rows_regularization_by_its_ratings() -> None:
    ratings, items = _ratings(2)
    counts = np.diff(ratings.indptr).astype(float)
    ours = _solve_rows(ratings, items, 0.3 * counts, plus_one=True)
    plus_one = ratings.copy()
    plus_one.data += 1.0
    gram = items.T @ items
    for row in np.flatnonzero(counts):
        expected = user_factor(items, gram, plus_one, row, 0.3 * counts[row], items.shape[1])
        np.testing.assert_allclose(ours[row], expected, rtol=1e-8, atol=1e-10)
    # one regularization for every row is another solution: the test can tell them apart
    assert not np.allclose(ours, _solve_rows(ratings, items, np.full(60, 0.3 * counts.mean()), plus_one=True))
