"""The registry's aliases, ``candidate`` and ``champion``, and every move of ``champion`` with its history.

Each move of ``champion`` tags the model version it moves to, so the registry itself holds the history:

- a promotion (``recs train --promote``, ``recs promote VERSION``): ``recs.promoted_at`` (UTC, ISO 8601),
  ``recs.promoted_from`` (the champion before it, empty when there was none) and ``recs.promotion_reason``;
- a rollback (``recs rollback``): ``recs.rolled_back_at``, ``recs.rolled_back_from`` and
  ``recs.rollback_reason`` on the version returned to, ``recs.demoted_at`` and ``recs.demotion_reason`` on
  the one left.

How far back rollback goes: it undoes the promotion that made the current champion, returning to that
champion's ``recs.promoted_from``. A rollback is not a promotion (the version returned to keeps its own
``recs.promoted_from``), so a second rollback undoes the promotion before that one, and so on back to the
first champion, which has nothing before it (nor has a version promoted before these tags existed):
``NothingToRollBackError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

CANDIDATE = "candidate"
CHAMPION = "champion"

PROMOTED_AT = "recs.promoted_at"
PROMOTED_FROM = "recs.promoted_from"
PROMOTION_REASON = "recs.promotion_reason"
ROLLED_BACK_AT = "recs.rolled_back_at"
ROLLED_BACK_FROM = "recs.rolled_back_from"
ROLLBACK_REASON = "recs.rollback_reason"
DEMOTED_AT = "recs.demoted_at"
DEMOTION_REASON = "recs.demotion_reason"


class UnknownVersionError(LookupError):
    """The model has no such registered version."""


class NoChampionError(LookupError):
    """The model has no ``champion`` (or is not registered at all)."""


class NothingToRollBackError(LookupError):
    """The champion was promoted from no earlier champion, or that version no longer exists."""


@dataclass(frozen=True)
class ChampionMove:
    """``champion`` of ``model_name`` moving from ``previous`` (None: there was none) to ``version``."""

    model_name: str
    previous: str | None
    version: str
    reason: str
    kind: Literal["promotion", "rollback"] = "promotion"

    @property
    def changed(self) -> bool:
        return self.previous != self.version

    def describe(self) -> str:
        """``champion: version 3 -> version 2 (reason: ...)``, the line the commands print."""
        before = f"version {self.previous}" if self.previous else "none"
        if not self.changed:
            return f"champion: version {self.version} already; nothing changed"
        return f"champion: {before} -> version {self.version} ({self.kind}; reason: {self.reason})"


def champion_version(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The model version ``champion`` names, or None."""
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


def current_champion(client: MlflowClient, model_name: str) -> str | None:
    champion = champion_version(client, model_name)
    return None if champion is None else str(champion.version)


def plan_promotion(client: MlflowClient, model_name: str, version: str, reason: str) -> ChampionMove:
    """The move of ``champion`` to ``version`` (not applied); ``UnknownVersionError`` when it does not exist."""
    version = version.strip()
    try:
        found = str(client.get_model_version(model_name, version).version)
    except MlflowException as exc:
        raise UnknownVersionError(
            f"model {model_name!r} has no version {version!r} (registered: {_versions(client, model_name)})"
        ) from exc
    return ChampionMove(model_name, current_champion(client, model_name), found, reason)


def plan_rollback(client: MlflowClient, model_name: str, reason: str) -> ChampionMove:
    """The move of ``champion`` back to the version it was promoted from (not applied).

    ``NoChampionError`` without a champion; ``NothingToRollBackError`` when the champion was promoted from
    none (the first one, or promoted before these tags existed) or that version was deleted since."""
    champion = current_champion(client, model_name)
    if champion is None:
        raise NoChampionError(f"model {model_name!r} has no @{CHAMPION} to roll back")
    before = client.get_model_version(model_name, champion).tags.get(PROMOTED_FROM, "")
    if not before:
        raise NothingToRollBackError(
            f"version {champion} of {model_name!r} became @{CHAMPION} with no champion before it: nothing to roll "
            "back to"
        )
    try:
        client.get_model_version(model_name, before)
    except MlflowException as exc:
        raise NothingToRollBackError(
            f"version {before}, the @{CHAMPION} before version {champion}, is no longer registered: nothing to roll "
            "back to"
        ) from exc
    return ChampionMove(model_name, champion, before, reason, "rollback")


def move_champion(client: MlflowClient, move: ChampionMove) -> None:
    """Point ``champion`` at ``move.version`` and record the move as tags (none when nothing changes)."""
    if not move.changed:
        return
    now = datetime.now(tz=UTC).isoformat(timespec="seconds")
    name, version = move.model_name, move.version
    client.set_registered_model_alias(name, CHAMPION, version)
    if move.kind == "promotion":
        tags = {PROMOTED_AT: now, PROMOTED_FROM: move.previous or "", PROMOTION_REASON: move.reason}
    else:
        tags = {ROLLED_BACK_AT: now, ROLLED_BACK_FROM: move.previous or "", ROLLBACK_REASON: move.reason}
        if move.previous:
            client.set_model_version_tag(name, move.previous, DEMOTED_AT, now)
            client.set_model_version_tag(name, move.previous, DEMOTION_REASON, move.reason)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def _versions(client: MlflowClient, model_name: str) -> str:
    try:
        found = client.search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return "none"
    return ", ".join(sorted((str(v.version) for v in found), key=int)) or "none"
