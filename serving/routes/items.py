"""Item surfaces (product page): complements ("goes with") and similar items ("like this one").

One pipeline reads the active version and the item's precomputed list; the serving process then keeps the
rendered answer for the version's lifetime (``serving.state.ItemAnswers``): the item's next request reads
nothing from Redis and merges nothing, and the active version is looked at every ``version_check_seconds``.
An item without a list gets a marked fallback: popular items in its category when the catalog knows the
item, popular overall else. A list shorter than ``k`` is padded with popular items (see ``padding``). An
item added by the live catalog after the version was published (``new_item``) has no list: its similar
items are its category's popular items, its complements popular items of other categories, marked as
fallbacks (ordering its similar items by price instead was measured worse: ``benchmarks/new_items.py``).
Answers with filters other than the default (in stock) are not kept in process.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Response

from recommender.request_time import ENTRY, Fallback, item_list
from recommender.vocabulary import ItemSurface
from serving.cache import unpack_entries
from serving.routes.common import (
    NO_VERSION,
    REDIS_FAILURES,
    ItemId,
    K,
    RenderedJson,
    StateDep,
    active_or_unpublished,
    count_fallback,
    follow_version,
    json_answer,
    latest,
    list_payload,
    new_recommendation_id,
    popular_fallback,
    record_answer,
    redis_failed,
    render,
)
from serving.routes.filters import DEFAULT_FILTERS, Filters, ListFilters, StrictQueryRoute, filled, select
from serving.routes.merchandising import pool_size, rules_stamp, shaped
from serving.schemas import DEFAULT_K, ItemRecommendations
from serving.state import Active, Arm, RenderedItems, ServingState

router = APIRouter(prefix="/v1/items", tags=["items"], route_class=StrictQueryRoute)
ROW_KIND: dict[str, Literal["complement", "similar"]] = {"complements": "complement", "similar": "similar"}


def padding(active: Active, surface: ItemSurface, category: int, *, has_list: bool) -> Fallback:
    """The popular list to pad or replace the item's list with.

    Without a list: popular in the item's category (overall for an item of no known category). A short
    complements list is padded from popular items of other categories (padding never brings a substitute;
    the list itself is the model's, whose substitute rule is per category), a short similar list from
    popular items of the item's own category.
    """
    if surface == "complements" and has_list and category >= 0:
        pad = popular_fallback(active)
        other = active.tables.category[pad.items] != category
        return Fallback(pad.items[other], pad.scores[other], pad.category)
    return popular_fallback(active, category)


def is_new(active: Active, index: int) -> bool:
    """The item was added by the live catalog after the version was published (no list of its own)."""
    published = active.tables.published_items
    return 0 <= published <= index


async def item_answer(
    state: ServingState, surface: ItemSurface, item_id: str, *, k: int, filters: ListFilters = DEFAULT_FILTERS
) -> dict[str, Any]:
    """The item's answer for ``surface`` (``ItemRecommendations``' fields); never raises for unknown ids or
    a Redis outage."""
    rid = new_recommendation_id()
    # a list held in process reads nothing from Redis: look at the active version every few seconds
    active = await active_or_unpublished(state, surface, check_stale=True)
    if active is None:
        record_answer(state, surface, rid, NO_VERSION, [])
        return list_payload(NO_VERSION, rid, fallback=True, items=[], item_id=item_id)
    index = active.tables.item_index.get(item_id, -1)
    pool = await pool_size(state, surface, k=k)
    held = f"{surface}@{rules_stamp(state, active)}"  # a held answer is valid while the rules in effect are
    rendered = active.item_answers.get(held, index, k) if filters.plain else None
    if rendered is None:
        rendered = await compute_answer(state, active, surface, item_id, index, k, pool, filters)
        if rendered.cause != "redis" and filters.plain:  # held: default filters only
            active.item_answers.put(held, index, k, rendered)
    else:
        # yield to the event loop once, as a Redis read would: with uvicorn, answers that never yield
        # let some connections wait (measured: p99 340 ms -> 140 ms at 2,000 requests/s)
        await asyncio.sleep(0)
    count_fallback(state.metrics, surface, rendered.cause)
    record_answer(state, surface, rid, active.model_version, rendered.item_ids)
    return list_payload(
        active.model_version,
        rid,
        fallback=rendered.cause is not None,
        items=RenderedJson(rendered.items),
        rules=rendered.rules,
        item_id=item_id,
    )


async def compute_answer(
    state: ServingState,
    active: Active,
    surface: ItemSurface,
    item_id: str,
    index: int,
    k: int,
    pool: int,
    filters: ListFilters = DEFAULT_FILTERS,
) -> RenderedItems:
    """The item's answer: its list read from Redis (none for an item the version does not know), merged
    (``pool`` rows), filtered and rendered after the merchandising rules (``serving.routes.merchandising``)."""
    base, cause = np.zeros(0, dtype=ENTRY), None
    new = is_new(active, index)
    if index >= 0 and not new:
        try:
            async with asyncio.timeout(state.settings.request_timeout_seconds):
                named, packed, stamp = await state.reader.item_lists(active.version, surface, [item_id])
            await follow_version(state, named, stamp)
            base = unpack_entries(packed[0])
            active = latest(state, Arm(active), surface).active  # with a catalog change the read just applied
        except REDIS_FAILURES as exc:
            redis_failed(state, surface, exc)
            cause = "redis"
    elif new:
        cause = "new_item"
    selection = select(active, filters)
    if cause is None and selection.unknown_category:
        cause = "unknown_category"
    category = int(active.tables.category[index]) if index >= 0 else -1
    answer = item_list(
        base,
        k=pool,
        exclude_item=index if index >= 0 else None,
        fallback=filled(active, selection, padding(active, surface, category, has_list=len(base) > 0 or new)),
        kind=ROW_KIND[surface],
        allowed=selection.allowed,
    )
    if cause is None and answer.fallback:
        cause = "unknown_item" if index < 0 else "no_list"
    answer, touched = shaped(
        state, active, surface, answer, k=k, item=index, item_category=category, allowed=selection.allowed
    )
    rows = render(active, answer)
    return RenderedItems(orjson.dumps(rows), cause, tuple(row["item_id"] for row in rows), touched)


@router.get("/{item_id:id}/complements", response_model=ItemRecommendations)
async def complements(
    item_id: ItemId, state: StateDep, k: K = DEFAULT_K, filters: Filters = DEFAULT_FILTERS
) -> Response:
    """What customers buy after this item, within days (a tent: sleeping bags, never another tent)."""
    return json_answer(await item_answer(state, "complements", item_id, k=k, filters=filters))


@router.get("/{item_id:id}/similar", response_model=ItemRecommendations)
async def similar(item_id: ItemId, state: StateDep, k: K = DEFAULT_K, filters: Filters = DEFAULT_FILTERS) -> Response:
    """Items like this one (bought by the same customers)."""
    return json_answer(await item_answer(state, "similar", item_id, k=k, filters=filters))
