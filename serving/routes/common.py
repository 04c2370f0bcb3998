"""What every route shares: dependencies, query parameters, the version to answer with, the stored event
format, complement reads, popular fallbacks, and turning a re-ranked answer (item indices) into a response
(item ids, reasons).

Routes catch ``REDIS_FAILURES`` (Redis errors and the request's time budget running out) and answer a
marked fallback from the in-process tables instead; nothing here raises on a missing or unknown id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import Depends, Path, Query, Request, Response
from pydantic import BeforeValidator
from starlette.convertors import Convertor, register_url_convertor

from recommender.request_time import Event, Fallback, Reranked, reasons_for
from recommender.vocabulary import EVENT_TYPES, AnswerSurface
from serving import cache
from serving.metrics import Metrics
from serving.schemas import MAX_K, MAX_OFFSET, MIN_K, MIN_OFFSET, NOT_BLANK, IdConstraints, stripped_id
from serving.state import Active, Arm, ServingState

log = logging.getLogger(__name__)
REDIS_FAILURES: tuple[type[BaseException], ...] = (*cache.RedisUnavailable, TimeoutError)
NO_VERSION = "none"  # the model_version of answers given while no version is published


async def get_state(request: Request) -> ServingState:
    """The app's serving state (override this dependency in tests to swap it). ``async`` so that FastAPI
    calls it in the event loop: a plain ``def`` dependency would cost a thread pool hop per request."""
    return request.app.state.serving


StateDep = Annotated[ServingState, Depends(get_state)]
# the routes' k and offset (their defaults, ``DEFAULT_K`` and ``DEFAULT_OFFSET``, are the routes' parameter
# defaults: FastAPI takes no default inside ``Annotated``)
K = Annotated[int, Query(ge=MIN_K, le=MAX_K, description=f"how many items ({MIN_K}..{MAX_K})")]
Offset = Annotated[int, Query(ge=MIN_OFFSET, le=MAX_OFFSET, description="skip this many items (paging)")]


class IdConvertor(Convertor[str]):
    """``{name:id}`` in a route template: any text, slashes (sent as %2F or not) and newlines included.

    Starlette's ``path`` convertor is ``.*``, which stops at a newline (a 404 for an id that events accept)."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


# Registered once, when the route modules are imported (their templates are compiled at import); a
# stateless type in Starlette's table of convertors, like its own "path" and "int".
register_url_convertor("id", IdConvertor())

# A path id: like body ids, stripped of surrounding whitespace (as the training data's ids are), 1-256 chars.
# The fast path reads a path parameter itself only when it is declared with exactly this validation.
PathId = Annotated[str, IdConstraints, BeforeValidator(stripped_id)]
CustomerId = Annotated[
    PathId, Path(description="the storefront's customer id (any text, 1-256)", json_schema_extra=NOT_BLANK)
]
ItemId = Annotated[PathId, Path(description="the storefront's item id (any text, 1-256)", json_schema_extra=NOT_BLANK)]


def new_recommendation_id() -> str:
    return uuid.uuid4().hex


def record_answer(
    state: ServingState,
    surface: AnswerSurface,
    rid: str,
    model_version: str,
    item_ids: Sequence[str],
    customer_id: str | None = None,
    arm: Arm | None = None,
) -> None:
    """Record what an answer showed, for attribution and the KPIs (``serving.feedback.answers``; off with
    ``RECS_RECORD_ANSWERS=false``), and the experiment's variant it was part of."""
    if state.settings.record_answers:
        experiment = None if arm is None or arm.experiment is None else f"{arm.experiment}:{arm.variant}"
        state.answers.record(rid, surface, model_version, customer_id, item_ids, int(time.time()), experiment)


# events as stored in Redis ----------------------------------------------------------------------------------
def parse_events(raw: Sequence[bytes], item_index: dict[str, int]) -> list[Event]:
    """Stored events (newest first) -> ``Event`` with item indices of the held version (-1: unknown there).

    Undecodable or foreign entries are skipped, not fatal: a bad entry must not break a customer's answers.
    """
    events: list[Event] = []
    for entry in raw:
        try:
            record = orjson.loads(entry)
            kind, ids, at = record["type"], record["item_ids"], int(record["at"])
        except (ValueError, TypeError, KeyError):  # orjson.JSONDecodeError is a ValueError
            log.warning("skipping an undecodable stored event: %r", entry[:200])
            continue
        if kind not in EVENT_TYPES or not isinstance(ids, list):
            continue
        items = np.fromiter((item_index.get(str(i), -1) for i in ids), dtype=np.int32, count=len(ids))
        events.append(Event(kind, items, at))
    return events


# reads --------------------------------------------------------------------------------------------------------
async def read_complements(state: ServingState, active: Active, anchors: np.ndarray) -> dict[int, np.ndarray]:
    """The precomputed complement lists of ``anchors`` (item indices): one HMGET, none when no anchors."""
    anchors = np.unique(np.asarray(anchors, dtype=np.int64))
    if len(anchors) == 0:
        return {}
    ids = active.tables.item_ids[anchors].tolist()
    _, packed, _ = await state.reader.item_lists(active.version, "complements", ids)
    return {int(a): cache.unpack_entries(raw) for a, raw in zip(anchors.tolist(), packed, strict=True) if raw}


async def follow_version(
    state: ServingState, named: str | None, catalog: bytes | None, *experiment: bytes | None
) -> None:
    """After a read that returned the active version, the live catalog's stamp (and ``recs:experiment``, when
    it read it): reload the tables, or apply the catalog's changes, when any changed (errors logged; the
    answer being built uses the tables it started with either way)."""
    if state.holds(named) and state.follows_catalog(catalog) and (not experiment or state.follows(experiment[0])):
        await state.sync(named)  # the common case
        return
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            await state.sync_catalog(catalog)
            await state.sync(named)
            if experiment:
                await state.sync_experiment(experiment[0])
    except REDIS_FAILURES as exc:
        log.warning("could not load version %s: %r", named, exc)


async def active_or_unpublished(state: ServingState, surface: str, *, check_stale: bool) -> Active | None:
    """The version to answer ``surface`` with (``ServingState.current``; after a Redis failure, counted and
    logged, the one held in memory), or None when there is none: the caller answers an empty list marked as
    a fallback, counted here as ``unpublished``."""
    try:
        active = await state.current(check_stale=check_stale)
    except REDIS_FAILURES as exc:
        redis_failed(state, surface, exc)
        active = state.active
    if active is None:
        count_fallback(state.metrics, surface, "unpublished")
    return active


def latest(state: ServingState, arm: Arm, surface: str, customer_id: str | None = None) -> Arm:
    """``arm``, or the same version's tables held now when a read applied the live catalog's changes to
    them (item indices are the same: the catalog only appends items), so the answer reflects the change."""
    if state.active is None:
        return arm
    now = state.arm(state.active, surface, customer_id)
    return now if now.active.version == arm.active.version else arm


def redis_failed(state: ServingState, route: str, exc: BaseException) -> None:
    """Count and log a Redis error or timeout met by a request (which then answers a fallback, or buffers)."""
    state.metrics.redis_errors.labels(route=route).inc()
    log.warning("%s: Redis failed, answering from memory: %r", route, exc)


# fallbacks and rendering ----------------------------------------------------------------------------------------
def popular_fallback(active: Active, category: int = -1) -> Fallback:
    """The popular list to pad with: overall, or the category's own when ``category >= 0``."""
    tables = active.tables
    if category >= 0 and category in tables.popular_by_category:
        items, scores = tables.popular_by_category[category]
        return Fallback(items, scores, category)
    return Fallback(tables.popular_items, tables.popular_scores, -1)


def render(active: Active, answer: Reranked) -> list[dict[str, Any]]:
    """Rows (item indices, kinds, numbers) -> response items (``RecommendedItem``'s fields) with ids, finite
    scores and reasons."""
    rows = answer.candidates
    if not len(rows):
        return []
    reasons = reasons_for(
        rows, labels=active.labels, category_labels=active.tables.categories, window_days=active.window_days
    )
    ids = active.tables.item_ids[rows.items].tolist()
    return [
        {"item_id": item, "score": score if math.isfinite(score) else 0.0, "reason": reason}
        for item, score, reason in zip(ids, rows.scores.tolist(), reasons, strict=True)
    ]


def list_payload(
    version: str,
    rid: str,
    *,
    fallback: bool,
    items: Any,
    arm: Arm | None = None,
    rules: Sequence[str] = (),
    **subject: str | None,
) -> dict[str, Any]:
    """A list answer (``RecommendationList``'s fields, then the subject: ``customer_id=`` or ``item_id=``) as a
    dict in the models' field order; ``items`` rendered rows or ``RenderedJson``; ``arm`` the experiment and
    variant the answer is part of; ``rules`` the merchandising rules that touched it."""
    return {
        "model_version": version,
        "recommendation_id": rid,
        "fallback": fallback,
        "items": items,
        "experiment": None if arm is None else arm.experiment,
        "variant": None if arm is None else arm.variant,
        "rules": list(rules),
        **subject,
    }


def json_bytes(payload: dict[str, Any]) -> bytes:
    """An answer as JSON bytes (see ``json_answer``)."""
    try:
        return orjson.dumps(payload, default=_as_fragment)
    except orjson.JSONEncodeError:
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":"), default=_as_value).encode("ascii")


def json_answer(payload: dict[str, Any], status_code: int = 200) -> Response:
    """An answer rendered straight to JSON bytes (orjson).

    Routes declare their pydantic model as ``response_model`` (the documented schema, which the tests and
    schemathesis hold answers to) and return this ``Response``, so FastAPI skips its per-request
    validation and serialization pass: the payload is built from already-checked values. An echoed id
    holding a lone surrogate, which orjson refuses, is written with ``\\u`` escapes instead.
    """
    return Response(json_bytes(payload), status_code=status_code, media_type="application/json")


@dataclass(frozen=True)
class RenderedJson:
    """A part of an answer already rendered to JSON (an item answer kept in process), placed as is."""

    data: bytes


def _as_fragment(value: object) -> orjson.Fragment:
    if isinstance(value, RenderedJson):
        return orjson.Fragment(value.data)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _as_value(value: object) -> Any:
    if isinstance(value, RenderedJson):
        return orjson.loads(value.data)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def count_fallback(metrics: Metrics, surface: str, cause: str | None) -> None:
    """Count a fallback answer; ``cause`` None means a personal answer (nothing counted)."""
    if cause is not None:
        metrics.fallbacks.labels(surface=surface, cause=cause).inc()
