"""Customer surfaces: "recommended for you" and "next purchase", merged with the customer's recent events.

One pipeline reads the active version, the customer's precomputed list and recent events; when the
customer bought something within the complements' window, one HMGET more reads those items' complement
lists; for "for you", when the customer viewed or carted items, that same round trip also reads the touched
items' similar lists (and the cart items' complements). ``recommender.request_time`` does the merge (bought
items out, at most ``RECS_FOR_YOU_COMPLEMENTS`` strong complements first, the session's rows woven in, filters,
paging, popular padding): a guest with such events gets a personal answer. Unknown customers without them,
filters that leave nothing, and Redis outages get marked fallbacks.
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
    touched_items,
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


@dataclass(slots=True)  # built several times per request: a plain init is 3x faster than a frozen one
class CustomerView:
    """What one request read about a customer."""

    base: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=ENTRY))  # precomputed list
    events: RecentEvents = field(default_factory=RecentEvents.empty)
    complements_of: dict[int, np.ndarray] = field(default_factory=dict)  # of items bought within the window
    similar_of: dict[int, np.ndarray] = field(default_factory=dict)  # of items viewed or carted (for you)
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
    session = surface == "for_you" and state.settings.sessions
    touched = touched_items(events) if session else np.zeros(0, dtype=np.int32)
    if not len(touched):
        complements = await read_complements(state, active, anchors)
        return named, experiment, CustomerView(base, events, complements, known=packed is not None)
    complements, similar = await read_session_lists(state, active, np.union1d(anchors, events.cart), touched)
    return named, experiment, CustomerView(base, events, complements, similar, known=packed is not None)


async def read_session_lists(
    state: ServingState, active: Active, anchors: np.ndarray, touched: np.ndarray
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """(complement lists of ``anchors``, similar lists of ``touched``), item indices: one round trip."""
    wanted = [("similar", np.unique(np.asarray(touched, dtype=np.int64)))]
    if len(anchors):
        wanted.append(("complements", np.unique(np.asarray(anchors, dtype=np.int64))))
    replies = await state.reader.item_lists_of(
        active.version, [(surface, active.tables.item_ids[items].tolist()) for surface, items in wanted]
    )
    lists = [
        {int(i): unpack_entries(raw) for i, raw in zip(items.tolist(), packed, strict=True) if raw}
        for (_, items), packed in zip(wanted, replies, strict=True)
    ]
    return (lists[1] if len(lists) > 1 else {}), lists[0]


def rerank(
    surface: CustomerSurface,
    active: Active,
    view: CustomerView,
    flt: Selection,
    *,
    k: int,
    offset: int,
    now: int,
    max_complements: int,
    min_complement_share: float,
) -> Reranked:
    tables = active.tables
    customer = CustomerContext(
        view.events,
        view.complements_of,
        now=now,
        window_days=active.window_days,
        item_category=tables.category,
        category_repeat_rate=tables.category_repeat_rate,
        similar_of=view.similar_of,
        popular_by_category=tables.popular_by_category,
    )
    if surface == "next_purchase":
        return rerank_next_purchase(
            view.base, customer, k=k, offset=offset, allowed=flt.allowed, fallback=filled(active, flt)
        )
    return rerank_for_you(
        view.base,
        customer,
        k=k,
        offset=offset,
        allowed=flt.allowed,
        fallback=filled(active, flt),
        max_complements=max_complements,
        min_complement_share=min_complement_share,
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
    settings = state.settings
    answer = rerank(
        surface,
        active,
        view,
        flt,
        k=pool,
        offset=0,
        now=now,
        max_complements=settings.for_you_complements,
        min_complement_share=settings.for_you_min_complement_share,
    )
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
    """Recommended for you: personalized, already-bought items excluded; after a purchase event, a few strong
    complements of the bought items first; what the shopper viewed or carted leads to similar items (a guest,
    an id the model has never seen, gets a personal answer from its views). Filters: ``docs/serving.md``."""
    return json_answer(await customer_answer(state, "for_you", customer_id, k=k, offset=offset, filters=filters))


@router.get("/{customer_id:id}/next-purchase", response_model=CustomerRecommendations)
async def next_purchase(
    customer_id: CustomerId, state: StateDep, k: K = DEFAULT_K, filters: Filters = DEFAULT_FILTERS
) -> Response:
    """What the customer will buy next: repeat items when they are due, then new items to explore."""
    return json_answer(await customer_answer(state, "next_purchase", customer_id, k=k, filters=filters))
