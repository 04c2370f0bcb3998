"""The model registry: which version is ``champion``, promotion, and reading a registered version's bundle.

Aliases: every new registered version gets ``candidate``; ``promote_if_better`` moves ``champion`` only when
the new version beats the current champion on ``PROMOTION_METRIC`` (or there is no champion yet).
The aliases themselves, and each move of ``champion`` with its history (what ``recs promote`` and ``recs
rollback`` do), are in ``aliases``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from recommender.bundle import MANIFEST, BundleConfig, ModelBundle
from recommender.errors import ModelFileError
from training.promotion import PROMOTION_METRIC
from training.tracking.aliases import ChampionMove, champion_version, move_champion


@dataclass(frozen=True)
class Promotion:
    """What ``promote_if_better`` decided, and why, in words the command prints."""

    promoted: bool
    reason: str
    previous_metric: float | None = None


@dataclass(frozen=True)
class Evidence:
    """The promotion metric of the new version and of the champion on one evaluation: the new run's split,
    the champion's config refitted on its training side (``training.pipeline.rescore``)."""

    new_value: float | None
    champion_value: float | None  # None: the champion could not be measured on this split (no config recorded)
    scored_customers: int  # customers the split scored
    min_customers: int  # fewer: too little evidence to promote on


@dataclass(frozen=True)
class RegisteredRun:
    run_id: str
    model_name: str
    version: str
    promoted: bool
    champion_version: str | None
    previous_champion_metric: float | None
    promotion_reason: str | None = None  # set when promotion was asked for


CONFIG_ARTIFACT = "config/bundle_config.json"  # every recs train run logs the config it trained with here


def champion_config(client: MlflowClient, model_name: str) -> tuple[str, BundleConfig] | None:
    """(version, the config it was trained with) of the current champion; None without a champion or when its
    run recorded no config (runs from before the config was logged)."""
    champion = champion_version(client, model_name)
    if champion is None or not champion.run_id:
        return None
    try:
        text = mlflow.artifacts.load_text(f"runs:/{champion.run_id}/{CONFIG_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    return str(champion.version), BundleConfig.model_validate_json(text)


def promote_if_better(
    client: MlflowClient, model_name: str, version: str, metrics: dict[str, float], evidence: Evidence | None
) -> Promotion:
    """Move ``champion`` to ``version`` when the evidence says it is at least as good as the champion on the
    same evaluation (it is fitted on fresher data, so a tie promotes), or when there is no champion yet; the
    reason is recorded on the version as a hand promotion's is (``aliases``), so that rollback undoes it.

    Never promoted: a run whose evaluation gave no promotion metric, or scored fewer than
    ``evidence.min_customers`` customers, or a champion that could not be measured on the same split."""
    champion = champion_version(client, model_name)
    decision = _compare(champion, version, metrics, evidence)
    if decision.promoted:
        previous = None if champion is None else str(champion.version)
        move_champion(client, ChampionMove(model_name, previous, version, decision.reason))
    return decision


def _compare(
    champion: ModelVersion | None, version: str, metrics: dict[str, float], evidence: Evidence | None
) -> Promotion:
    new_value = metrics.get(PROMOTION_METRIC)
    if new_value is None or not math.isfinite(new_value):
        return Promotion(
            False,
            f"not promoted: the evaluation gave no {PROMOTION_METRIC} (no customer could be scored: the data are "
            "too small to evaluate)",
        )
    if evidence is not None and evidence.scored_customers < evidence.min_customers:
        return Promotion(
            False,
            f"not promoted: the evaluation scored {evidence.scored_customers:,} customers, fewer than the "
            f"{evidence.min_customers:,} promotion needs (RECS_MIN_EVAL_CUSTOMERS)",
        )
    if champion is None:
        return Promotion(
            True, f"promoted: version {version} is the first @champion ({PROMOTION_METRIC} {new_value:.4f})"
        )
    if evidence is None or evidence.champion_value is None:
        return Promotion(
            False,
            f"not promoted: champion version {champion.version} could not be measured on this run's evaluation "
            "(no config recorded with it), so the numbers are not comparable; move it by hand if you mean to "
            "(recs promote VERSION)",
        )
    old_value = evidence.champion_value
    compared = (
        f"{PROMOTION_METRIC} on this run's evaluation: {new_value:.4f}, champion version {champion.version}'s "
        f"config refitted on the same split: {old_value:.4f}"
    )
    if new_value >= old_value:
        return Promotion(True, f"promoted: {compared}", old_value)
    return Promotion(False, f"not promoted: {compared}", old_value)


def resolve_model_version(client: MlflowClient, model_uri: str) -> tuple[str, str]:
    """(name, version) of ``models:/<name>@<alias>`` or ``models:/<name>/<version>``; LookupError if absent."""
    if not model_uri.startswith("models:/"):
        raise LookupError(f"{model_uri!r} is not a registered model URI (models:/<name>@<alias> or /<version>)")
    ref = model_uri[len("models:/") :].rstrip("/")
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return name, str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = ref.rpartition("/")
        return name, str(client.get_model_version(name, version).version)
    except MlflowException as exc:
        raise LookupError(f"no registered model version at {model_uri}") from exc


def local_bundle_path(client: MlflowClient, model_uri: str) -> Path | None:
    """The bundle folder of a registered version when its artifacts are files on this machine, else None.

    A local artifact store (the default sqlite setup) needs no download: ``ModelBundle.load`` only reads,
    and checks every file against the manifest's sha256 as it would after a copy.
    """
    name, version = resolve_model_version(client, model_uri)
    try:
        location = urlparse(client.get_model_version_download_uri(name, version))
    except MlflowException:
        return None
    if location.scheme != "file" or location.netloc not in ("", "localhost"):
        return None
    folder = Path(url2pathname(location.path)) / "artifacts" / "bundle"
    return folder if (folder / MANIFEST).is_file() else None


def download_bundle(client: MlflowClient, model_uri: str, destination: Path) -> ModelBundle:
    """Fetch the bundle of a registered model (``models:/name@alias`` or ``models:/name/version``): read
    in place from a local artifact store, downloaded into ``destination`` from any other.

    Raises ``ModelFileError`` when its artifacts cannot be fetched, or when a file is missing, damaged or
    changed since training (``ModelBundle.load`` checks every file against the manifest's sha256).
    """
    try:
        local = local_bundle_path(client, model_uri) or mlflow.artifacts.download_artifacts(
            artifact_uri=f"{model_uri.rstrip('/')}/artifacts/bundle", dst_path=str(destination)
        )
    except (MlflowException, OSError) as exc:
        raise ModelFileError(f"cannot fetch the bundle of {model_uri}: {exc}") from exc
    try:
        return ModelBundle.load(Path(local))
    except ModelFileError as exc:  # name the registered model, not only its folder
        raise type(exc)(f"the bundle of {model_uri} is refused: {exc}") from exc
