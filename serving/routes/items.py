"""Item surfaces (product page): complements ("goes with") and similar items ("like this one").

One pipeline reads the active version and the item's precomputed list. An item without a list gets a
marked fallback: popular items in its category when the catalog knows the item, popular overall else.
A list shorter than ``k`` is padded with popular items (see ``padding``).
"""

from __future__ import annotations

import asyncio
from typing import Literal

import numpy as np
from fastapi import APIRouter

from recommender.rerank import Fallback, item_list
from serving.cache import ENTRY, unpack_entries
from serving.routes.common import (
    REDIS_FAILURES,
    ItemId,
    K,
    StateDep,
    count_fallback,
    follow_version,
    model_version,
    new_recommendation_id,
    popular_fallback,
    redis_failed,
    render,
)
from serving.schemas import ItemRecommendations
from serving.state import Active, ServingState

router = APIRouter(prefix="/v1/items", tags=["items"])
ItemSurface = Literal["complements", "similar"]
ROW_KIND: dict[str, Literal["complement", "similar"]] = {"complements": "complement", "similar": "similar"}


def padding(
    active: Active, surface: ItemSurface, category: int, *, has_list: bool
) -> tuple[Fallback, np.ndarray | None]:
    """(the popular list to pad or replace the item's list with, the allowed mask).

    Without a list: popular in the item's category (overall for an item of no known category). A short
    complements list is padded from popular items of other categories (complements are never substitutes);
    a short similar list from popular items of the item's own category.
    """
    if surface == "complements" and has_list and category >= 0:
        return popular_fallback(active), active.tables.category != category
    return popular_fallback(active, category), None


async def item_answer(state: ServingState, surface: ItemSurface, item_id: str, *, k: int) -> ItemRecommendations:
    """The item's list for ``surface``; never raises for unknown ids or a Redis outage."""
    rid = new_recommendation_id()
    try:
        active = await state.current(check_stale=False)
    except REDIS_FAILURES as exc:
        redis_failed(state, surface, exc)
        active = state.active
    if active is None:
        count_fallback(state.metrics, surface, "unpublished")
        return ItemRecommendations(
            item_id=item_id, model_version=model_version(None), recommendation_id=rid, fallback=True, items=[]
        )
    index = active.tables.item_index.get(item_id, -1)
    base, cause = np.zeros(0, dtype=ENTRY), None
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            named, packed = await state.reader.item_lists(active.version, surface, [item_id])
        await follow_version(state, named)
        base = unpack_entries(packed[0])
    except REDIS_FAILURES as exc:
        redis_failed(state, surface, exc)
        cause = "redis"
    category = int(active.tables.category[index]) if index >= 0 else -1
    fallback, allowed = padding(active, surface, category, has_list=len(base) > 0)
    answer = item_list(
        base,
        k=k,
        exclude_item=index if index >= 0 else None,
        fallback=fallback,
        kind=ROW_KIND[surface],
        allowed=allowed,
    )
    if cause is None and answer.fallback:
        cause = "unknown_item" if index < 0 else "no_list"
    count_fallback(state.metrics, surface, cause)
    return ItemRecommendations(
        item_id=item_id,
        model_version=active.model_version,
        recommendation_id=rid,
        fallback=cause is not None,
        items=render(active, answer),
    )


@router.get("/{item_id:id}/complements", response_model=ItemRecommendations)
async def complements(item_id: ItemId, state: StateDep, k: K = 10) -> ItemRecommendations:
    """What customers buy after this item, within days (a tent: sleeping bags, never another tent)."""
    return await item_answer(state, "complements", item_id, k=k)


@router.get("/{item_id:id}/similar", response_model=ItemRecommendations)
async def similar(item_id: ItemId, state: StateDep, k: K = 10) -> ItemRecommendations:
    """Items like this one (bought by the same customers)."""
    return await item_answer(state, "similar", item_id, k=k)
