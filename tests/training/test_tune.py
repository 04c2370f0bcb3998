"""``recs tune``: the search space, the per-trial evaluation, the budget, the best config, MLflow child runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from mlflow import MlflowClient
from rich.console import Console
from typer.testing import CliRunner

from recommender.bundle import BundleConfig
from recommender.data import load_orders
from recommender.errors import DataError
from recommender.evaluation import split_last_order
from recommender.history import OrderHistory
from training import search, search_space, tune
from training.pipeline import evaluate
from training.settings import TrainingSettings

TINY_CUSTOMERS = 300


@pytest.fixture(scope="module")
def tiny_shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from recommender.synthetic import generate

    return generate(tmp_path_factory.mktemp("tiny-shop"), customers=TINY_CUSTOMERS, seed=5)


@pytest.fixture(scope="module")
def tiny_history(tiny_shop: dict[str, Path]) -> OrderHistory:
    return load_orders(tiny_shop["orders"], catalog_path=tiny_shop["catalog"]).history


def _app() -> typer.Typer:
    """``recs tune`` as the lead registers it: ``app.command("tune")(tune_command)``."""
    app = typer.Typer()
    app.command("tune")(tune.tune_command)

    @app.callback()
    def _root() -> None:
        """recs"""

    return app


# search space ---------------------------------------------------------------------------------------------
def test_default_space_names_valid_bundle_config_fields() -> None:
    search_space.check_space(search_space.DEFAULT_SPACE, BundleConfig())
    with pytest.raises(search_space.SearchSpaceError, match=r"collaborative\.factorz"):
        search_space.apply_values(BundleConfig(), {"collaborative.factorz": 8})
    with pytest.raises(search_space.SearchSpaceError):
        search_space.apply_values(BundleConfig(), {"next_purchase.recency_decay": 1.5})  # the model allows (0, 1]


def test_sampling_is_seeded_and_stays_in_the_space() -> None:
    draws = [search_space.sample_values(search_space.DEFAULT_SPACE, np.random.default_rng(9)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(1)
    samples = [search_space.sample_values(search_space.DEFAULT_SPACE, rng) for _ in range(30)]
    for path, param in search_space.DEFAULT_SPACE.items():
        values = [s[path] for s in samples]
        if isinstance(param, search_space.Choice):
            assert set(values) <= set(param.values)
        else:
            assert all(param.low <= v <= param.high for v in values)
        assert len(set(values)) > 1, f"{path} never varies"
    config = search_space.apply_values(BundleConfig(), samples[0])
    assert config.collaborative.factors == samples[0]["collaborative.factors"]
    assert config.complements.shrinkage == samples[0]["complements.shrinkage"]


def test_local_steps_stay_in_the_space_and_move_few_parameters() -> None:
    space, rng = search_space.DEFAULT_SPACE, np.random.default_rng(4)
    start = search_space.current_values(space, BundleConfig())
    for _ in range(20):
        values = search_space.local_values(space, BundleConfig(), rng)
        changed = [path for path in space if values[path] != start[path]]
        assert 1 <= len(changed) < len(space) // 2 + 3
        for path in changed:
            param = space[path]
            if isinstance(param, search_space.Choice):
                assert values[path] in param.values
            else:
                assert param.low <= values[path] <= param.high


# evaluation and search -------------------------------------------------------------------------------------
def test_trial_metrics_are_the_pipeline_metrics(tiny_history: OrderHistory) -> None:
    """The cheaper per-trial evaluation scores the same numbers under the same names as ``recs train``."""
    config = BundleConfig()
    data = search.prepare(tiny_history, config)
    ours = {**search.evaluate_trial(data, config), **search.baseline_metrics(data)}
    full = {k: v for k, v in evaluate(tiny_history, config).metrics.items() if not k.startswith("eval.")}
    assert set(ours) == set(full)
    assert "next_purchase.ndcg_at_10" in ours and "complements.hit_rate_at_5" in ours
    for name, value in full.items():
        assert ours[name] == pytest.approx(value, abs=1e-9), name


def test_validation_keeps_the_reported_last_orders_out_of_the_search(tiny_history: OrderHistory) -> None:
    reported = split_last_order(tiny_history)
    searched = search.search_history(tiny_history, validation=True)
    assert searched.n_lines == reported.train.n_lines
    assert search.search_history(tiny_history, validation=False) is tiny_history
    search_split = search.prepare(searched, BundleConfig()).split
    common = np.intersect1d(search_split.customers, reported.customers)
    assert len(common) > 0
    at_search = search_split.at[np.searchsorted(search_split.customers, common)]
    at_reported = reported.at[np.searchsorted(reported.customers, common)]
    assert (at_search <= at_reported).all() and (at_search < at_reported).mean() > 0.9


def _trial(number: int, seconds: float = 1.0) -> search.Trial:
    return search.Trial(number=number, values={}, config=BundleConfig(), seconds=seconds)


def test_budget_stops_before_a_trial_that_would_overrun() -> None:
    budget = search.Budget(seconds=10.0)
    assert budget.allows([], elapsed=50.0)  # the starting config always runs
    assert budget.allows([_trial(0, 3.0), _trial(1, 3.0)], elapsed=6.0)  # 6 + 3 <= 10
    assert not budget.allows([_trial(0, 3.0), _trial(1, 3.0), _trial(2, 3.0)], elapsed=9.0)
    capped = search.Budget(seconds=1e9, max_trials=2)
    assert capped.allows([_trial(0)], elapsed=1.0)
    assert not capped.allows([_trial(0), _trial(1)], elapsed=2.0)


def test_run_trials_starts_from_base_and_survives_a_failing_trial(tiny_history: OrderHistory) -> None:
    base = BundleConfig()
    data = search.prepare(tiny_history, base)
    calls: list[BundleConfig] = []

    def evaluator(_data: search.SearchData, config: BundleConfig) -> dict[str, float]:
        calls.append(config)
        if len(calls) == 2:
            raise DataError("this config cannot be fitted")
        return {"next_purchase.ndcg_at_10": float(config.collaborative.factors)}

    trials = search.run_trials(
        data,
        base,
        search_space.DEFAULT_SPACE,
        search.Budget(1e9, max_trials=4),
        np.random.default_rng(2),
        evaluator=evaluator,
    )
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert trials[0].values == {} and trials[0].config == base
    assert trials[1].error is not None and "cannot be fitted" in trials[1].error and trials[1].metrics == {}
    assert all(t.error is None for t in (trials[0], trials[2], trials[3]))
    assert trials[2].config != base  # later trials are sampled


def test_a_start_that_is_not_the_defaults_is_searched_with_the_defaults(tiny_history: OrderHistory) -> None:
    """A later search starts from an earlier best_config.json; the defaults are trial 1, so the best config
    never scores below them on the search's split (here the defaults score best of all)."""
    defaults = BundleConfig()
    base = defaults.model_copy(
        update={
            "collaborative": defaults.collaborative.model_copy(update={"factors": defaults.collaborative.factors * 2})
        }
    )
    data = search.prepare(tiny_history, base)

    def evaluator(_data: search.SearchData, config: BundleConfig) -> dict[str, float]:
        distance = abs(config.collaborative.factors - defaults.collaborative.factors)
        return {"next_purchase.ndcg_at_10": 1.0 / (1.0 + distance)}

    trials = search.run_trials(
        data,
        base,
        search_space.DEFAULT_SPACE,
        search.Budget(0.0, max_trials=4),
        np.random.default_rng(3),
        evaluator=evaluator,
    )
    assert [t.strategy for t in trials[:2]] == ["start", "defaults"]  # both run, even with no time budget left
    assert trials[0].config == base and trials[1].config == defaults
    best, metrics = search.compose_best(base, search.best_trials(trials))
    assert metrics["next_purchase.ndcg_at_10"] == 1.0 and best.collaborative == defaults.collaborative


def test_local_trials_step_from_the_best_so_far(tiny_history: OrderHistory) -> None:
    base = BundleConfig()
    data = search.prepare(tiny_history, base)

    def evaluator(_data: search.SearchData, config: BundleConfig) -> dict[str, float]:
        score = 1.0 if config == base else 0.0  # the starting config stays the best
        return {"next_purchase.ndcg_at_10": score, "complements.hit_rate_at_5": score}

    budget = search.Budget(1e9, max_trials=30)
    trials = search.run_trials(
        data, base, search_space.DEFAULT_SPACE, budget, np.random.default_rng(3), evaluator=evaluator
    )
    start = search_space.current_values(search_space.DEFAULT_SPACE, base)

    def n_changed(trial: search.Trial) -> int:
        return sum(trial.values[path] != start[path] for path in search_space.DEFAULT_SPACE)

    local = [n_changed(t) for t in trials if t.strategy == "local"]
    fresh = [n_changed(t) for t in trials if t.strategy == "random"]
    assert local and fresh and trials[0].strategy == "start"
    assert min(local) >= 1
    assert max(local) < min(fresh)


def test_best_config_takes_each_section_from_its_objectives_winner() -> None:
    base = BundleConfig()
    good_np = search_space.apply_values(base, {"next_purchase.recency_decay": 0.7, "complements.shrinkage": 3.0})
    good_comp = search_space.apply_values(base, {"next_purchase.recency_decay": 0.6, "complements.shrinkage": 50.0})
    trials = [
        search.Trial(0, {}, base, {"next_purchase.ndcg_at_10": 0.30, "complements.hit_rate_at_5": 0.40}),
        search.Trial(1, {}, good_np, {"next_purchase.ndcg_at_10": 0.35, "complements.hit_rate_at_5": 0.10}),
        search.Trial(2, {}, good_comp, {"next_purchase.ndcg_at_10": 0.20, "complements.hit_rate_at_5": 0.50}),
        search.Trial(3, {}, base, error="failed"),
    ]
    winners = search.best_trials(trials)
    assert {m: t.number for m, t in winners.items()} == {"next_purchase.ndcg_at_10": 1, "complements.hit_rate_at_5": 2}
    best, metrics = search.compose_best(base, winners)
    assert best.next_purchase.recency_decay == 0.7
    assert best.complements.shrinkage == 50.0
    assert metrics == {"next_purchase.ndcg_at_10": 0.35, "complements.hit_rate_at_5": 0.50}


# the command, with a real MLflow store ------------------------------------------------------------------------
def test_tune_logs_child_runs_and_the_next_train_uses_the_best(tiny_shop: dict[str, Path], recs_home: Path) -> None:
    args = ["tune", "--orders", str(tiny_shop["orders"]), "--catalog", str(tiny_shop["catalog"])]
    result = CliRunner().invoke(_app(), [*args, "--trials", "3", "--seed", "4", "--minutes", "5"])
    assert result.exit_code == 0, result.output
    assert "best config written" in result.output and "second-to-last" in result.output
    assert "next_purchase.ndcg_at_10: best" in result.output and "the defaults" in result.output

    settings = TrainingSettings()
    client = MlflowClient(settings.resolved_tracking_uri, registry_uri=settings.resolved_tracking_uri)
    experiment = client.get_experiment_by_name(settings.experiment)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("recs.kind") == "tune"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3
    assert sorted(int(c.data.tags["recs.trial"]) for c in children) == [0, 1, 2]
    for child in children:
        assert child.info.status == "FINISHED"
        assert {"collaborative.factors", "next_purchase.recency_decay", "complements.window_days"} <= set(
            child.data.params
        )
        assert 0 < child.data.metrics["next_purchase.ndcg_at_10"] <= 1
    assert len({json.dumps(c.data.params, sort_keys=True) for c in children}) == 3  # three different configs

    best_ndcg = max(c.data.metrics["next_purchase.ndcg_at_10"] for c in children)
    assert parent.data.metrics["best.next_purchase.ndcg_at_10"] == pytest.approx(best_ndcg)
    assert parent.data.metrics["next_purchase.ndcg_at_10"] == pytest.approx(best_ndcg)
    assert "next_purchase.baseline.gp_topfreq.ndcg_at_10" in parent.data.metrics
    winner = next(c for c in children if c.data.metrics["next_purchase.ndcg_at_10"] == best_ndcg)

    saved = BundleConfig.model_validate_json(settings.best_config_path.read_text())
    assert str(saved.next_purchase.recency_decay) == winner.data.params["next_purchase.recency_decay"]
    assert str(saved.collaborative.factors) == winner.data.params["collaborative.factors"]
    assert parent.data.params["next_purchase.recency_decay"] == str(saved.next_purchase.recency_decay)

    from training.config_file import load_bundle_config

    console = Console(record=True, width=400)
    assert load_bundle_config(None, settings, console) == saved
    assert str(settings.best_config_path) in console.export_text()


def test_tune_exits_2_on_unreadable_orders(tmp_path: Path, recs_home: Path) -> None:
    result = CliRunner().invoke(_app(), ["tune", "--orders", str(tmp_path / "missing.csv"), "--trials", "1"])
    assert result.exit_code == 2
    assert "error" in result.output


def test_tune_needs_three_orders_per_customer_with_validation(tmp_path: Path, recs_home: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "customer_id,item_id,ordered_at\nc1,a,2024-01-01\nc1,b,2024-01-08\nc2,a,2024-01-02\nc2,c,2024-01-09\n"
    )
    history = load_orders(orders).history
    with pytest.raises(DataError, match="three orders"):
        tune.tune(history, BundleConfig(), TrainingSettings(), search.Budget(60.0), seed=0)
