"""Behaviour of the EASE "recommended for you" model: closed form, taste groups, exclusion, limits, cold customers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.evaluation import most_pop, split_random_interactions, topn_metrics
from recommender.history import OrderHistory
from recommender.models.ease import CatalogTooLargeError, EaseConfig, EaseModel, ease_weights
from tests.recommender.conftest import Line, MakeHistory


def taste_groups(rng: np.random.Generator, n_per_group: int = 40) -> list[Line]:
    """Two groups of customers: campers buy 4 of 10 camping items, cooks 4 of 10 kitchen items."""
    lines: list[Line] = []
    for group in ("camp", "cook"):
        for c in range(n_per_group):
            for item in rng.choice(10, size=4, replace=False):
                lines.append((f"{group}-fan{c}", f"{group}{item}", float(rng.integers(0, 60))))
    return lines


@pytest.mark.parametrize("regularization", [0.5, 20.0])
def test_weights_are_the_closed_form_solution(regularization: float) -> None:
    rng = np.random.default_rng(3)
    x = sp.csr_matrix((rng.random((60, 25)) < 0.2).astype(np.float32))
    weights = ease_weights(x, regularization)
    gram = (x.T @ x).toarray().astype(np.float64) + regularization * np.eye(25)
    p = np.linalg.inv(gram)
    expected = -p / np.diag(p)[np.newaxis, :]
    np.fill_diagonal(expected, 0.0)
    assert weights.dtype == np.float32 and weights.shape == (25, 25)
    np.testing.assert_allclose(weights, expected, atol=1e-5, rtol=1e-4)
    assert np.all(np.diag(weights) == 0)


def test_weights_mirror_every_block_of_a_larger_matrix() -> None:
    """The inverse is filled from one triangle in blocks of rows: a catalog above one block must come out whole."""
    rng = np.random.default_rng(4)
    x = sp.random(400, 1100, density=0.02, random_state=rng, format="csr", dtype=np.float32)
    x.data[:] = 1.0
    weights = ease_weights(x, 5.0)
    p = np.linalg.inv((x.T @ x).toarray().astype(np.float64) + 5.0 * np.eye(1100))
    expected = -p / np.diag(p)[np.newaxis, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(weights, expected, atol=1e-5)


def test_a_customer_like_a_group_gets_that_groups_items(make_history: MakeHistory) -> None:
    lines = taste_groups(np.random.default_rng(7))
    lines += [("new-camper", "camp0", 70.0), ("new-camper", "camp1", 70.0), ("new-camper", "camp2", 70.0)]
    lines += [("new-cook", "cook7", 70.0), ("new-cook", "cook8", 70.0)]
    history = make_history(lines)
    # EASE weights across the two groups are exactly 0 (never bought together); within a group they are
    # positive on average, and a moderate regularization keeps each weight close to that average
    model = EaseModel(EaseConfig(regularization=50.0)).fit(history)
    ranked = model.recommend(history.customers.index(["new-camper", "new-cook"]), 5)
    camper, cook = (history.items.external(ranked.row(i)[0]) for i in range(2))
    assert len(camper) == 5 and all(item.startswith("camp") for item in camper)
    assert len(cook) == 5 and all(item.startswith("cook") for item in cook)
    assert not {"camp0", "camp1", "camp2"} & set(camper)


def test_it_ranks_held_out_purchases_better_than_most_popular(history: OrderHistory) -> None:
    """On the taste-group shop, EASE finds held-out items that popularity does not."""
    lines = taste_groups(np.random.default_rng(11), n_per_group=60)
    grouped = OrderHistory.from_arrays(
        np.asarray([c for c, _, _ in lines]), np.asarray([i for _, i, _ in lines]), np.asarray([d for *_, d in lines])
    )
    train, targets = split_random_interactions(grouped, 0.25, seed=0)
    customers = np.arange(train.n_customers)
    ease = EaseModel(EaseConfig(regularization=5.0)).fit(train).recommend(customers, 3)
    popular = most_pop(train, customers, 3)
    ours = topn_metrics(ease.items, targets, 3)["precision_at_3"]
    baseline = topn_metrics(popular.items, targets, 3)["precision_at_3"]
    assert ours > baseline + 0.05


def test_already_bought_items_are_never_recommended(history: OrderHistory) -> None:
    customers = np.arange(history.n_customers)
    ranked = EaseModel(EaseConfig(regularization=10.0)).fit(history).recommend(customers, 30)
    bought = history.customer_items("binary")
    rows, cols = np.repeat(customers, 30), ranked.items.ravel()
    valid = cols >= 0
    assert bought[rows[valid], cols[valid]].sum() == 0
    assert np.all(ranked.items >= 0), "there are enough unbought items to fill every list"


def test_bought_items_may_come_back_when_not_excluded(history: OrderHistory) -> None:
    config = EaseConfig(regularization=10.0, exclude_bought=False)
    customers = np.arange(history.n_customers)
    ranked = EaseModel(config).fit(history).recommend(customers, 10)
    bought = history.customer_items("binary")
    assert bought[np.repeat(customers, 10), ranked.items.ravel()].sum() > 0


def test_a_catalog_above_max_items_is_refused_at_fit(history: OrderHistory) -> None:
    model = EaseModel(EaseConfig(max_items=history.n_items - 1))
    with pytest.raises(CatalogTooLargeError, match=f"{history.n_items} items, above max_items={history.n_items - 1}"):
        model.fit(history)
    assert not model.is_fitted
    EaseModel(EaseConfig(max_items=history.n_items)).fit(history)  # exactly at the limit is fine


def test_customers_without_purchases_get_the_most_bought_items(history: OrderHistory) -> None:
    cut = np.quantile(history.ordered_at, 0.3)
    early = history.select(history.ordered_at < cut)
    model = EaseModel(EaseConfig(regularization=10.0)).fit(early)
    cold = np.setdiff1d(np.arange(history.n_customers), early.customer)
    ranked = model.recommend(cold, 5)
    buyers = np.bincount(early.customer_items("binary").indices, minlength=history.n_items)
    top_buyers = np.sort(buyers)[::-1][:5]
    assert np.all(ranked.items == ranked.items[0])
    assert np.array_equal(buyers[ranked.items[0]], top_buyers)


def test_items_nobody_bought_are_never_offered(history: OrderHistory) -> None:
    cut = np.quantile(history.ordered_at, 0.3)
    early = history.select(history.ordered_at < cut)
    unsold = np.setdiff1d(np.arange(history.n_items), early.item)
    assert len(unsold) > 0
    ranked = EaseModel(EaseConfig(regularization=10.0)).fit(early).recommend(np.arange(history.n_customers), 80)
    assert not np.isin(ranked.items, unsold).any()


def test_scores_are_sums_of_item_weights_over_the_bought_items(history: OrderHistory) -> None:
    model = EaseModel(EaseConfig(regularization=10.0)).fit(history)
    customer = int(history.customer[0])
    ranked = model.recommend(np.array([customer]), 5)
    own = history.customer_items("binary")[customer].indices
    expected = model.item_weights[own].sum(axis=0)[ranked.items[0]]
    np.testing.assert_allclose(ranked.scores[0], expected, rtol=1e-5)
