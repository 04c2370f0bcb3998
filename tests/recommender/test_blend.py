"""Behaviour of the EASE + ALS blend: the weight's extremes reproduce each model, normalization, nested save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from recommender.base import ARRAYS_FILE
from recommender.errors import ModelFileError, NotFittedError
from recommender.history import OrderHistory
from recommender.models.blend import BlendConfig, BlendModel, Normalization, normalize_rows
from recommender.models.collaborative import CollaborativeConfig, CollaborativeModel
from recommender.models.ease import CatalogTooLargeError, EaseConfig, EaseModel
from tests.recommender.ranking_checks import assert_top_k_up_to_ties

EASE = EaseConfig(regularization=10.0)
ALS = CollaborativeConfig(factors=8, iterations=5)


def blend(weight: float, normalization: Normalization = "zscore") -> BlendConfig:
    return BlendConfig(ease=EASE, collaborative=ALS, ease_weight=weight, normalization=normalization)


@pytest.mark.parametrize("normalization", ["zscore", "max"])
def test_full_ease_weight_ranks_as_ease_alone(history: OrderHistory, normalization: Normalization) -> None:
    customers = np.arange(history.n_customers)
    ours = BlendModel(blend(1.0, normalization)).fit(history).recommend(customers, 10)
    ease = EaseModel(EASE).fit(history)
    reference = ease.bought.astype(np.float64) @ ease.item_weights.astype(np.float64)
    assert_top_k_up_to_ties(ours.items, reference, ease.bought)


@pytest.mark.parametrize("normalization", ["zscore", "max"])
def test_zero_ease_weight_ranks_as_als_alone(history: OrderHistory, normalization: Normalization) -> None:
    customers = np.arange(history.n_customers)
    ours = BlendModel(blend(0.0, normalization)).fit(history).recommend(customers, 10)
    als = CollaborativeModel(ALS).fit(history)
    reference = als.user_factors.astype(np.float64) @ als.item_factors.astype(np.float64).T
    assert_top_k_up_to_ties(ours.items, reference, history.customer_items("binary"))


def test_an_even_blend_differs_from_both_and_excludes_bought_items(history: OrderHistory) -> None:
    customers = np.arange(history.n_customers)
    model = BlendModel(blend(0.5)).fit(history)
    ours = model.recommend(customers, 10)
    assert not np.array_equal(ours.items, model.ease.recommend(customers, 10).items)
    assert not np.array_equal(ours.items, model.collaborative.recommend(customers, 10).items)
    bought = history.customer_items("binary")
    assert bought[np.repeat(customers, 10), ours.items.ravel()].sum() == 0
    assert np.all(ours.items >= 0)


def test_bought_items_may_come_back_when_not_excluded(history: OrderHistory) -> None:
    config = BlendConfig(ease=EASE, collaborative=ALS, exclude_bought=False)
    customers = np.arange(history.n_customers)
    ranked = BlendModel(config).fit(history).recommend(customers, 10)
    assert history.customer_items("binary")[np.repeat(customers, 10), ranked.items.ravel()].sum() > 0


def test_customers_without_purchases_get_the_most_bought_items(history: OrderHistory) -> None:
    early = history.select(history.ordered_at < np.quantile(history.ordered_at, 0.3))
    cold = np.setdiff1d(np.arange(history.n_customers), early.customer)
    ranked = BlendModel(blend(0.5)).fit(early).recommend(cold, 5)
    buyers = np.bincount(early.customer_items("binary").indices, minlength=history.n_items)
    assert np.all(ranked.items == ranked.items[0])
    assert np.array_equal(buyers[ranked.items[0]], np.sort(buyers)[::-1][:5])


def test_zscore_rows_are_standardized_over_the_candidates() -> None:
    rng = np.random.default_rng(5)
    scores = rng.normal(3.0, 2.0, size=(4, 50))
    candidate = rng.random((4, 50)) < 0.6
    out = normalize_rows(scores, candidate, "zscore")
    for row in range(4):
        values = out[row][candidate[row]]
        assert abs(values.mean()) < 1e-9 and abs(values.std() - 1.0) < 1e-9
        assert np.all(out[row][~candidate[row]] == 0)


def test_max_normalization_scales_the_largest_candidate_to_one() -> None:
    scores = np.array([[2.0, -4.0, 100.0], [1.0, 0.5, 0.25]])
    candidate = np.array([[True, True, False], [True, True, True]])
    out = normalize_rows(scores, candidate, "max")
    np.testing.assert_allclose(out, [[0.5, -1.0, 0.0], [1.0, 0.5, 0.25]])


def test_a_constant_row_normalizes_to_zero_instead_of_nan() -> None:
    scores = np.array([[1.5, 1.5, 1.5], [0.0, 0.0, 0.0]])
    for how in ("zscore", "max"):
        out = normalize_rows(scores, np.ones_like(scores, dtype=bool), how)
        assert np.all(np.isfinite(out))
    assert np.all(normalize_rows(scores, np.ones_like(scores, dtype=bool), "zscore") == 0)


def test_a_catalog_above_the_ease_limit_is_refused(history: OrderHistory) -> None:
    config = BlendConfig(ease=EaseConfig(max_items=10), collaborative=ALS)
    with pytest.raises(CatalogTooLargeError):
        BlendModel(config).fit(history)


def test_config_validates_the_weight_and_the_nested_configs() -> None:
    with pytest.raises(ValidationError):
        BlendConfig(ease_weight=1.5)
    with pytest.raises(ValidationError):
        BlendConfig.model_validate({"ease": {"regularization": 10.0, "no_such_setting": 1}})
    assert BlendConfig.model_validate({"ease": {"regularization": 7.0}}).ease.regularization == 7.0


def test_saved_arrays_hold_both_models_under_their_prefixes(history: OrderHistory, tmp_path: Path) -> None:
    BlendModel(blend(0.5)).fit(history).save(tmp_path / "model")
    path = tmp_path / "model" / ARRAYS_FILE
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    assert "ease.item_weights" in arrays and "als.item_factors" in arrays
    np.savez(path, **{key: value for key, value in arrays.items() if not key.startswith("als.")})
    with pytest.raises(ModelFileError, match="collaborative"):
        BlendModel.load(tmp_path / "model")


def test_a_blend_on_a_shared_als_does_not_store_it_again(history: OrderHistory, tmp_path: Path) -> None:
    shared = CollaborativeModel(blend(0.5).collaborative).fit(history)
    model = BlendModel(blend(0.5), collaborative=shared).fit(history)
    model.save(tmp_path / "blend")
    with np.load(tmp_path / "blend" / "arrays.npz", allow_pickle=False) as npz:
        assert not [key for key in npz.files if key.startswith("als.")]
    loaded = BlendModel.load(tmp_path / "blend")
    customers = np.arange(history.n_customers)
    with pytest.raises(NotFittedError, match="attach_collaborative"):
        loaded.recommend(customers, 5)
    loaded.attach_collaborative(shared)
    expected, got = model.recommend(customers, 5), loaded.recommend(customers, 5)
    np.testing.assert_array_equal(got.items, expected.items)
    other = CollaborativeModel(blend(0.5).collaborative.model_copy(update={"factors": 3})).fit(history)
    with pytest.raises(ModelFileError, match="another config"):
        BlendModel.load(tmp_path / "blend").attach_collaborative(other)
