"""The pruned inner-product top-k equals a ranking of every item by exact scores, ties and exclusions included,
whatever BLAS kernel the CPU runs.

The reference scores use no BLAS: float64 sums of the float32 factors' products, one factor at a time over
the whole matrix (elementwise IEEE-754 operations, the same on every CPU), rounded to float32, then ranked
with ties by the lower item. ``top_inner_products`` must give the same items and the same scores, bit for
bit; in subprocesses too, with ``OPENBLAS_CORETYPE`` forcing other kernels of numpy's OpenBLAS (whose
float32 products differ in the last bits by kernel, and for some kernels by the column's place).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.numeric.inner_product_kernels import kth_largest
from recommender.numeric.inner_product_topk import FIRST_TIER, NormTiers, top_inner_products
from recommender.numeric.topk import mask_sparse, topk_dense

REPO = Path(__file__).resolve().parents[2]
# numpy's OpenBLAS kernels; on a CPU that cannot run one, OpenBLAS falls back to one it can (on this
# project's x86-64 test machine Haswell and Prescott give scores that depend on the column's place)
CORE_TYPES = ("Haswell", "SkylakeX", "Sandybridge", "Prescott")
COPIES = [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 1023, 1024, 2047, 2048, 2055, 3071]
Case = tuple[np.ndarray, np.ndarray, "sp.csr_matrix | None", int]


def exact_reference(users: np.ndarray, items: np.ndarray, excluded: sp.csr_matrix | None, k: int) -> Ranked:
    """Top-k by exact scores (float64 sums in factor order of float32 products, rounded to float32), ties by
    the lower item, without BLAS."""
    acc = np.zeros((len(users), len(items)), dtype=np.float64)
    for f in range(users.shape[1]):
        acc += users[:, f, None].astype(np.float64) * items[None, :, f].astype(np.float64)
    scores = acc.astype(np.float32)
    if excluded is not None:
        mask_sparse(scores, excluded)
    return topk_dense(scores, k)


def assert_exact(users: np.ndarray, items: np.ndarray, excluded: sp.csr_matrix | None, k: int) -> Ranked:
    """``top_inner_products`` gives the reference's items and scores, bit for bit; returns its answer."""
    ours = top_inner_products(NormTiers.build(items), users, excluded, k)
    expected = exact_reference(users, items, excluded, k)
    np.testing.assert_array_equal(ours.items, expected.items)
    np.testing.assert_array_equal(ours.scores, expected.scores)
    return ours


def popularity_like_factors(rng: np.random.Generator, n_items: int, factors: int) -> np.ndarray:
    """Item factors whose norms fall off like ALS factors of items sold with a long tail."""
    scale = (1.0 / np.arange(1, n_items + 1) ** 0.7)[rng.permutation(n_items)]
    return (rng.normal(size=(n_items, factors)) * scale[:, None]).astype(np.float32)


def with_exclusions(k: int) -> Case:
    rng = np.random.default_rng(3)
    items = popularity_like_factors(rng, 5 * FIRST_TIER, 16)
    users = rng.normal(size=(400, 16)).astype(np.float32)
    excluded = sp.random(400, len(items), density=0.01, format="csr", random_state=4)
    return users, items, excluded, k


def with_ties() -> Case:
    """Two pairs of items with identical factors and large norms, far apart in the catalog."""
    rng = np.random.default_rng(5)
    items = popularity_like_factors(rng, 3 * FIRST_TIER, 8)
    items[FIRST_TIER * 2 + 7] = items[11]  # identical factors: equal scores for every customer
    items[FIRST_TIER * 2 + 9] = items[12]
    items[[11, 12]] *= 40  # ... and large norms, so they reach every top-k
    items[[FIRST_TIER * 2 + 7, FIRST_TIER * 2 + 9]] *= 40
    users = np.abs(rng.normal(size=(50, 8))).astype(np.float32)
    users = users * np.sign(items[11])[None, :]  # they score item 11 highly
    return users, items, None, 5


def with_copies_at_tile_edges() -> Case:
    """One item's factors (64 of them, large) copied to ``COPIES``: first and last columns of BLAS tiles of
    many widths, in every column set; customers who score it first."""
    rng = np.random.default_rng(8)
    items = popularity_like_factors(rng, 3 * FIRST_TIER, 64)
    items[COPIES] = items[5] * 40
    users = (np.abs(rng.normal(size=(60, 64))) * np.sign(items[5])[None, :]).astype(np.float32)
    return users, items, None, len(COPIES) + 6


def with_near_ties() -> Case:
    """Pairs of large items whose factors differ in one last bit: exact scores equal or an ulp apart, which
    a float32 product's rounding orders either way."""
    rng = np.random.default_rng(9)
    items = popularity_like_factors(rng, 3 * FIRST_TIER, 32)
    first = rng.choice(len(items), size=12, replace=False)
    second = rng.choice(np.setdiff1d(np.arange(len(items)), first), size=12, replace=False)
    items[first] *= 30
    items[second] = items[first]
    bumped = rng.integers(0, 32, size=12)
    items[second, bumped] = np.nextafter(items[second, bumped], np.float32(np.inf))
    users = rng.normal(size=(300, 32)).astype(np.float32)
    return users, items, None, 20


def every_case() -> None:
    """Every case checked: what the subprocesses run under another OpenBLAS kernel."""
    for k in (1, 10, 100):
        assert_exact(*with_exclusions(k))
    for case in (with_ties(), with_copies_at_tile_edges(), with_near_ties()):
        assert_exact(*case)


@pytest.mark.parametrize("k", [1, 10, 100])
def test_equals_the_exact_ranking_with_exclusions(k: int) -> None:
    users, items, excluded, k = with_exclusions(k)
    assert len(NormTiers.build(items).columns) > 2  # the pruning is exercised: several nested sets
    ours = assert_exact(users, items, excluded, k)
    assert not np.isin(ours.items[0], excluded[0].indices).any()


def test_ties_go_to_the_lower_item() -> None:
    ours = assert_exact(*with_ties())
    first = list(ours.items[0])
    assert first.index(11) < first.index(FIRST_TIER * 2 + 7)


def test_identical_factors_score_the_same_wherever_the_item_sits() -> None:
    users, items, excluded, k = with_copies_at_tile_edges()
    ours = assert_exact(users, items, excluded, k)
    copies = len(COPIES)
    assert (ours.items[:, :copies] == np.asarray(COPIES)[None, :]).all()  # every customer: copies first, in order
    assert (ours.scores[:, :copies] == ours.scores[:, :1]).all()


def test_items_a_last_bit_apart_are_ranked_by_their_exact_scores() -> None:
    assert_exact(*with_near_ties())


@pytest.mark.parametrize("core_type", CORE_TYPES)
def test_the_same_answer_under_other_openblas_kernels(core_type: str) -> None:
    """The env var must be set before numpy loads: a fresh interpreter per kernel. The kernel actually
    used (OpenBLAS falls back when the CPU cannot run the one asked for) is printed."""
    env = {**os.environ, "OPENBLAS_CORETYPE": core_type, "OPENBLAS_NUM_THREADS": "1"}
    code = (
        "from threadpoolctl import threadpool_info\n"
        "from tests.recommender.test_inner_product_topk import every_case\n"
        "every_case()\n"
        "print([i.get('architecture') for i in threadpool_info() if 'numpy' in i['filepath']])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    print(core_type, "ran as", done.stdout.strip())


def test_customers_who_need_every_item_still_get_the_exact_answer() -> None:
    """Negative scores (a customer opposite to the catalog) defeat the norm bound: every item is scored."""
    rng = np.random.default_rng(6)
    items = np.abs(popularity_like_factors(rng, 3 * FIRST_TIER, 8))
    users = -np.abs(rng.normal(size=(20, 8))).astype(np.float32)  # every score is negative
    assert_exact(users, items, None, 10)


def test_a_customer_with_zero_factors_gets_the_lowest_items() -> None:
    """Every score is 0: all tie, so the lowest items not excluded, with score 0."""
    items = popularity_like_factors(np.random.default_rng(7), 3 * FIRST_TIER, 8)
    excluded = sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 2])), shape=(2, len(items)))
    ours = assert_exact(np.zeros((2, 8), dtype=np.float32), items, excluded, 4)
    assert list(ours.items[0]) == [1, 3, 4, 5] and list(ours.items[1]) == [0, 1, 2, 3]
    assert (ours.scores == 0).all()


def test_too_few_items_left_pads_with_minus_one() -> None:
    items = np.eye(4, dtype=np.float32)
    users = np.ones((2, 4), dtype=np.float32)
    excluded = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    ours = top_inner_products(NormTiers.build(items), users, excluded, 6)
    assert list(ours.items[0]) == [2, 3, -1, -1, -1, -1]
    assert list(ours.items[1][:4]) == [0, 1, 2, 3] and ours.items[1][4] == -1
    assert np.isneginf(ours.scores[0, 2:]).all()


def test_kth_largest_with_repeated_values() -> None:
    rng = np.random.default_rng(10)
    for trial in range(300):
        n = int(rng.integers(1, 200))
        values = (rng.integers(-3, 4, size=n) if trial % 2 else rng.normal(size=n)).astype(np.float32)
        k = int(rng.integers(1, n + 1))
        assert kth_largest(values.copy(), n, k) == np.sort(values)[::-1][k - 1]
