"""Customer surfaces: "recommended for you" and "next purchase", merged with the customer's recent events.

One pipeline reads the active version, the customer's precomputed list and recent events; when the
customer bought something within the complements' window, one HMGET more reads those items' complement
lists. ``recommender.request_time`` does the merge (bought items out, their complements first, filters, paging,
popular padding). Unknown customers, filters that leave nothing, and Redis outages get marked fallbacks.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import APIRouter, Response

from recommender.history import DAY
from recommender.request_time import (
    ENTRY,
    CustomerContext,
    RecentEvents,
    Reranked,
    rerank_for_you,
    rerank_next_purchase,
)
from recommender.vocabulary import CustomerSurface
from serving.cache import unpack_entries
from serving.routes.common import (
    NO_VERSION,
    REDIS_FAILURES,
    CustomerId,
    K,
    Offset,
    StateDep,
    active_or_unpublished,
    count_fallback,
    follow_version,
    json_answer,
    latest,
    list_payload,
    new_recommendation_id,
    parse_events,
    read_complements,
    record_answer,
    redis_failed,
    render,
)
from serving.routes.filters import DEFAULT_FILTERS, Filters, ListFilters, Selection, StrictQueryRoute, filled, select
from serving.routes.merchandising import pool_size, shaped
from serving.schemas import DEFAULT_K, DEFAULT_OFFSET, CustomerRecommendations
from serving.state import Active, ServingState

router = APIRouter(prefix="/v1/users", tags=["customers"], route_class=StrictQueryRoute)


@dataclass(frozen=True)
class CustomerView:
    """What one request read about a customer."""

    base: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=ENTRY))  # precomputed list
    events: RecentEvents = field(default_factory=RecentEvents.empty)
    complements_of: dict[int, np.ndarray] = field(default_factory=dict)  # of items bought within the window
    known: bool = False  # the version has a list for this customer


async def read_customer(
    state: ServingState, active: Active, surface: CustomerSurface, customer_id: str, now: int
) -> tuple[str | None, bytes | None, CustomerView]:
    """(the active version Redis names, the experiment it holds, the customer's view in ``active``): one or
    two round trips."""
    named, packed, raw_events, experiment, stamp = await state.reader.customer_view(
        active.version, surface, customer_id
    )
    await follow_version(state, named, stamp, experiment)
    base = unpack_entries(packed)
    if not raw_events:  # most customers: nothing recent, no second read
        return named, experiment, CustomerView(base, known=packed is not None)
    events = RecentEvents.from_events(parse_events(raw_events, active.tables.item_index))
    anchors = events.purchased_since(int(now - active.window_days * DAY))
    complements = await read_complements(state, active, anchors)
    return named, experiment, CustomerView(base, events, complements, known=packed is not None)


def rerank(
    surface: CustomerSurface, active: Active, view: CustomerView, flt: Selection, *, k: int, offset: int, now: int
) -> Reranked:
    merge = rerank_for_you if surface == "for_you" else rerank_next_purchase
    tables = active.tables
    customer = CustomerContext(
        view.events,
        view.complements_of,
        now=now,
        window_days=active.window_days,
        item_category=tables.category,
        category_repeat_rate=tables.category_repeat_rate,
    )
    return merge(
        view.base,
        customer,
        k=k,
        offset=offset,
        allowed=flt.allowed,
        fallback=filled(active, flt),
    )


async def customer_answer(
    state: ServingState,
    surface: CustomerSurface,
    customer_id: str,
    *,
    k: int,
    offset: int = DEFAULT_OFFSET,
    filters: ListFilters = DEFAULT_FILTERS,
) -> dict[str, Any]:
    """The customer's answer for ``surface`` (``CustomerRecommendations``' fields); never raises for unknown
    ids, filters or a Redis outage."""
    rid = new_recommendation_id()
    active = await active_or_unpublished(state, surface, check_stale=False)
    if active is None:
        record_answer(state, surface, rid, NO_VERSION, [], customer_id)
        return list_payload(NO_VERSION, rid, fallback=True, items=[], customer_id=customer_id)
    now = int(time.time())
    arm = state.arm(active, surface, customer_id)
    active = arm.active
    flt = select(active, filters)
    cause: str | None = "unknown_category" if flt.unknown_category else None
    view = CustomerView()
    if cause is None:
        try:
            async with asyncio.timeout(state.settings.request_timeout_seconds):
                _, _, view = await read_customer(state, active, surface, customer_id, now)
        except REDIS_FAILURES as exc:
            redis_failed(state, surface, exc)
            cause = "redis"
        arm = latest(state, arm, surface, customer_id)  # with a catalog change the read just applied
        if arm.active is not active:
            active, flt = arm.active, select(arm.active, filters)
    pool = await pool_size(state, surface, k=k, offset=offset)
    answer = rerank(surface, active, view, flt, k=pool, offset=0, now=now)
    if cause is None and answer.fallback:
        cause = "filtered" if view.known else "unknown_customer"
    answer, touched = shaped(
        state,
        active,
        surface,
        answer,
        k=k,
        offset=offset,
        category=flt.category,
        allowed=flt.allowed,
        exclude=view.events.purchased,
    )
    count_fallback(state.metrics, surface, cause)
    items = render(active, answer)
    record_answer(state, surface, rid, active.model_version, [row["item_id"] for row in items], customer_id, arm)
    return list_payload(
        active.model_version,
        rid,
        fallback=cause is not None,
        items=items,
        arm=arm,
        rules=touched,
        customer_id=customer_id,
    )


@router.get("/{customer_id:id}/recommendations", response_model=CustomerRecommendations)
async def recommendations(
    customer_id: CustomerId,
    state: StateDep,
    k: K = DEFAULT_K,
    offset: Offset = DEFAULT_OFFSET,
    filters: Filters = DEFAULT_FILTERS,
) -> Response:
    """Recommended for you: personalized, already-bought items excluded; after a purchase event, the
    bought items' complements first. Filters: ``docs/serving.md``."""
    return json_answer(await customer_answer(state, "for_you", customer_id, k=k, offset=offset, filters=filters))


@router.get("/{customer_id:id}/next-purchase", response_model=CustomerRecommendations)
async def next_purchase(
    customer_id: CustomerId, state: StateDep, k: K = DEFAULT_K, filters: Filters = DEFAULT_FILTERS
) -> Response:
    """What the customer will buy next: repeat items when they are due, then new items to explore."""
    return json_answer(await customer_answer(state, "next_purchase", customer_id, k=k, filters=filters))
