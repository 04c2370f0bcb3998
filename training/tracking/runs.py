"""MLflow runs: the tracking store, ``recs train``'s run with its tuning candidates, ``recs tune``'s runs.

With ``MLFLOW_TRACKING_URI`` unset, runs go to a local sqlite store with an explicit artifact location under
``RECS_HOME``. ``recs tune``: one parent run (tag ``recs.kind=tune``) holds the baselines, the best config's
params, its metrics (those of the trial each part came from), ``best.<objective>`` and
``best_trial.<objective>``, and ``best_config.json``; one nested child run per trial holds that trial's full
config as params, its metrics and the sampled values (tag ``recs.sampled``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow import MlflowClient
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from recommender.bundle import BundleConfig, ModelBundle
from training.self_tune import TUNED_SURFACES, TuneOutcome
from training.settings import TrainingSettings
from training.tracking.aliases import CANDIDATE, current_champion
from training.tracking.registry import Evidence, RegisteredRun, promote_if_better

if TYPE_CHECKING:
    from training.search import Trial

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
RECOMMENDER_PACKAGE = Path(__file__).resolve().parents[2] / "recommender"


def connect(settings: TrainingSettings) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists."""
    uri = settings.resolved_tracking_uri
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bar per logged file
    if uri.startswith("sqlite:///"):
        settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if client.get_experiment_by_name(settings.experiment) is None:
        location = settings.artifact_root.as_uri() if not settings.tracking_uri else None
        client.create_experiment(settings.experiment, artifact_location=location)
    return client


def flatten_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> ``{"collaborative.factors": "64", ...}`` (MLflow params are strings)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return flat


def pyfunc_signature() -> ModelSignature:
    inputs = Schema([ColSpec("string", "customer_id", required=False), ColSpec("string", "item_id", required=False)])
    outputs = Schema(
        [
            ColSpec("string", "id"),
            ColSpec("integer", "rank"),
            ColSpec("string", "item_id"),
            ColSpec("float", "score"),
            ColSpec("boolean", "fallback"),
        ]
    )
    params = ParamSchema([ParamSpec("k", "long", 10), ParamSpec("surface", "string", "next_purchase")])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def log_training(
    client: MlflowClient,
    settings: TrainingSettings,
    *,
    params: dict[str, Any],
    metrics: dict[str, float],
    bundle: ModelBundle,
    artifacts: dict[str, Path],
    texts: dict[str, str],
    tags: dict[str, str] | None = None,
    promote: bool = False,
    evidence: Evidence | None = None,
) -> RegisteredRun:
    """One MLflow run: params, metrics, artifacts, the pyfunc model; registers a version and sets aliases."""
    experiment = client.get_experiment_by_name(settings.experiment)
    assert experiment is not None  # connect() created it
    with mlflow.start_run(experiment_id=experiment.experiment_id, tags=tags) as run:
        mlflow.log_params(flatten_params(params))
        mlflow.log_metrics(metrics)
        for artifact_dir, path in artifacts.items():
            mlflow.log_artifact(str(path), artifact_path=artifact_dir)
        for name, text in texts.items():
            mlflow.log_text(text, name)
        with tempfile.TemporaryDirectory(prefix="recs-bundle-") as tmp, warnings.catch_warnings():
            # MLflow nags about type hints and input examples; the signature below is explicit
            warnings.simplefilter("ignore", UserWarning)
            bundle_dir = bundle.save(Path(tmp) / "bundle")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_CODE),
                artifacts={"bundle": str(bundle_dir)},
                code_paths=[str(RECOMMENDER_PACKAGE)],
                signature=pyfunc_signature(),
                pip_requirements=_pip_requirements(),
                registered_model_name=settings.model_name,
                await_registration_for=0,
            )
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    client.set_registered_model_alias(settings.model_name, CANDIDATE, version)
    champion = current_champion(client, settings.model_name)
    if not promote:
        return RegisteredRun(run_id, settings.model_name, version, False, champion, None)
    decision = promote_if_better(client, settings.model_name, version, metrics, evidence)
    champion = version if decision.promoted else champion
    return RegisteredRun(
        run_id, settings.model_name, version, decision.promoted, champion, decision.previous_metric, decision.reason
    )


def log_candidates(client: MlflowClient, settings: TrainingSettings, parent_run_id: str, tuning: TuneOutcome) -> None:
    """Every candidate of ``recs train``'s own tuning as a child run of the training run: its section's config
    as params, its validation metrics (``recs tune``'s names), its overrides and whether it was picked."""
    from mlflow.entities import Metric, Param

    experiment = client.get_experiment_by_name(settings.experiment)
    assert experiment is not None
    picked = {id(best) for s in TUNED_SURFACES if (best := tuning.picked(s)) is not None}
    now = int(time.time() * 1000)
    for candidate in tuning.candidates:
        tags = {
            MLFLOW_PARENT_RUN_ID: parent_run_id,
            "recs.kind": "train-candidate",
            "recs.surface": candidate.surface,
            "recs.overrides": json.dumps(candidate.overrides, sort_keys=True),
            "recs.picked": str(id(candidate) in picked).lower(),
            "recs.split": "validation",
        }
        if candidate.error is not None:
            tags["recs.error"] = candidate.error[:5000]
        run = client.create_run(experiment.experiment_id, run_name=f"candidate-{candidate.number:02d}", tags=tags)
        section = {candidate.surface: getattr(candidate.config, candidate.surface).model_dump(mode="json")}
        params = [Param(key, value) for key, value in flatten_params(section).items()]
        values = {**candidate.metrics, "seconds.candidate": candidate.seconds}
        metrics = [Metric(key, float(value), now, 0) for key, value in values.items()]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id, status="FAILED" if candidate.error is not None else "FINISHED")


@contextmanager
def parent_run(settings: TrainingSettings, tags: Mapping[str, str]) -> Iterator[str]:
    """Open the search's parent run in the configured store; yields its run id."""
    client = connect(settings)
    experiment = client.get_experiment_by_name(settings.experiment)
    assert experiment is not None  # connect() created it
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name="tune", tags=dict(tags)) as run:
        yield run.info.run_id


def log_trial_run(trial: Trial) -> str:
    """One nested child run under the active parent: the trial's full config, metrics, sampled values."""
    parent = mlflow.active_run()
    experiment_id = parent.info.experiment_id if parent is not None else None
    run = mlflow.start_run(experiment_id=experiment_id, run_name=f"trial-{trial.number:03d}", nested=True)
    mlflow.log_params(flatten_params(trial.config.model_dump(mode="json")))
    mlflow.set_tags(
        {
            "recs.kind": "tune-trial",
            "recs.trial": str(trial.number),
            "recs.strategy": trial.strategy,
            "recs.sampled": json.dumps(trial.values),
        }
    )
    mlflow.log_metrics({**trial.metrics, "seconds.trial": trial.seconds})
    if trial.error is not None:
        mlflow.set_tag("recs.error", trial.error[:5000])
    mlflow.end_run(status="FAILED" if trial.error is not None else "FINISHED")
    return run.info.run_id


def log_best_on_parent(
    best: BundleConfig,
    metrics: Mapping[str, float],
    winners: Mapping[str, Trial],
    baselines: Mapping[str, float],
    trials: list[Trial],
) -> None:
    """On the active parent run: the best config (params and ``best_config.json``), its metrics, the
    baselines, ``best.<objective>``, ``best_trial.<objective>`` and the search's counts."""
    mlflow.log_params(flatten_params(best.model_dump(mode="json")))
    summary = {
        "search.trials": float(len(trials)),
        "search.failed_trials": float(sum(t.error is not None for t in trials)),
        "search.seconds": float(sum(t.seconds for t in trials)),
    }
    for metric, trial in winners.items():
        summary[f"best.{metric}"] = trial.metrics[metric]
        summary[f"best_trial.{metric}"] = float(trial.number)
    mlflow.log_metrics({**baselines, **metrics, **summary})
    mlflow.log_text(best.model_dump_json(indent=2), "best_config.json")


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    packages = ("numpy", "scipy", "implicit", "threadpoolctl", "pydantic", "pandas", "mlflow")
    return [f"{name}=={version(name)}" for name in packages]
