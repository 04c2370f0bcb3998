"""Popular items (anonymous and new visitors), overall or per category, from the in-process tables.

No Redis read per request: the popular lists come with the version's tables. The active version is
looked at every ``version_check_seconds`` (one GET) so that a publish shows here too.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query

from recommender.request_time import ENTRY, item_list
from serving.routes.common import (
    NO_VERSION,
    K,
    StateDep,
    active_or_unpublished,
    count_fallback,
    new_recommendation_id,
    popular_fallback,
    record_answer,
    render,
)
from serving.routes.merchandising import pool_size, shaped
from serving.schemas import DEFAULT_K, MAX_CATEGORY_LENGTH, PopularRecommendations

router = APIRouter(prefix="/v1", tags=["popular"])
SURFACE = "popular"


@router.get("/popular", response_model=PopularRecommendations)
async def popular(
    state: StateDep,
    k: K = DEFAULT_K,
    category: Annotated[
        str | None, Query(max_length=MAX_CATEGORY_LENGTH, description="a catalog category name")
    ] = None,
) -> PopularRecommendations:
    """What sells now (time-decayed), overall or in ``category``; an unknown category gets the overall list,
    marked as a fallback."""
    rid = new_recommendation_id()
    active = await active_or_unpublished(state, SURFACE, check_stale=True)
    if active is None:
        record_answer(state, SURFACE, rid, NO_VERSION, [])
        return PopularRecommendations(
            category=category, model_version=NO_VERSION, recommendation_id=rid, fallback=True, items=[]
        )
    index = -1 if category is None else active.tables.category_index(category)
    cause = "unknown_category" if category is not None and index < 0 else None
    pool = await pool_size(state, SURFACE, k=k)
    answer = item_list(np.zeros(0, dtype=ENTRY), k=pool, exclude_item=None, fallback=popular_fallback(active, index))
    answer, touched = shaped(state, active, SURFACE, answer, k=k, category=None if index < 0 else index)
    count_fallback(state.metrics, SURFACE, cause)
    items = render(active, answer)
    record_answer(state, SURFACE, rid, active.model_version, [row["item_id"] for row in items])
    return PopularRecommendations(
        category=category,
        model_version=active.model_version,
        recommendation_id=rid,
        fallback=cause is not None,
        items=items,
        rules=list(touched),
    )
