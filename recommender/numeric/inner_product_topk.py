"""Exact top-k inner products (customer factors . item factors) that score only the items that can matter.

A brute-force ranking multiplies every customer's factors with every item's: at 100,000 customers x
20,000 items x 64 factors that product is most of a publish. ``NormTiers`` ranks the items once by the
norm of their factors and keeps nested column sets, the ``1024 * 2**t`` largest norms (each set in
ascending column order). By Cauchy-Schwarz no item outside a set scores above
``|customer| * (largest norm outside the set)``, so when a customer's k-th best score inside the set is
above that bound, the set's top-k is the exact top-k over all items. ``top_inner_products`` scores every
customer of a block on the smallest useful set, then moves only the customers whose bound fails to the
smallest set whose bound holds (the last set is every item). With ALS factors the popular items carry
the large norms, and on generated 2M-line shops the first set of 2,048 of 20,000 items is enough for
about 99% of customers.

The score and the tie rule. An item's score is exact (``recommender.numeric.inner_product_kernels``): the
float32 factors multiplied in float64, summed in factor order from 0.0, rounded once to float32. Items rank
by that score, descending, and equal scores go to the lower item. The score is a function of the two factor
vectors alone, the same on every CPU, and so is the answer; identical factors give identical scores
wherever the items sit. A float32 BLAS product (``sgemm``) does not: its scores differ in the last bits by
the kernel OpenBLAS picks for the CPU, by the column's place in the matrix and by the number of rows
multiplied, so items with identical or nearly identical factors could swap. Here the BLAS product only
finds candidates. One BLAS score is off the exact one by at most ``(factors + 2) * 2**-24 * |customer| *
|item|`` (the float32 summation bound ``gamma_factors`` with Cauchy-Schwarz, plus the exact score's own
rounding), at most ``E`` with the largest item norm; every item of the exact top-k then has a BLAS score at
least ``K - 2E``, ``K`` the k-th largest BLAS score. Every item within ``SLACK_FACTOR * E`` (4E: twice what
is needed) of ``K`` is rescored, about k per customer, a few more at near-ties, and the best k of them by
exact score are the answer; the returned scores are the exact ones. The Cauchy-Schwarz bound is checked
against the exact k-th score, with a relative margin (``BOUND_MARGIN``) far wider than the rounding of a
computed norm or of an exact score, and strictly: an item outside a set can neither beat nor tie the k-th.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.numeric.inner_product_kernels import rescored_top
from recommender.numeric.topk import SAMPLE_STRIDE, Ranked

FIRST_TIER = 1024  # columns of the smallest set; each next set doubles
TIER_PER_K = 16  # the first set used has at least TIER_PER_K * k columns
BOUND_MARGIN = 1e-3  # relative slack on |u| * |v|: an exact score rounds by 6e-8 of it, a float64 norm by less
SLACK_FACTOR = 4.0  # the candidate window, in worst-case errors of one BLAS score (2 are needed)


@dataclass(frozen=True)
class NormTiers:
    """Nested item column sets by descending factor norm: ``columns[t]`` (ascending int64), the item
    factors of those columns, and ``outside[t]``, the largest norm of any item not in set ``t`` (0 for
    the last set, which holds every item), and ``largest``, the largest norm of all (0 without items)."""

    columns: list[np.ndarray]
    factors: list[np.ndarray]  # float32, C-contiguous
    positions: list[np.ndarray]  # item -> its position in set t, or -1
    outside: np.ndarray
    largest: float

    @classmethod
    def build(cls, item_factors: np.ndarray) -> NormTiers:
        n = len(item_factors)
        norms = np.linalg.norm(item_factors.astype(np.float64), axis=1)
        by_norm = np.argsort(-norms, kind="stable")
        sizes = [FIRST_TIER << t for t in range(64) if (FIRST_TIER << t) < n] + [n]
        columns, factors, positions, outside = [], [], [], []
        for size in sizes:
            chosen = np.sort(by_norm[:size])
            position = np.full(n, -1, dtype=np.int64)
            position[chosen] = np.arange(size)
            columns.append(chosen)
            factors.append(np.ascontiguousarray(item_factors[chosen], dtype=np.float32))
            positions.append(position)
            outside.append(norms[by_norm[size]] if size < n else 0.0)
        largest = float(norms.max(initial=0.0))
        return cls(columns, factors, positions, np.asarray(outside, dtype=np.float64), largest)

    def first_tier(self, k: int) -> int:
        """The smallest set with at least ``TIER_PER_K * k`` columns (or the last set)."""
        wanted = TIER_PER_K * k
        for t, cols in enumerate(self.columns):
            if len(cols) >= wanted:
                return t
        return len(self.columns) - 1


def top_inner_products(tiers: NormTiers, user_factors: np.ndarray, excluded: sp.csr_matrix | None, k: int) -> Ranked:
    """Top-``k`` items by ``user_factors @ item_factors.T`` per row, without the items stored in row i of
    ``excluded`` (None: nothing excluded), ties by the lower item; rows with fewer than ``k`` items end
    with -1. Scores are exact, the same on every CPU (see the module docstring); equal to a ranking
    of every item by them."""
    n = len(user_factors)
    out = Ranked.empty(n, k)
    if n == 0:
        return out
    user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
    lengths = np.linalg.norm(user_factors.astype(np.float64), axis=1)
    factors = user_factors.shape[1]
    underflow = 2 * factors * float(np.finfo(np.float32).tiny)  # absolute, should a BLAS flush subnormals
    slack = SLACK_FACTOR * ((factors + 2) * 2.0**-24 * lengths * tiers.largest + underflow)  # 4 E per customer
    norms = lengths * (1.0 + BOUND_MARGIN)
    pending = np.arange(n)
    last = len(tiers.columns) - 1
    t = tiers.first_tier(k)
    while len(pending):
        items, scores = _rank_on_tier(tiers, t, user_factors[pending], slack[pending], excluded, pending, k)
        if t == last:
            done = np.ones(len(pending), dtype=bool)
        else:  # strict: an item outside cannot even tie with the k-th (a tie would go to the lower column)
            done = norms[pending] * tiers.outside[t] < scores[:, -1]
        rows = pending[done]
        out.items[rows], out.scores[rows] = items[done], scores[done]
        pending = pending[~done]
        if len(pending):  # the smallest set whose bound holds for the k-th found so far (a lower bound)
            kth = scores[~done, -1]
            need = norms[pending, None] * tiers.outside[None, t + 1 :] < kth[:, None]
            fits = np.where(need.any(axis=1), t + 1 + need.argmax(axis=1), last)
            t = int(fits.min())
    return out


def _rank_on_tier(
    tiers: NormTiers,
    t: int,
    user_factors: np.ndarray,
    slack: np.ndarray,
    excluded: sp.csr_matrix | None,
    rows: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(items int32, exact scores float32) of the top-``k`` of ``rows`` within set ``t``; missing: -1 / -inf.
    The BLAS product finds the candidates (within ``slack`` of its k-th score), ``rescored_top`` ranks them."""
    scores = user_factors @ tiers.factors[t].T
    if excluded is not None:
        part = excluded[rows]
        position = tiers.positions[t][part.indices]
        kept = position >= 0
        owner = np.repeat(np.arange(len(rows)), np.diff(part.indptr))
        scores[owner[kept], position[kept]] = -np.inf
    items = np.full((len(rows), k), -1, dtype=np.int32)
    found = np.full((len(rows), k), -np.inf, dtype=np.float32)
    rescored_top(scores, slack, user_factors, tiers.factors[t], tiers.columns[t], SAMPLE_STRIDE, items, found)
    return items, found
