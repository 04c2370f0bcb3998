"""Cart surface: what completes this cart (complement scores summed over the cart's items).

With a ``customer_id``, the customer's recent add-to-cart events join the cart and their recent purchases
are left out: one pipeline for the events, one HMGET for the cart items' complement lists. Without it, the
HMGET alone. Cart item ids unknown to the published version are ignored (they stay in the echoed cart).
"""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import APIRouter

from recommender.request_time import RecentEvents, cart_complements
from serving.routes.common import (
    NO_VERSION,
    REDIS_FAILURES,
    StateDep,
    active_or_unpublished,
    count_fallback,
    follow_version,
    new_recommendation_id,
    parse_events,
    read_complements,
    record_answer,
    redis_failed,
    render,
)
from serving.routes.filters import ListFilters, StrictQueryRoute, filled, select
from serving.routes.merchandising import pool_size, shaped
from serving.schemas import CartRecommendations, CartRequest
from serving.state import Active, ServingState

router = APIRouter(prefix="/v1/cart", tags=["cart"], route_class=StrictQueryRoute)
SURFACE = "cart"


def merged_cart(active: Active, item_ids: list[str], events: RecentEvents) -> tuple[list[str], np.ndarray]:
    """(cart ids as echoed: the request's, then recently carted ones; the known item indices)."""
    index = active.tables.item_index
    asked = np.asarray([index.get(i, -1) for i in item_ids], dtype=np.int32)
    extra = np.setdiff1d(events.cart, asked)
    ids = list(dict.fromkeys(item_ids)) + active.tables.item_ids[extra].tolist()
    known = np.union1d(asked[asked >= 0], extra).astype(np.int32)
    return ids, known


def other_categories(active: Active, cart: np.ndarray) -> np.ndarray | None:
    """Items of no cart item's category (what pins and promotions may bring next to the cart), None: any."""
    cats = active.tables.category[cart] if len(cart) else np.zeros(0, dtype=np.int32)
    cats = cats[cats >= 0]
    return None if len(cats) == 0 else ~np.isin(active.tables.category, cats)


async def read_cart(
    state: ServingState, active: Active, body: CartRequest
) -> tuple[list[str], np.ndarray, RecentEvents, dict[int, np.ndarray]]:
    """(echoed cart, cart item indices, the customer's recent events, complement lists of the cart)."""
    events = RecentEvents.empty()
    if body.customer_id is not None:
        named, _, raw, experiment, stamp = await state.reader.customer_view(active.version, "for_you", body.customer_id)
        await follow_version(state, named, stamp, experiment)
        events = RecentEvents.from_events(parse_events(raw, active.tables.item_index))
    ids, cart = merged_cart(active, body.item_ids, events)
    return ids, cart, events, await read_complements(state, active, cart)


@router.post("/complements", response_model=CartRecommendations)
async def complements(body: CartRequest, state: StateDep) -> CartRecommendations:
    """What completes this cart: complements of its items, without the cart's items and their categories
    (no second tent next to a tent), nor what the customer just bought. The body's filters are those of
    the other list routes (``docs/serving.md``)."""
    rid = new_recommendation_id()
    active = await active_or_unpublished(state, SURFACE, check_stale=body.customer_id is None)
    if active is None:
        record_answer(state, SURFACE, rid, NO_VERSION, [], body.customer_id)
        return CartRecommendations(
            customer_id=body.customer_id,
            item_ids=list(dict.fromkeys(body.item_ids)),
            model_version=NO_VERSION,
            recommendation_id=rid,
            fallback=True,
            items=[],
        )
    arm = state.arm(active, SURFACE, body.customer_id)
    active = arm.active
    cause: str | None = None
    events, lists = RecentEvents.empty(), {}
    ids, cart = merged_cart(active, body.item_ids, events)
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            ids, cart, events, lists = await read_cart(state, active, body)
    except REDIS_FAILURES as exc:
        redis_failed(state, SURFACE, exc)
        cause = "redis"
    selection = select(active, ListFilters.of(body))
    if cause is None and selection.unknown_category:
        cause = "unknown_category"
    pool = await pool_size(state, SURFACE, k=body.k)
    answer = cart_complements(
        cart,
        lists,
        k=pool,
        exclude=events.purchased,
        item_category=active.tables.category,
        allowed=selection.allowed,
        fallback=filled(active, selection),
    )
    if cause is None and answer.fallback:
        cause = "unknown_items" if len(cart) == 0 else "no_list"
    answer, touched = shaped(
        state,
        active,
        SURFACE,
        answer,
        k=body.k,
        allowed=selection.allowed if (others := other_categories(active, cart)) is None else others & selection.allowed,
        exclude=np.union1d(cart, events.purchased),
    )
    count_fallback(state.metrics, SURFACE, cause)
    items = render(active, answer)
    record_answer(state, SURFACE, rid, active.model_version, [row["item_id"] for row in items], body.customer_id, arm)
    return CartRecommendations(
        customer_id=body.customer_id,
        item_ids=ids,
        model_version=active.model_version,
        recommendation_id=rid,
        fallback=cause is not None,
        items=items,
        experiment=arm.experiment,
        variant=arm.variant,
        rules=list(touched),
    )
