"""The pruned inner-product top-k equals a brute-force ranking of every item, ties and exclusions included."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.inner_product_topk import FIRST_TIER, NormTiers, top_inner_products
from recommender.ranking import mask_sparse, topk_dense


def brute_force(users: np.ndarray, items: np.ndarray, excluded: sp.csr_matrix | None, k: int):
    scores = users @ items.T
    if excluded is not None:
        mask_sparse(scores, excluded)
    return topk_dense(scores, k)


def popularity_like_factors(rng: np.random.Generator, n_items: int, factors: int) -> np.ndarray:
    """Item factors whose norms fall off like ALS factors of items sold with a long tail."""
    scale = (1.0 / np.arange(1, n_items + 1) ** 0.7)[rng.permutation(n_items)]
    return (rng.normal(size=(n_items, factors)) * scale[:, None]).astype(np.float32)


@pytest.mark.parametrize("k", [1, 10, 100])
def test_equals_brute_force_with_exclusions(k: int) -> None:
    rng = np.random.default_rng(3)
    items = popularity_like_factors(rng, 5 * FIRST_TIER, 16)
    users = rng.normal(size=(400, 16)).astype(np.float32)
    excluded = sp.random(400, len(items), density=0.01, format="csr", random_state=4)
    tiers = NormTiers.build(items)
    assert len(tiers.columns) > 2  # the pruning is exercised: several nested sets
    ours = top_inner_products(tiers, users, excluded, k)
    expected = brute_force(users, items, excluded, k)
    np.testing.assert_array_equal(ours.items, expected.items)
    np.testing.assert_allclose(ours.scores, expected.scores, rtol=1e-5, atol=1e-6)
    assert not np.isin(ours.items[0], excluded[0].indices).any()


def test_ties_go_to_the_lower_item_as_in_brute_force() -> None:
    rng = np.random.default_rng(5)
    items = popularity_like_factors(rng, 3 * FIRST_TIER, 8)
    items[FIRST_TIER * 2 + 7] = items[11]  # identical factors: equal scores for every customer
    items[FIRST_TIER * 2 + 9] = items[12]
    items[[11, 12]] *= 40  # ... and large norms, so they reach every top-k
    items[[FIRST_TIER * 2 + 7, FIRST_TIER * 2 + 9]] *= 40
    users = np.abs(rng.normal(size=(50, 8))).astype(np.float32)
    users = users * np.sign(items[11])[None, :]  # they score item 11 highly
    ours = top_inner_products(NormTiers.build(items), users, None, 5)
    np.testing.assert_array_equal(ours.items, brute_force(users, items, None, 5).items)
    first = list(ours.items[0])
    assert first.index(11) < first.index(FIRST_TIER * 2 + 7)


def test_customers_who_need_every_item_still_get_the_exact_answer() -> None:
    """Negative scores (a customer opposite to the catalog) defeat the norm bound: every item is scored."""
    rng = np.random.default_rng(6)
    items = np.abs(popularity_like_factors(rng, 3 * FIRST_TIER, 8))
    users = -np.abs(rng.normal(size=(20, 8))).astype(np.float32)  # every score is negative
    ours = top_inner_products(NormTiers.build(items), users, None, 10)
    np.testing.assert_array_equal(ours.items, brute_force(users, items, None, 10).items)


def test_too_few_items_left_pads_with_minus_one() -> None:
    items = np.eye(4, dtype=np.float32)
    users = np.ones((2, 4), dtype=np.float32)
    excluded = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    ours = top_inner_products(NormTiers.build(items), users, excluded, 6)
    assert list(ours.items[0]) == [2, 3, -1, -1, -1, -1]
    assert list(ours.items[1][:4]) == [0, 1, 2, 3] and ours.items[1][4] == -1
    assert np.isneginf(ours.scores[0, 2:]).all()
