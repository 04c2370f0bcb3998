"""Behaviour of the ALS "recommended for you" model: taste groups, exclusion, batching, cold customers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import recommender.numeric.topk as ranking
from recommender.history import OrderHistory
from recommender.models.collaborative import (
    CollaborativeConfig,
    CollaborativeModel,
    confidence_matrix,
    fit_device,
    gpu_available,
)
from tests.recommender.conftest import Line, MakeHistory

SMALL = CollaborativeConfig(factors=8, iterations=10)


def taste_groups(rng: np.random.Generator) -> list[Line]:
    """Two groups of 40 customers: campers buy 4 of 10 camping items, cooks 4 of 10 kitchen items."""
    lines: list[Line] = []
    for group in ("camp", "cook"):
        for c in range(40):
            for item in rng.choice(10, size=4, replace=False):
                lines.append((f"{group}-fan{c}", f"{group}{item}", float(rng.integers(0, 60))))
    # two customers who buy across both groups keep the groups from being perfectly separable
    lines += [("both0", "camp9", 1.0), ("both0", "cook9", 2.0), ("both1", "camp8", 3.0), ("both1", "cook5", 3.0)]
    return lines


@pytest.mark.parametrize("weighting", ["bm25", "alpha", "none"])
def test_a_customer_like_a_group_gets_that_groups_items(make_history: MakeHistory, weighting: str) -> None:
    lines = taste_groups(np.random.default_rng(7))
    lines += [("new-camper", "camp0", 70.0), ("new-camper", "camp1", 70.0), ("new-camper", "camp2", 70.0)]
    lines += [("new-cook", "cook7", 70.0), ("new-cook", "cook8", 70.0)]
    history = make_history(lines)
    # two tastes, two factors: more factors on 20 items would also fit the random within-group pairs
    model = CollaborativeModel(
        CollaborativeConfig(factors=2, iterations=10, regularization=0.05, weighting=weighting)
    ).fit(history)
    ranked = model.recommend(history.customers.index(["new-camper", "new-cook"]), 5)
    camper, cook = (history.items.external(ranked.row(i)[0]) for i in range(2))
    assert len(camper) == 5 and all(item.startswith("camp") for item in camper)
    assert len(cook) == 5 and all(item.startswith("cook") for item in cook)
    assert not {"camp0", "camp1", "camp2"} & set(camper)


def test_already_bought_items_are_never_recommended(history: OrderHistory) -> None:
    model = CollaborativeModel(SMALL).fit(history)
    customers = np.arange(history.n_customers)
    ranked = model.recommend(customers, 30)
    bought = history.customer_items("binary")
    rows = np.repeat(customers, 30)
    cols = ranked.items.ravel()
    valid = cols >= 0
    assert bought[rows[valid], cols[valid]].sum() == 0
    # and the lists stay full: there are enough unbought items for everyone
    assert np.all(ranked.items >= 0)


def test_bought_items_may_come_back_when_not_excluded(history: OrderHistory) -> None:
    config = CollaborativeConfig(factors=8, iterations=10, exclude_bought=False)
    ranked = CollaborativeModel(config).fit(history).recommend(np.arange(history.n_customers), 10)
    bought = history.customer_items("binary")
    rows = np.repeat(np.arange(history.n_customers), 10)
    assert bought[rows, ranked.items.ravel()].sum() > 0


def test_a_batch_spanning_many_blocks_equals_one_by_one(history: OrderHistory, monkeypatch: pytest.MonkeyPatch) -> None:
    model = CollaborativeModel(SMALL).fit(history)
    monkeypatch.setattr(ranking, "BLOCK_CELLS", history.n_items * 3)  # 3 customers per block
    customers = np.random.default_rng(1).permutation(history.n_customers)[:40]
    batch = model.recommend(customers, 8)
    for i, c in enumerate(customers):
        single = model.recommend(np.array([c]), 8)
        assert np.array_equal(batch.items[i], single.items[0])
        assert np.array_equal(batch.scores[i], single.scores[0])  # exact scores: no BLAS rounding by block size


def test_customers_without_history_get_the_most_bought_items(history: OrderHistory) -> None:
    cut = np.quantile(history.ordered_at, 0.3)
    early = history.select(history.ordered_at < cut)
    cold = np.setdiff1d(np.arange(history.n_customers), early.customer)
    assert len(cold) > 1
    model = CollaborativeModel(SMALL).fit(early)
    assert np.all(model.user_factors[cold] == 0)
    ranked = model.recommend(cold, 5)
    buyers = np.bincount(early.customer_items("binary").indices, minlength=history.n_items)
    assert np.all(ranked.items == ranked.items[0]), "every cold customer gets the same popularity list"
    assert np.array_equal(np.sort(buyers[ranked.items[0]])[::-1], np.sort(buyers)[::-1][:5])


def test_factor_properties(history: OrderHistory) -> None:
    model = CollaborativeModel(SMALL).fit(history)
    assert model.user_factors.shape == (history.n_customers, 8)
    assert model.item_factors.shape == (history.n_items, 8)
    assert model.user_factors.dtype == np.float32 and model.item_factors.dtype == np.float32
    scores = model.recommend(np.array([3]), 1).scores[0, 0]
    best = model.item_factors @ model.user_factors[3]
    best[history.customer_items("binary")[3].indices] = -np.inf
    np.testing.assert_allclose(scores, best.max(), rtol=1e-5)


def test_seed_changes_the_factors(history: OrderHistory) -> None:
    a = CollaborativeModel(CollaborativeConfig(factors=8, iterations=2, seed=1)).fit(history)
    b = CollaborativeModel(CollaborativeConfig(factors=8, iterations=2, seed=2)).fit(history)
    assert not np.allclose(a.item_factors, b.item_factors)


@pytest.mark.parametrize("weighting", ["bm25", "alpha", "none"])
def test_confidences_are_positive_on_the_bought_pattern(make_history: MakeHistory, weighting: str) -> None:
    # "milk" is bought by every customer: BM25's idf would make it <= 0, read by ALS as "disliked"
    history = make_history([("a", "milk", 0), ("b", "milk", 1), ("b", "tea", 1), ("c", "milk", 2)])
    counts = history.customer_items("count")
    weighted = confidence_matrix(counts, CollaborativeConfig(weighting=weighting, alpha=2.0))
    assert np.array_equal(weighted.indptr, counts.indptr) and np.array_equal(weighted.indices, counts.indices)
    assert np.all(weighted.data > 0)


def test_without_a_gpu_als_runs_on_the_cpu(history: OrderHistory) -> None:
    """Here (no CUDA build of implicit, or no device) "auto" means the CPU; "cpu" means it everywhere, and its
    factors are those of implicit's CPU model with the same seed."""
    from implicit.cpu.als import AlternatingLeastSquares

    assert fit_device(SMALL.model_copy(update={"device": "cpu"})) == "cpu"
    if gpu_available():
        pytest.skip("a CUDA device is found here: test_on_a_gpu_als_gives_the_same_bundle covers it")
    assert fit_device(SMALL) == "cpu"
    model = CollaborativeModel(SMALL).fit(history)
    counts = history.interactions("count")
    bare = AlternatingLeastSquares(
        factors=8, regularization=SMALL.regularization, alpha=1.0, iterations=10, random_state=42
    )
    bare.fit(confidence_matrix(counts, SMALL), show_progress=False)
    np.testing.assert_allclose(model.item_factors, bare.item_factors, rtol=1e-4, atol=1e-5)
    active = np.diff(counts.indptr) > 0
    np.testing.assert_allclose(model.user_factors[active], bare.user_factors[active], rtol=1e-4, atol=1e-5)


def test_on_a_gpu_als_gives_the_same_bundle(history: OrderHistory, tmp_path: Path) -> None:
    if not gpu_available():
        pytest.skip("no CUDA device for implicit here (implicit.gpu.HAS_CUDA is False or no device)")
    assert fit_device(SMALL) == "gpu"
    on_gpu = CollaborativeModel(SMALL).fit(history)
    on_cpu = CollaborativeModel(SMALL.model_copy(update={"device": "cpu"})).fit(history)
    for gpu, cpu in ((on_gpu.user_factors, on_cpu.user_factors), (on_gpu.item_factors, on_cpu.item_factors)):
        assert type(gpu) is np.ndarray and gpu.dtype == np.float32 and gpu.shape == cpu.shape
        assert np.isfinite(gpu).all()
    on_gpu.save(tmp_path / "gpu")
    loaded = CollaborativeModel.load(tmp_path / "gpu")
    customers = np.arange(history.n_customers)
    np.testing.assert_array_equal(loaded.recommend(customers, 5).items, on_gpu.recommend(customers, 5).items)
