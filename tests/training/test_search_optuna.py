"""``recs tune``'s Optuna search: the space as ``suggest_*`` calls, the starting trials, the budget, failures,
the seed, and the command's default path (never a saved config below the defaults, trials logged under the
tune run in a real MLflow store)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from recommender.bundle import BundleConfig
from recommender.data import load_orders
from recommender.errors import DataError
from recommender.history import OrderHistory
from training import search, search_optuna, search_space, tune
from training.settings import TrainingSettings

SPACE = search_space.DEFAULT_SPACE


@pytest.fixture(scope="module")
def tiny_history(tmp_path_factory: pytest.TempPathFactory) -> OrderHistory:
    from recommender.synthetic import generate

    shop = generate(tmp_path_factory.mktemp("tiny-shop"), customers=300, seed=5)
    return load_orders(shop["orders"], catalog_path=shop["catalog"]).history


@pytest.fixture(scope="module")
def data(tiny_history: OrderHistory) -> search.SearchData:
    return search.prepare(tiny_history, BundleConfig())


def _with_factors(factors: int) -> BundleConfig:
    defaults = BundleConfig()
    return defaults.model_copy(update={"collaborative": defaults.collaborative.model_copy(update={"factors": factors})})


def test_each_parameter_maps_to_its_optuna_distribution() -> None:
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    values = {path: search_optuna.suggest(trial, path, param) for path, param in SPACE.items()}
    for path, param in SPACE.items():
        distribution = trial.distributions[path]
        if isinstance(param, search_space.Choice):
            assert isinstance(distribution, optuna.distributions.CategoricalDistribution)
            assert tuple(distribution.choices) == param.values and values[path] in param.values
        else:
            assert isinstance(distribution, optuna.distributions.FloatDistribution)
            assert (distribution.low, distribution.high) == (param.low, param.high)
            assert distribution.log == isinstance(param, search_space.LogUniform)
    search_space.apply_values(BundleConfig(), values)  # a valid config


def test_a_start_that_is_not_the_defaults_is_searched_with_the_defaults(data: search.SearchData) -> None:
    """Both enqueued starting trials run, even with no time left; the defaults win here, so the best config
    is the defaults' (never below them on the search's split). 48 factors is not a listed choice: that start
    is still exactly the start."""
    base, defaults = _with_factors(48), BundleConfig()

    def evaluator(_data: search.SearchData, config: BundleConfig) -> dict[str, float]:
        distance = abs(config.collaborative.factors - defaults.collaborative.factors)
        return {"next_purchase.ndcg_at_10": 1.0 / (1.0 + distance), "complements.hit_rate_at_5": 0.5}

    trials = search_optuna.run_optuna_trials(data, base, SPACE, search.Budget(0.0), seed=3, evaluator=evaluator)
    assert [t.strategy for t in trials] == ["start", "defaults"]
    assert trials[0].config == base and trials[1].config == defaults
    best, metrics = search.compose_best(base, search.best_trials(trials))
    assert metrics["next_purchase.ndcg_at_10"] == 1.0 and best.collaborative == defaults.collaborative


def test_later_trials_are_tpes_seeded_and_survive_a_failing_trial(data: search.SearchData) -> None:
    def run(seed: int) -> list[search.Trial]:
        calls: list[BundleConfig] = []

        def evaluator(_data: search.SearchData, config: BundleConfig) -> dict[str, float]:
            calls.append(config)
            if len(calls) == 3:
                raise DataError("this config cannot be fitted")
            return {"next_purchase.ndcg_at_10": config.next_purchase.recency_decay}  # complements unmeasured

        budget = search.Budget(1e9, max_trials=14)
        return search_optuna.run_optuna_trials(data, BundleConfig(), SPACE, budget, seed, evaluator=evaluator)

    trials = run(seed=5)
    assert [t.number for t in trials] == list(range(14))
    assert trials[0].strategy == "start" and trials[0].config == BundleConfig()
    assert all(t.strategy == "tpe" for t in trials[1:])
    assert trials[2].error is not None and "cannot be fitted" in trials[2].error and trials[2].metrics == {}
    assert all(t.error is None for t in trials if t.number != 2)
    assert len({t.config.model_dump_json() for t in trials}) == 14
    for trial in trials[1:]:
        assert trial.config == search_space.apply_values(BundleConfig(), trial.values)
    assert [t.values for t in run(seed=5)] == [t.values for t in trials]  # the same seed, the same configs
    assert [t.values for t in run(seed=6)] != [t.values for t in trials]


def test_the_budget_stops_the_study(data: search.SearchData) -> None:
    def evaluator(_data: search.SearchData, config: BundleConfig) -> dict[str, float]:
        return {"next_purchase.ndcg_at_10": 0.1, "complements.hit_rate_at_5": 0.1}

    capped = search_optuna.run_optuna_trials(data, BundleConfig(), SPACE, search.Budget(1e9, 4), 0, evaluator=evaluator)
    assert len(capped) == 4
    timed = search_optuna.run_optuna_trials(data, BundleConfig(), SPACE, search.Budget(0.0), 0, evaluator=evaluator)
    assert len(timed) == 1  # the starting config always runs


def test_tune_with_optuna_never_saves_below_the_defaults_and_logs_trials_under_its_run(
    tiny_history: OrderHistory, recs_home: Path
) -> None:
    """From a poor start (a best_config.json of an earlier search), the default sampler's saved config scores
    at least the defaults on the search's own validation split; every trial is a child of the tune run."""
    defaults = BundleConfig()
    poor = search_space.apply_values(
        _with_factors(16), {"next_purchase.own_weight": 0.02, "complements.popularity_exponent": 1.0}
    )
    settings = TrainingSettings()
    assert tune.DEFAULT_SAMPLER == "tpe"
    result = tune.tune(tiny_history, poor, settings, search.Budget(1e9, max_trials=4), seed=1)
    saved = BundleConfig.model_validate_json(result.best_config_path.read_text())
    split = search.prepare(search.search_history(tiny_history, validation=True), poor)
    ours, theirs = search.evaluate_trial(split, saved), search.evaluate_trial(split, defaults)
    for objective in search.OBJECTIVES:
        assert ours[objective.metric] >= theirs[objective.metric] - 1e-12, objective.metric
    assert [t.strategy for t in result.trials[:2]] == ["start", "defaults"]

    client = MlflowClient(settings.resolved_tracking_uri, registry_uri=settings.resolved_tracking_uri)
    experiment = client.get_experiment_by_name(settings.experiment)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_id == result.parent_run_id)
    assert parent.data.tags["recs.kind"] == "tune" and parent.data.tags["recs.sampler"] == "tpe"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert sorted(c.info.run_name for c in children) == ["trial-000", "trial-001", "trial-002", "trial-003"]
    assert {c.info.run_id for c in children} == {t.run_id for t in result.trials}
    by_strategy = {c.data.tags["recs.strategy"] for c in children}
    assert by_strategy == {"start", "defaults", "tpe"}
    for child in children:
        trial = result.trials[int(child.data.tags["recs.trial"])]
        metric = "next_purchase.ndcg_at_10"
        assert child.data.metrics[metric] == pytest.approx(trial.metrics[metric])
        assert child.data.params["collaborative.factors"] == str(trial.config.collaborative.factors)
