"""The model contract test suite, shared by every model (as implicit's and LensKit's test mixins).

``ModelContract`` holds tests only; a test module applies it to a model by subclassing it and
providing three fixtures (or direct parametrization of the same names):

- ``model_class``: the ``Recommender`` subclass under test;
- ``config``: a small, fast config for it;
- ``history``: a small ``OrderHistory`` with a catalog (``tests/recommender/conftest.py``).

The class name does not start with ``Test`` so pytest does not collect it on its own.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from pydantic import ValidationError

from recommender.base import ARRAYS_FILE, CONFIG_FILE, ModelConfig, QueryKind, Ranked, Recommender
from recommender.errors import EmptyHistoryError, ModelFileError, NotFittedError
from recommender.history import Catalog, OrderHistory

K = 10


class _OtherConfig(ModelConfig):
    pass


class _OtherModel(Recommender):
    """A trivial model of another kind, to check that ``load`` refuses a foreign directory."""

    name: ClassVar[str] = "contract-other"
    query_kind: ClassVar[QueryKind] = "customer"
    config_class: ClassVar[type[ModelConfig]] = _OtherConfig

    def _fit(self, history: OrderHistory) -> None:
        pass

    def _recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        return Ranked.empty(len(queries), k)

    def _state(self) -> dict[str, np.ndarray]:
        return {"nothing": np.zeros(1, dtype=np.int32)}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        pass


def n_queries(model_class: type[Recommender], history: OrderHistory) -> int:
    """How many valid query indices the model answers on ``history``."""
    return history.n_customers if model_class.query_kind == "customer" else history.n_items


def check_well_formed(ranked: Ranked, n: int, k: int, n_items: int) -> None:
    """Every property of a top-k answer that holds for any model."""
    items, scores = ranked.items, ranked.scores
    assert items.shape == (n, k) and scores.shape == (n, k)
    assert items.dtype == np.int32 and scores.dtype == np.float32
    padded = items == -1
    assert np.array_equal(padded, scores == -np.inf), "padding must be item -1 with score -inf, and only there"
    assert np.all(np.isfinite(scores[~padded])), "returned items must have finite scores"
    assert np.all(padded[:, 1:] | ~padded[:, :-1]), "padding must come after every returned item"
    assert np.all((items >= -1) & (items < n_items)), "item index out of range"
    filled = np.where(padded, np.float32(-np.finfo(np.float32).max), scores)
    assert np.all(np.diff(filled, axis=1) <= 0), "scores must be non-increasing along a row"
    ordered = np.sort(items, axis=1)
    duplicate = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    assert not duplicate.any(), "an item appears twice in one row"


class ModelContract:
    """Tests every model passes. Fixtures needed: ``model_class``, ``config``, ``history``."""

    @pytest.fixture
    def fitted(self, model_class: type[Recommender], config: ModelConfig, history: OrderHistory) -> Recommender:
        return model_class(config).fit(history)

    @pytest.fixture
    def queries(self, model_class: type[Recommender], history: OrderHistory) -> np.ndarray:
        return np.arange(n_queries(model_class, history))

    # fit -------------------------------------------------------------------------------------------
    def test_fit_returns_self(self, model_class: type[Recommender], config: ModelConfig, history: OrderHistory) -> None:
        model = model_class(config)
        assert not model.is_fitted
        assert model.fit(history) is model
        assert model.is_fitted

    def test_fit_leaves_the_history_untouched(
        self, model_class: type[Recommender], config: ModelConfig, history: OrderHistory
    ) -> None:
        before = {name: getattr(history, name).copy() for name in ("customer", "item", "order", "ordered_at")}
        model_class(config).fit(history)
        for name, values in before.items():
            assert np.array_equal(getattr(history, name), values), f"fit modified history.{name}"

    def test_fit_without_a_catalog(
        self, model_class: type[Recommender], config: ModelConfig, history: OrderHistory, queries: np.ndarray
    ) -> None:
        bare = replace(history, catalog=Catalog.empty(history.n_items))
        ranked = model_class(config).fit(bare).recommend(queries, K)
        check_well_formed(ranked, len(queries), K, history.n_items)
        assert (ranked.items >= 0).any()

    # recommend -------------------------------------------------------------------------------------
    def test_answers_are_well_formed(self, fitted: Recommender, history: OrderHistory, queries: np.ndarray) -> None:
        ranked = fitted.recommend(queries, K)
        check_well_formed(ranked, len(queries), K, history.n_items)
        assert (ranked.items[:, 0] >= 0).mean() > 0.5, "most queries should get at least one item"

    def test_queries_are_answered_independently(self, fitted: Recommender, queries: np.ndarray) -> None:
        picked = queries[::7][::-1]
        together = fitted.recommend(picked, K)
        alone = [fitted.recommend(picked[i : i + 1], K) for i in range(len(picked))]
        assert np.array_equal(together.items, np.concatenate([r.items for r in alone]))
        np.testing.assert_allclose(together.scores, np.concatenate([r.scores for r in alone]), rtol=1e-5)

    def test_out_of_range_queries_get_padded_rows(self, fitted: Recommender, queries: np.ndarray) -> None:
        limit = len(queries)
        ranked = fitted.recommend(np.array([-1, limit, limit + 100, 0, -5]), K)
        assert np.all(ranked.items[[0, 1, 2, 4]] == -1)
        assert np.all(ranked.scores[[0, 1, 2, 4]] == -np.inf)
        assert np.array_equal(ranked.items[3], fitted.recommend(np.array([0]), K).items[0])

    def test_empty_query_batch(self, fitted: Recommender) -> None:
        ranked = fitted.recommend(np.array([], dtype=np.int64), K)
        assert ranked.items.shape == (0, K) and ranked.scores.shape == (0, K)

    def test_k_larger_than_the_item_count(
        self, fitted: Recommender, history: OrderHistory, queries: np.ndarray
    ) -> None:
        k = history.n_items + 7
        ranked = fitted.recommend(queries[:20], k)
        check_well_formed(ranked, 20, k, history.n_items)
        assert np.all(ranked.items[:, history.n_items :] == -1)

    @pytest.mark.parametrize("k", [0, -3])
    def test_k_below_one_is_refused(self, fitted: Recommender, queries: np.ndarray, k: int) -> None:
        with pytest.raises(ValueError, match="k must be"):
            fitted.recommend(queries[:3], k)

    def test_unfitted_model_refuses(self, model_class: type[Recommender], config: ModelConfig, tmp_path: Path) -> None:
        model = model_class(config)
        with pytest.raises(NotFittedError):
            model.recommend(np.array([0, 1]), K)
        with pytest.raises(NotFittedError):
            model.save(tmp_path / "model")

    def test_now_per_query_is_accepted(self, fitted: Recommender, history: OrderHistory, queries: np.ndarray) -> None:
        q = queries[:30]
        now = np.full(len(q), history.end_time, dtype=np.int64) + np.arange(len(q))
        check_well_formed(fitted.recommend(q, K, now=now), len(q), K, history.n_items)
        check_well_formed(fitted.recommend(q, K, now=history.end_time), len(q), K, history.n_items)
        with pytest.raises(ValueError, match="now has"):
            fitted.recommend(q, K, now=now[:-1])

    def test_queries_without_history_in_the_fitted_data(
        self, model_class: type[Recommender], config: ModelConfig, history: OrderHistory, queries: np.ndarray
    ) -> None:
        """A time split keeps the id maps: some customers and items then have no lines at all."""
        cut = np.quantile(history.ordered_at, 0.5)
        early = history.select(history.ordered_at < cut)
        unseen = np.setdiff1d(queries, early.customer if model_class.query_kind == "customer" else early.item)
        assert len(unseen) > 0
        model = model_class(config).fit(early)
        check_well_formed(model.recommend(queries, K), len(queries), K, history.n_items)
        check_well_formed(model.recommend(unseen, K), len(unseen), K, history.n_items)

    def test_an_empty_history_gives_empty_lists_or_a_clear_error(
        self, model_class: type[Recommender], config: ModelConfig, history: OrderHistory, queries: np.ndarray
    ) -> None:
        """Nothing learned, nothing offered: fully padded rows (callers fall back), or EmptyHistoryError."""
        empty = history.select(np.zeros(history.n_lines, dtype=bool))
        try:
            model = model_class(config).fit(empty)
        except EmptyHistoryError:
            return
        ranked = model.recommend(queries, K)
        check_well_formed(ranked, len(queries), K, history.n_items)
        assert np.all(ranked.items == -1)

    # determinism -----------------------------------------------------------------------------------
    def test_same_config_same_recommendations(
        self, model_class: type[Recommender], config: ModelConfig, history: OrderHistory, queries: np.ndarray
    ) -> None:
        first = model_class(config).fit(history).recommend(queries, K)
        second = model_class(config).fit(history).recommend(queries, K)
        assert np.array_equal(first.items, second.items)
        assert np.array_equal(first.scores, second.scores)

    def test_refit_replaces_the_previous_fit(
        self, model_class: type[Recommender], config: ModelConfig, history: OrderHistory, queries: np.ndarray
    ) -> None:
        fresh = model_class(config).fit(history).recommend(queries, K)
        model = model_class(config).fit(history.select(history.ordered_at < np.median(history.ordered_at)))
        again = model.fit(history).recommend(queries, K)
        assert np.array_equal(fresh.items, again.items)
        np.testing.assert_allclose(fresh.scores, again.scores, rtol=1e-5)

    # config ----------------------------------------------------------------------------------------
    def test_config_refuses_unknown_keys(self, model_class: type[Recommender], config: ModelConfig) -> None:
        with pytest.raises(ValidationError):
            model_class.config_class(**config.model_dump(), no_such_setting=1)

    def test_config_is_frozen_and_typed(self, model_class: type[Recommender], config: ModelConfig) -> None:
        assert isinstance(config, model_class.config_class)
        field = next(iter(model_class.config_class.model_fields))
        with pytest.raises(ValidationError):
            setattr(config, field, getattr(config, field))
        with pytest.raises(TypeError):
            model_class(_OtherConfig())

    # save / load -----------------------------------------------------------------------------------
    def test_save_then_load_gives_identical_recommendations(
        self, fitted: Recommender, queries: np.ndarray, tmp_path: Path
    ) -> None:
        fitted.save(tmp_path / "model")
        loaded = type(fitted).load(tmp_path / "model")
        assert loaded.config == fitted.config
        assert (loaded.n_customers, loaded.n_items) == (fitted.n_customers, fitted.n_items)
        before, after = fitted.recommend(queries, K), loaded.recommend(queries, K)
        assert np.array_equal(before.items, after.items)
        assert np.array_equal(before.scores, after.scores)

    def test_saved_state_is_plain_arrays(self, fitted: Recommender, tmp_path: Path) -> None:
        fitted.save(tmp_path / "model")
        with np.load(tmp_path / "model" / ARRAYS_FILE, allow_pickle=False) as npz:
            kinds = {key: npz[key].dtype.kind for key in npz.files}
        assert all(kind in "biufU" for kind in kinds.values()), kinds
        meta = json.loads((tmp_path / "model" / CONFIG_FILE).read_text())
        assert meta["model"] == fitted.name

    def test_load_refuses_an_object_array(self, fitted: Recommender, tmp_path: Path) -> None:
        fitted.save(tmp_path / "model")
        path = tmp_path / "model" / ARRAYS_FILE
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        first = next(key for key in arrays if key != "__shape__")
        arrays[first] = np.array([{"evil": 1}, None], dtype=object)
        np.savez(path, **arrays)
        with pytest.raises(ModelFileError):
            type(fitted).load(tmp_path / "model")

    def test_load_refuses_another_models_directory(
        self, model_class: type[Recommender], history: OrderHistory, tmp_path: Path
    ) -> None:
        _OtherModel().fit(history).save(tmp_path / "other")
        with pytest.raises(ModelFileError, match="contract-other"):
            model_class.load(tmp_path / "other")

    def test_load_refuses_a_missing_directory(self, model_class: type[Recommender], tmp_path: Path) -> None:
        with pytest.raises(ModelFileError):
            model_class.load(tmp_path / "nothing here")
