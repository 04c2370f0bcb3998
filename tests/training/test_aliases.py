"""Moves of ``champion`` against a real sqlite MLflow store: automatic and hand promotions tag the version they
move to, rollback walks those tags back one promotion at a time, and the registry's errors are precise."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.registering import register
from training import tracking
from training.settings import TrainingSettings
from training.tracking.aliases import (
    DEMOTED_AT,
    DEMOTION_REASON,
    PROMOTED_AT,
    PROMOTED_FROM,
    PROMOTION_REASON,
    ROLLBACK_REASON,
    ROLLED_BACK_FROM,
)


def _register(
    settings: TrainingSettings, trained, metric: float, promote: bool, champion_metric: float | None = None
) -> str:
    metrics = {**trained.report.metrics, tracking.PROMOTION_METRIC: metric}
    evidence = tracking.Evidence(metric, champion_metric, 500, 200)  # as measured on one split
    return register(settings, trained, metrics=metrics, promote=promote, evidence=evidence).version


def _tags(client: MlflowClient, name: str, version: str) -> dict[str, str]:
    return dict(client.get_model_version(name, version).tags)


def test_promotions_are_tagged_and_rollback_walks_them_back(recs_home: Path, trained) -> None:
    settings = TrainingSettings()
    name = settings.model_name
    client = MlflowClient(settings.resolved_tracking_uri, registry_uri=settings.resolved_tracking_uri)
    with pytest.raises(tracking.NoChampionError, match="no @champion"):
        tracking.plan_rollback(tracking.connect(settings), name, "why")

    first = _register(settings, trained, 0.30, promote=True)  # the first champion: promoted from none
    second = _register(settings, trained, 0.35, promote=True, champion_metric=0.30)  # beats it: promoted
    third = _register(settings, trained, 0.10, promote=False)
    assert _tags(client, name, first)[PROMOTED_FROM] == ""
    tags = _tags(client, name, second)
    assert tags[PROMOTED_FROM] == first and tags[PROMOTED_AT]
    assert tags[PROMOTION_REASON].startswith("promoted: next_purchase.ndcg_at_10 on this run's evaluation: 0.3500")

    move = tracking.plan_promotion(client, name, third, "a better week by eye")
    assert (move.previous, move.version, move.kind) == (second, third, "promotion")
    assert str(client.get_model_version_by_alias(name, "champion").version) == second  # planned, not applied
    tracking.move_champion(client, move)
    assert str(client.get_model_version_by_alias(name, "champion").version) == third
    assert _tags(client, name, third)[PROMOTED_FROM] == second
    assert _tags(client, name, third)[PROMOTION_REASON] == "a better week by eye"
    assert move.describe() == (
        f"champion: version {second} -> version {third} (promotion; reason: a better week by eye)"
    )

    back = tracking.plan_rollback(client, name, "conversion fell")
    assert (back.previous, back.version, back.kind) == (third, second, "rollback")
    tracking.move_champion(client, back)
    assert str(client.get_model_version_by_alias(name, "champion").version) == second
    restored, left = _tags(client, name, second), _tags(client, name, third)
    assert restored[ROLLED_BACK_FROM] == third and restored[ROLLBACK_REASON] == "conversion fell"
    assert restored[PROMOTED_FROM] == first  # kept: the next rollback undoes that promotion
    assert left[DEMOTION_REASON] == "conversion fell" and left[DEMOTED_AT]

    again = tracking.plan_rollback(client, name, "still bad")
    assert (again.previous, again.version) == (second, first)
    tracking.move_champion(client, again)
    with pytest.raises(tracking.NothingToRollBackError, match=f"version {first} .* no champion before it"):
        tracking.plan_rollback(client, name, "further")
    assert str(client.get_model_version_by_alias(name, "champion").version) == first


def test_a_hand_promotion_of_an_unknown_or_current_version(recs_home: Path, trained) -> None:
    settings = TrainingSettings()
    client = tracking.connect(settings)
    with pytest.raises(tracking.UnknownVersionError, match=r"has no version '1' \(registered: none\)"):
        tracking.plan_promotion(client, settings.model_name, "1", "why")
    version = _register(settings, trained, 0.30, promote=True)
    for missing in ("7", "latest", ""):
        with pytest.raises(tracking.UnknownVersionError, match=r"\(registered: 1\)"):
            tracking.plan_promotion(client, settings.model_name, missing, "why")
    same = tracking.plan_promotion(client, settings.model_name, version, "why")
    assert not same.changed and "nothing changed" in same.describe()
    tagged_at = _tags(client, settings.model_name, version)[PROMOTED_AT]
    tracking.move_champion(client, same)  # no move, no new tags
    assert _tags(client, settings.model_name, version)[PROMOTED_AT] == tagged_at
