"""The training job's cheaper plumbing keeps its results: evaluation fits only what it scores, the final
fit runs beside it, MLflow connects in the background only once the data passed its checks, and the phase
timings are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.bundle import BundleConfig, ModelBundle
from recommender.data import LoadResult, load_orders
from recommender.errors import TooManyRejectsError
from training.pipeline import EvaluationReport, fit_evaluated_models, prepare_evaluation, score_models, train

RECS = str(Path(sys.executable).with_name("recs"))


def test_evaluation_models_score_exactly_as_the_whole_bundle(shop: dict[str, Path]) -> None:
    history = load_orders(shop["orders"], catalog_path=shop["catalog"]).history
    config = BundleConfig()
    data = prepare_evaluation(history, config)
    lean, whole = EvaluationReport(), EvaluationReport()
    bundle = fit_evaluated_models(data.split.train, config)
    score_models(data, bundle, config, lean)
    score_models(data, ModelBundle.fit(data.split.train, config), config, whole)
    assert lean.rows == whole.rows
    assert set(bundle.models) == {"collaborative", "for_you", "next_purchase"}


def test_final_fit_beside_the_evaluation_is_the_plain_fit(shop: dict[str, Path], tmp_path: Path) -> None:
    """The bundle fitted in its own thread while the evaluation runs is byte for byte the sequential one (with
    the config the tuning picked)."""
    outcome = train(shop["orders"], shop["catalog"])
    alone = ModelBundle.fit(load_orders(shop["orders"], catalog_path=shop["catalog"]).history, outcome.config)
    manifests = [
        json.loads((bundle.save(tmp_path / name) / "manifest.json").read_text())
        for name, bundle in (("threaded", outcome.bundle), ("alone", alone))
    ]
    assert manifests[0]["files"] == manifests[1]["files"]


def test_on_loaded_runs_once_after_the_checks(shop: dict[str, Path], tmp_path: Path) -> None:
    seen: list[LoadResult] = []
    outcome = train(shop["orders"], shop["catalog"], on_loaded=seen.append)
    assert seen == [outcome.load]

    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,item_id,ordered_at\nc1,tent,2026-01-01\n,tent,2026-01-02\n")
    seen.clear()
    with pytest.raises(TooManyRejectsError):
        train(bad, on_loaded=seen.append)
    assert seen == []


def _recs(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECS_HOME": str(home), "RECS_MODEL_NAME": "speed-recs", "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([RECS, *args], capture_output=True, text=True, env=env, timeout=300)


def test_bad_data_never_opens_the_store(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,item_id,ordered_at\nc1,tent,2026-01-01\nc2,tent,never\n")
    result = _recs(["train", "--orders", str(bad)], tmp_path / "home")
    assert result.returncode == 2, result.stdout + result.stderr
    assert not (tmp_path / "home" / "mlflow.db").exists()


def test_metrics_json_reports_every_phase(shop: dict[str, Path], tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.json"
    args = ["train", "--orders", str(shop["orders"]), "--catalog", str(shop["catalog"]), "--metrics-json", str(metrics)]
    result = _recs(args, tmp_path / "home")
    assert result.returncode == 0, result.stdout + result.stderr
    seconds = json.loads(metrics.read_text())["seconds"]
    assert set(seconds) == {"load", "tune", "evaluate", "fit", "evaluate_and_fit", "mlflow"}
    assert all(value > 0 for value in seconds.values())
    # evaluation and the final fit overlap: together they take no longer than the two one after the other
    assert seconds["evaluate_and_fit"] <= seconds["evaluate"] + seconds["fit"] + 0.5


def test_an_error_in_the_final_fit_reaches_the_caller(shop: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> ModelBundle:
        raise MemoryError("no room for the final fit")

    monkeypatch.setattr(ModelBundle, "fit", broken)
    with pytest.raises(MemoryError, match="final fit"):
        train(shop["orders"], shop["catalog"])
