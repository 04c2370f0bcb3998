"""Live experiments in the registry: the ``challenger`` alias, and each experiment's result on both versions.

``recs experiment start`` points ``challenger`` at the challenger's version and tags both versions with the
experiment (``recs.experiment``, ``recs.experiment.role``, ``recs.experiment.started_at``). ``recs experiment
stop`` records the result on both (tags ``recs.experiment.result``: won, lost or inconclusive; the p-value,
the winner, when it ended) and logs each variant's numbers on its version's run as metric histories named
``experiment/<name>/<metric>``, one point per hour of the experiment (cumulative rates) plus the final point,
then removes the alias.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

CHALLENGER = "challenger"
EXPERIMENT_TAG = "recs.experiment"
ROLE_TAG = "recs.experiment.role"
STARTED_TAG = "recs.experiment.started_at"
ENDED_TAG = "recs.experiment.ended_at"
RESULT_TAG = "recs.experiment.result"
P_VALUE_TAG = "recs.experiment.p_value"
WINNER_TAG = "recs.experiment.winner"


@dataclass(frozen=True)
class VariantOutcome:
    """One variant's version, its result, and its metric history: (Unix ms, {metric: value}) per point."""

    role: str  # champion or challenger
    version: str
    result: str  # won, lost or inconclusive
    history: Sequence[tuple[int, Mapping[str, float]]]


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")


def mark_challenger(
    client: MlflowClient, model_name: str, challenger: str, champion: str, experiment: str, started_at: int
) -> None:
    """Point ``challenger`` at ``challenger`` and tag both versions with the experiment."""
    client.set_registered_model_alias(model_name, CHALLENGER, challenger)
    for version, role in ((challenger, "challenger"), (champion, "champion")):
        for key, value in ((EXPERIMENT_TAG, experiment), (ROLE_TAG, role), (STARTED_TAG, iso(started_at))):
            client.set_model_version_tag(model_name, version, key, value)


def record_outcome(
    client: MlflowClient,
    model_name: str,
    experiment: str,
    outcomes: Sequence[VariantOutcome],
    *,
    p_value: float | None,
    winner: str | None,
    ended_at: int,
) -> None:
    """Tag both versions with the result and log each variant's history on its version's run."""
    for outcome in outcomes:
        tags = {
            EXPERIMENT_TAG: experiment,
            ROLE_TAG: outcome.role,
            ENDED_TAG: iso(ended_at),
            RESULT_TAG: outcome.result,
            P_VALUE_TAG: "" if p_value is None else f"{p_value:.3g}",
            WINNER_TAG: winner or "none",
        }
        for key, value in tags.items():
            client.set_model_version_tag(model_name, outcome.version, key, value)
        run_id = client.get_model_version(model_name, outcome.version).run_id
        if not run_id:
            continue
        for step, (at_ms, values) in enumerate(outcome.history):
            for metric, value in values.items():
                client.log_metric(run_id, f"experiment/{experiment}/{metric}", value, timestamp=at_ms, step=step)


def clear_challenger(client: MlflowClient, model_name: str) -> None:
    """Remove the ``challenger`` alias (nothing when it is not set)."""
    with contextlib.suppress(MlflowException):
        client.delete_registered_model_alias(model_name, CHALLENGER)
