"""MLflow against a real sqlite store under a temp dir: runs, registry, aliases, pyfunc load and predict."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.registering import register
from training import tracking
from training.settings import TrainingSettings


def _log(
    settings: TrainingSettings,
    trained,
    metrics: dict[str, float] | None = None,
    promote: bool = True,
    evidence: tracking.Evidence | None = None,
) -> tracking.RegisteredRun:
    return register(
        settings,
        trained,
        metrics=metrics,
        promote=promote,
        evidence=evidence,
        params=trained.config.model_dump(mode="json"),
        texts={"evaluation/metrics_table.md": "| method |\n"},
    )


def _alias(client: MlflowClient, settings: TrainingSettings, alias: str) -> str:
    return str(client.get_model_version_by_alias(settings.model_name, alias).version)


def test_local_store_is_sqlite_under_recs_home(recs_home: Path) -> None:
    settings = TrainingSettings()
    assert settings.resolved_tracking_uri == f"sqlite:///{(recs_home / 'mlflow.db').resolve()}"
    tracking.connect(settings)
    assert (recs_home / "mlflow.db").exists()
    uri = settings.resolved_tracking_uri
    experiment = MlflowClient(uri, registry_uri=uri).get_experiment_by_name(settings.experiment)
    assert experiment is not None
    assert experiment.artifact_location == (recs_home / "mlartifacts").resolve().as_uri()


def test_run_has_params_metrics_artifacts_and_a_registered_candidate(recs_home: Path, trained) -> None:
    settings = TrainingSettings()
    registered = _log(settings, trained)
    client = MlflowClient(settings.resolved_tracking_uri, registry_uri=settings.resolved_tracking_uri)
    run = client.get_run(registered.run_id)

    assert run.data.params["collaborative.factors"] == str(trained.config.collaborative.factors)
    assert run.data.params["complements.window_days"] == str(trained.config.complements.window_days)
    for name in (
        "next_purchase.recall_at_10",
        "next_purchase.ndcg_at_20",
        "next_purchase.baseline.gp_topfreq.recall_at_10",
        "for_you.precision_at_10",
        "complements.hit_rate_at_5",
    ):
        assert name in run.data.metrics, name
        assert run.data.metrics[name] == pytest.approx(trained.report.metrics[name])
    artifacts = {a.path for a in client.list_artifacts(registered.run_id)}
    assert {"data", "evaluation"} <= artifacts
    assert [a.path for a in client.list_artifacts(registered.run_id, "data")] == ["data/rejects.csv"]

    version = client.get_model_version_by_alias(settings.model_name, "candidate")
    assert str(version.version) == registered.version
    assert version.run_id == registered.run_id


def test_champion_moves_only_on_comparable_evidence(recs_home: Path, trained) -> None:
    """Promotion compares the new version and the champion on the same evaluation (``Evidence``): a tie
    promotes (fresher data), a loss does not, and too few scored customers or no measure of the champion on
    the same split never promote."""
    settings = TrainingSettings()
    base = dict(trained.report.metrics)
    metric = tracking.PROMOTION_METRIC

    def evidence(new: float, champion: float | None, scored: int = 500) -> tracking.Evidence:
        return tracking.Evidence(new, champion, scored, 200)

    first = _log(settings, trained, {**base, metric: 0.30}, evidence=evidence(0.30, None))
    assert first.promoted and "first @champion" in (first.promotion_reason or "")  # no champion yet
    worse = _log(settings, trained, {**base, metric: 0.20}, evidence=evidence(0.20, 0.30))
    assert not worse.promoted and worse.previous_champion_metric == pytest.approx(0.30)
    assert "0.2000" in (worse.promotion_reason or "") and "0.3000" in (worse.promotion_reason or "")
    client = MlflowClient(settings.resolved_tracking_uri, registry_uri=settings.resolved_tracking_uri)
    assert _alias(client, settings, "champion") == first.version
    assert _alias(client, settings, "candidate") == worse.version

    # a higher number measured on other data proves nothing: no measure of the champion on this split
    unmeasured = _log(settings, trained, {**base, metric: 0.99}, evidence=evidence(0.99, None))
    assert not unmeasured.promoted and "could not be measured" in (unmeasured.promotion_reason or "")
    too_few = _log(settings, trained, {**base, metric: 0.99}, evidence=evidence(0.99, 0.30, scored=6))
    assert not too_few.promoted and "scored 6 customers, fewer than the 200" in (too_few.promotion_reason or "")
    assert _alias(client, settings, "champion") == first.version

    tie = _log(settings, trained, {**base, metric: 0.30}, evidence=evidence(0.30, 0.30))
    assert tie.promoted and _alias(client, settings, "champion") == tie.version

    not_asked = _log(settings, trained, {**base, metric: 0.99}, promote=False)
    assert not not_asked.promoted and not_asked.promotion_reason is None
    assert _alias(client, settings, "champion") == tie.version


def test_pyfunc_champion_loads_and_predicts_for_customer_ids(recs_home: Path, trained) -> None:
    settings = TrainingSettings()
    _log(settings, trained)
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@champion")

    known = str(trained.bundle.customers.ids[0])
    out = model.predict(pd.DataFrame({"customer_id": [known, "nobody-knows-me"]}), params={"k": 5})
    assert list(out.columns) == ["id", "rank", "item_id", "score", "fallback"]
    mine = out[out["id"] == known]
    assert list(mine["rank"]) == [1, 2, 3, 4, 5]
    assert not mine["fallback"].any()
    assert np.all(np.diff(mine["score"].to_numpy()) <= 1e-6)
    stranger = out[out["id"] == "nobody-knows-me"]
    assert len(stranger) == 5 and stranger["fallback"].all()
    assert set(out["item_id"]) <= set(trained.bundle.items.ids)

    # the same answer the bundle gives directly
    direct = trained.bundle.recommend([known], "next_purchase", k=5)
    assert list(mine["item_id"]) == list(direct["item_id"])


def test_pyfunc_item_surfaces_take_item_ids(recs_home: Path, trained) -> None:
    settings = TrainingSettings()
    _log(settings, trained)
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@candidate")
    item = str(trained.bundle.items.ids[0])
    out = model.predict(pd.DataFrame({"item_id": [item]}), params={"k": 3, "surface": "similar"})
    assert 1 <= len(out) <= 3
    assert item not in set(out["item_id"])


def test_a_local_artifact_store_is_read_in_place_not_copied(recs_home: Path, trained, tmp_path: Path) -> None:
    settings = TrainingSettings()
    registered = _log(settings, trained)
    client = tracking.connect(settings)
    uri = f"models:/{settings.model_name}/{registered.version}"
    folder = tracking.local_bundle_path(client, uri)
    assert folder is not None and folder.is_relative_to((recs_home / "mlartifacts").resolve())
    destination = tmp_path / "download"
    destination.mkdir()
    bundle = tracking.download_bundle(client, uri, destination)
    assert list(destination.iterdir()) == [], "nothing copied"
    np.testing.assert_array_equal(bundle.customers.ids, trained.bundle.customers.ids)
    np.testing.assert_array_equal(bundle.items.ids, trained.bundle.items.ids)
    with pytest.raises(LookupError):
        tracking.local_bundle_path(client, f"models:/{settings.model_name}/99")
