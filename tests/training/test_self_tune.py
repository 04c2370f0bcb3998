"""``recs train`` tunes itself: validation data apart from what it reports, the candidates, the significance
rule, the budget, and the MLflow child runs of a real ``recs train``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from recommender.bundle import BundleConfig
from recommender.data import load_orders
from recommender.evaluation import split_last_order
from recommender.history import DAY, OrderHistory
from training import self_tune
from training.protocol import complements_cutoff

RECS = str(Path(sys.executable).with_name("recs"))


@pytest.fixture(scope="module")
def history(shop: dict[str, Path]) -> OrderHistory:
    return load_orders(shop["orders"], catalog_path=shop["catalog"]).history


@pytest.fixture(scope="module")
def outcome(history: OrderHistory) -> self_tune.TuneOutcome:
    return self_tune.self_tune(history, BundleConfig(), budget_seconds=600)


def test_validation_never_holds_what_recs_train_reports(history: OrderHistory) -> None:
    last = split_last_order(history)  # the evaluation's targets
    np_data = self_tune.NextPurchaseValidation.carve(history)
    # the validation's training history is the evaluation's training history without its last orders
    second = split_last_order(last.train)
    assert np_data.split.train.n_lines == second.train.n_lines < last.train.n_lines
    rows = np.searchsorted(second.customers, np_data.split.customers)
    assert (np_data.split.targets != second.targets[rows]).nnz == 0
    window = BundleConfig().complements.window_days
    cp_data = self_tune.ComplementsValidation.carve(history, window)
    cutoff = complements_cutoff(history, window)  # the evaluation's anchors come after it
    assert cp_data.events.n_anchors > 50
    assert int((cp_data.events.at + window * DAY).max()) <= cutoff
    assert cp_data.before.end_time < int(cp_data.events.at.min())


def test_every_candidate_is_scored_and_the_pick_is_a_candidate(outcome: self_tune.TuneOutcome) -> None:
    surfaces = [c.surface for c in outcome.candidates]
    assert surfaces[:2] == ["next_purchase", "complements"]  # the starts first
    assert surfaces.count("next_purchase") == len(self_tune.NEXT_PURCHASE_CANDIDATES) + 1  # + the ranker
    assert surfaces.count("complements") == len(self_tune.COMPLEMENTS_CANDIDATES)
    assert all(c.error is None and c.rows is not None for c in outcome.candidates)
    for surface, metric in (
        ("next_purchase", self_tune.NEXT_PURCHASE_METRIC),
        ("complements", self_tune.COMPLEMENTS_METRIC),
    ):
        picked = outcome.picked(surface)
        start = next(c for c in outcome.candidates if c.surface == surface)
        assert picked is not None and picked.metrics[metric] >= start.metrics[metric]
        assert getattr(outcome.config, surface) == getattr(picked.config, surface)
    ranker = [c for c in outcome.candidates if "ranker" in c.overrides]
    assert len(ranker) == 1 and ranker[0].config.next_purchase.ranker.rounds == 100


def test_a_gain_must_stand_out_from_the_noise() -> None:
    rng = np.random.default_rng(3)
    start = rng.random(4000)
    assert self_tune.significant_gain(start + 0.05, start, None)
    noise = start + rng.normal(0, 0.2, 4000)  # same mean, only noise
    assert not self_tune.significant_gain(noise, start, None)
    assert not self_tune.significant_gain(start, start, None)
    # 40 customers with 100 anchors each: one customer's anchors move together, so the same mean gain
    # from customer-wide swings is not significant once clustered
    clusters = np.repeat(np.arange(40), 100)
    swing = np.repeat(rng.normal(0.02, 0.3, 40), 100)
    assert self_tune.significant_gain(start + swing, start, None)
    assert not self_tune.significant_gain(start + swing, start, clusters)


def test_a_candidate_that_wins_by_noise_does_not_replace_the_start() -> None:
    base = BundleConfig()
    start = self_tune.Candidate(0, "complements", {}, base, {self_tune.COMPLEMENTS_METRIC: 0.40}, rows=np.zeros(10))
    start.rows[:4] = 1.0
    lucky = self_tune.Candidate(1, "complements", {"shrinkage": 5.0}, base, {self_tune.COMPLEMENTS_METRIC: 0.50})
    lucky.rows = start.rows.copy()
    lucky.rows[4] = 1.0  # one more hit of ten
    assert self_tune.pick([start, lucky], "complements") is start


def test_a_pick_is_never_below_the_defaults() -> None:
    """A start from a saved config that scores below the defaults gives way to them, gain significant or not."""
    saved = BundleConfig().model_copy(
        update={"complements": BundleConfig().complements.model_copy(update={"shrinkage": 99.0})}
    )
    start = self_tune.Candidate(0, "complements", {}, saved, {self_tune.COMPLEMENTS_METRIC: 0.40}, rows=np.zeros(10))
    defaults = self_tune.Candidate(
        1,
        "complements",
        self_tune.USE_DEFAULTS,
        BundleConfig(),
        {self_tune.COMPLEMENTS_METRIC: 0.41},
        rows=np.zeros(10),
    )
    assert self_tune.pick([start, defaults], "complements") is defaults and defaults.label == "defaults"
    worse = self_tune.Candidate(
        1,
        "complements",
        self_tune.USE_DEFAULTS,
        BundleConfig(),
        {self_tune.COMPLEMENTS_METRIC: 0.39},
        rows=np.zeros(10),
    )
    assert self_tune.pick([start, worse], "complements") is start


def test_a_saved_start_is_measured_against_the_defaults_even_without_budget(history: OrderHistory) -> None:
    defaults = BundleConfig()
    saved = defaults.model_copy(
        update={"next_purchase": defaults.next_purchase.model_copy(update={"recency_decay": 0.5})}
    )
    tuned = self_tune.self_tune(history, saved, budget_seconds=0)
    assert [(c.surface, c.label) for c in tuned.candidates] == [
        ("next_purchase", "start"),
        ("next_purchase", "defaults"),
    ]
    _start, measured = tuned.candidates
    assert measured.config.next_purchase == defaults.next_purchase
    metric = self_tune.NEXT_PURCHASE_METRIC
    assert tuned.picked("next_purchase").metrics[metric] >= measured.metrics[metric]


def test_no_budget_runs_the_start_only(history: OrderHistory) -> None:
    tuned = self_tune.self_tune(history, BundleConfig(), budget_seconds=0)
    assert [c.surface for c in tuned.candidates] == ["next_purchase"]
    assert tuned.config.next_purchase == BundleConfig().next_purchase
    assert tuned.config.complements == BundleConfig().complements


def test_overrides_merge_into_nested_sections() -> None:
    config = self_tune.with_overrides(BundleConfig(), "next_purchase", {"ranker": {"rounds": 7}, "own_weight": 0.2})
    assert config.next_purchase.ranker.rounds == 7 and config.next_purchase.own_weight == 0.2
    assert config.next_purchase.ranker.candidates == BundleConfig().next_purchase.ranker.candidates


def test_customers_with_two_orders_only_skip_next_purchase_tuning(tmp_path: Path) -> None:
    lines = ["customer_id,item_id,ordered_at"]
    for c in range(30):
        lines += [f"c{c},milk,2026-01-{1 + c % 5:02d}", f"c{c},bread,2026-02-{1 + c % 7:02d}"]
    (tmp_path / "orders.csv").write_text("\n".join(lines) + "\n")
    small = load_orders(tmp_path / "orders.csv").history
    tuned = self_tune.self_tune(small, BundleConfig(), budget_seconds=60)
    assert "next_purchase" in tuned.skipped and "three orders" in tuned.skipped["next_purchase"]
    assert tuned.config.next_purchase == BundleConfig().next_purchase


def _recs(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECS_HOME": str(home), "RECS_MODEL_NAME": "tune-recs", "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([RECS, *args], capture_output=True, text=True, env=env, timeout=300)


def test_recs_train_logs_every_candidate_as_a_child_run(shop: dict[str, Path], tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.json"
    home = tmp_path / "home"
    args = ["train", "--orders", str(shop["orders"]), "--catalog", str(shop["catalog"]), "--metrics-json", str(metrics)]
    result = _recs([*args, "--tune-budget", "600"], home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tuning on validation data" in result.stdout
    payload = json.loads(metrics.read_text())
    tuning = payload["tuning"]
    every = len(self_tune.NEXT_PURCHASE_CANDIDATES) + len(self_tune.COMPLEMENTS_CANDIDATES) + 1  # + the ranker
    assert len(tuning["candidates"]) == every
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("recs")
    children = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{payload['run_id']}'"
    )
    assert len(children) == len(tuning["candidates"])
    picked = [run for run in children if run.data.tags["recs.picked"] == "true"]
    assert {run.data.tags["recs.surface"] for run in picked} == {"next_purchase", "complements"}
    for run in picked:
        surface = run.data.tags["recs.surface"]
        assert json.loads(run.data.tags["recs.overrides"]) == tuning["picked"][surface]
    assert all("seconds.candidate" in run.data.metrics for run in children)
    parent = client.get_run(payload["run_id"])
    assert parent.data.params["tune.enabled"] == "True" and "tune.seconds" in parent.data.metrics
    # the registered config is the picked one
    assert parent.data.params["complements.shrinkage"] == str(
        self_tune.with_overrides(BundleConfig(), "complements", tuning["picked"]["complements"]).complements.shrinkage
    )


def test_no_tune_keeps_the_config_and_logs_no_candidates(shop: dict[str, Path], tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.json"
    home = tmp_path / "home"
    args = ["train", "--orders", str(shop["orders"]), "--catalog", str(shop["catalog"]), "--metrics-json", str(metrics)]
    result = _recs([*args, "--no-tune"], home)
    assert result.returncode == 0, result.stdout + result.stderr
    payload = json.loads(metrics.read_text())
    assert payload["tuning"] is None and "tune" not in payload["seconds"]
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    parent = client.get_run(payload["run_id"])
    assert parent.data.params["tune.enabled"] == "False"
    assert parent.data.params["next_purchase.own_weight"] == str(BundleConfig().next_purchase.own_weight)
    experiment = client.get_experiment_by_name("recs")
    assert len(client.search_runs([experiment.experiment_id])) == 1
