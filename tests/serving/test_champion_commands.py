"""``recs promote`` and ``recs rollback`` as real processes, against a real MLflow store under the test's
RECS_HOME and the real Redis: the alias moves, the tags say why, and the new champion is what ``recs:active``
serves (its meta names the model version); errors exit 3 with nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import redis
from mlflow import MlflowClient

from serving.cache import ACTIVE_KEY, version_key
from tests.registering import register
from training.settings import TrainingSettings

RECS = str(Path(sys.executable).with_name("recs"))


@pytest.fixture
def versions(recs_home: Path, trained, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """The session's bundle registered twice as ``test-recs``: version 1 promoted (@champion), version 2 not."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # mlflow sets both in os.environ: undo after
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    settings = TrainingSettings()
    for promote in (True, False):
        register(settings, trained, promote=promote)
    yield MlflowClient(settings.resolved_tracking_uri, registry_uri=settings.resolved_tracking_uri)
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def recs(args: list[str], home: Path, redis_url: str, model: str = "test-recs") -> tuple[int, str]:
    env = {**os.environ, "RECS_HOME": str(home), "RECS_REDIS_URL": redis_url, "RECS_MODEL_NAME": model}
    env["COLUMNS"] = "250"
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    done = subprocess.run([RECS, *args], capture_output=True, text=True, env=env, timeout=300)
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def active(client: redis.Redis) -> tuple[str, dict[str, object]]:
    version = client.get(ACTIVE_KEY)
    assert version is not None
    return version.decode(), json.loads(client.get(version_key(version.decode(), "meta")) or b"{}")


def champion(client: MlflowClient) -> str:
    return str(client.get_model_version_by_alias("test-recs", "champion").version)


def test_promote_then_rollback_move_the_alias_and_republish(
    versions: MlflowClient, recs_home: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    code, out = recs(["promote", "2", "--reason", "tents sell better"], recs_home, redis_url)
    assert code == 0 and "Traceback" not in out, out
    assert "champion: version 1 -> version 2 (promotion; reason: tents sell better)" in out, out
    promoted, meta = active(redis_client)
    assert meta["model_name"] == "test-recs" and meta["model_version"] == "2"
    assert f"published version {promoted} (model version 2; previous: none)" in out, out
    assert champion(versions) == "2"
    tags = versions.get_model_version("test-recs", "2").tags
    assert tags["recs.promoted_from"] == "1" and tags["recs.promotion_reason"] == "tents sell better"

    code, out = recs(["rollback", "--reason", "conversion fell"], recs_home, redis_url)
    assert code == 0 and "Traceback" not in out, out
    assert "champion: version 2 -> version 1 (rollback; reason: conversion fell)" in out, out
    restored, meta = active(redis_client)
    assert restored != promoted and meta["model_version"] == "1"
    assert f"published version {restored} (model version 1; previous: {promoted})" in out, out
    assert champion(versions) == "1"
    assert versions.get_model_version("test-recs", "1").tags["recs.rollback_reason"] == "conversion fell"

    # version 1 was the first champion: a second rollback has nowhere to go, and changes nothing
    code, out = recs(["rollback"], recs_home, redis_url)
    assert code == 3 and "Traceback" not in out, out
    assert "version 1 of 'test-recs' became @champion with no champion before it: nothing to roll back to" in out
    assert active(redis_client)[0] == restored and champion(versions) == "1"


def test_promote_without_publish_moves_only_the_alias(
    versions: MlflowClient, recs_home: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    code, out = recs(["promote", "2", "--no-publish"], recs_home, redis_url)
    assert code == 0, out
    assert "champion: version 1 -> version 2 (promotion; reason: promoted by hand)" in out, out
    assert "not published: run recs publish to serve version 2" in out, out
    assert redis_client.get(ACTIVE_KEY) is None and champion(versions) == "2"
    code, out = recs(["promote", "2"], recs_home, redis_url)
    assert code == 0 and "champion: version 2 already; nothing changed" in out, out
    assert redis_client.get(ACTIVE_KEY) is None


def test_unknown_version_and_no_champion_exit_3_and_change_nothing(
    versions: MlflowClient, recs_home: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    code, out = recs(["promote", "9"], recs_home, redis_url)
    assert code == 3 and "Traceback" not in out, out
    assert "model 'test-recs' has no version '9' (registered: 1, 2). Nothing changed." in out, out
    assert champion(versions) == "1" and redis_client.get(ACTIVE_KEY) is None

    code, out = recs(["rollback"], recs_home, redis_url, model="never-trained")
    assert code == 3 and "Traceback" not in out, out
    assert "model 'never-trained' has no @champion to roll back. Nothing changed." in out, out
    assert redis_client.get(ACTIVE_KEY) is None
