"""The experiment's keys in Redis, for the ``recs experiment`` commands and publish (a synchronous client).

``recs:experiment`` holds the running experiment's JSON (``config.Experiment``); it is set only when no
experiment runs (``SET NX``), so a second one is refused whatever races. Its challenger's lists are a
published version like any other (``recs:v:<version>:*``), written without becoming active; publish keeps
it while the experiment runs (``live_challenger_version``). Stopping deletes the definition and, in the same
transaction, makes the challenger's version active when it is promoted; the version that stops serving
expires after the publish grace period. The per-customer counters are ``serving.feedback.store``'s
``recs:xp:*`` hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from serving.cache import SyncRedis, keys_of
from serving.experiments.config import Experiment
from serving.feedback.store import EXPERIMENT_METRICS, experiment_key, hour_counters, kpi_key
from serving.version_writer import expire_version


class ExperimentRunningError(RuntimeError):
    """An experiment already runs (one at a time)."""


class NoExperimentError(LookupError):
    """No experiment runs."""


def read_experiment(client: SyncRedis) -> Experiment | None:
    raw = client.get(keys_of(client).experiment)
    return None if raw is None else Experiment.from_json(raw)


def live_challenger_version(client: SyncRedis) -> str | None:
    """The published version the running experiment's challenger serves from (None: no experiment)."""
    experiment = read_experiment(client)
    return None if experiment is None else experiment.challenger_version


def running(client: SyncRedis) -> Experiment:
    """The running experiment; ``NoExperimentError`` when none runs."""
    experiment = read_experiment(client)
    if experiment is None:
        raise NoExperimentError("no experiment is running (recs experiment start --challenger models:/NAME/VERSION)")
    return experiment


def start(client: SyncRedis, experiment: Experiment) -> None:
    """Make ``experiment`` the running one; ``ExperimentRunningError`` when one already runs."""
    if not client.set(keys_of(client).experiment, experiment.to_json(), nx=True):
        other = read_experiment(client)
        name = other.name if other is not None else "?"
        raise ExperimentRunningError(
            f"experiment {name!r} is running: one experiment at a time (recs experiment stop ends it)"
        )


def expire_unused(client: SyncRedis, version: str, grace_seconds: int) -> None:
    """Let a published version that never served (a refused experiment's challenger) expire."""
    expire_version(client, version, grace_seconds)


def active_version(client: SyncRedis) -> str | None:
    raw = client.get(keys_of(client).active)
    return raw.decode() if raw else None


def stop(client: SyncRedis, experiment: Experiment, *, promote: bool, grace_seconds: int) -> str | None:
    """End ``experiment``: with ``promote``, its challenger's version becomes the active one in the same
    transaction; the version that stops serving (the challenger's, or the champion's it replaces) expires
    after ``grace_seconds``. Returns the version that was active before (None when nothing changed)."""
    keys = keys_of(client)
    with client.pipeline(transaction=True) as pipe:  # both keys in one slot (a cluster's shared slot)
        if promote:
            pipe.set(keys.active, experiment.challenger_version, get=True)
        pipe.delete(keys.experiment)
        replies = pipe.execute()
    if not promote:
        expire_version(client, experiment.challenger_version, grace_seconds)
        return None
    previous = replies[0].decode() if replies[0] else None
    if previous and previous != experiment.challenger_version:
        expire_version(client, previous, grace_seconds)
    return previous


def counters(client: SyncRedis, experiment: str, variant: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric of ``EXPERIMENT_METRICS``: (customer ids as bytes, counts), one HGETALL each."""
    with client.pipeline(transaction=False) as pipe:
        for metric in EXPERIMENT_METRICS:
            pipe.hgetall(experiment_key(experiment, variant, metric, keys_of(client)))
        replies = pipe.execute()
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for metric, reply in zip(EXPERIMENT_METRICS, replies, strict=True):
        keys = np.asarray(list(reply.keys()), dtype=object)
        found[metric] = keys, np.asarray(list(reply.values()), dtype=np.int64)
    return found


def expire_counters(client: SyncRedis, experiment: str, variants: Sequence[str], seconds: int) -> None:
    with client.pipeline(transaction=False) as pipe:
        for variant in variants:
            for metric in EXPERIMENT_METRICS:
                pipe.expire(experiment_key(experiment, variant, metric, keys_of(client)), seconds)
        pipe.execute()


def read_hours_sync(client: SyncRedis, hours: Sequence[int]) -> list[dict[str, int]]:
    """The KPI counters of each hour (``serving.feedback.store.read_hours``, for a synchronous client)."""
    with client.pipeline(transaction=False) as pipe:
        for hour in hours:
            pipe.hgetall(kpi_key(hour, keys_of(client)))
        replies = pipe.execute()
    return [hour_counters(reply) for reply in replies]
