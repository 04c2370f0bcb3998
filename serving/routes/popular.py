"""Popular items (anonymous and new visitors), overall or per category, from the in-process tables.

No Redis read per request: the popular lists come with the version's tables. The active version is
looked at every ``version_check_seconds`` (one GET) so that a publish shows here too.
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Response

from recommender.request_time import ENTRY, item_list
from serving.routes.common import (
    NO_VERSION,
    K,
    StateDep,
    active_or_unpublished,
    count_fallback,
    json_answer,
    list_payload,
    new_recommendation_id,
    record_answer,
    render,
)
from serving.routes.filters import DEFAULT_FILTERS, Filters, StrictQueryRoute, filled, select
from serving.routes.merchandising import pool_size, shaped
from serving.schemas import DEFAULT_K, PopularRecommendations

router = APIRouter(prefix="/v1", tags=["popular"], route_class=StrictQueryRoute)
SURFACE = "popular"


@router.get("/popular", response_model=PopularRecommendations)
async def popular(
    state: StateDep,
    k: K = DEFAULT_K,
    filters: Filters = DEFAULT_FILTERS,
) -> Response:
    """What sells now (time-decayed), overall or in ``category`` (one or several); an unknown category gets
    the overall list, marked as a fallback. Filters: ``docs/serving.md``."""
    rid = new_recommendation_id()
    category = filters.category[0] if len(filters.category) == 1 else None
    active = await active_or_unpublished(state, SURFACE, check_stale=True)
    if active is None:
        record_answer(state, SURFACE, rid, NO_VERSION, [])
        return json_answer(list_payload(NO_VERSION, rid, fallback=True, items=[], category=category))
    selection = select(active, filters)
    cause = "unknown_category" if selection.unknown_category else None
    pool = await pool_size(state, SURFACE, k=k)
    answer = item_list(
        np.zeros(0, dtype=ENTRY),
        k=pool,
        exclude_item=None,
        fallback=filled(active, selection),
        allowed=selection.allowed,
    )
    answer, touched = shaped(
        state, active, SURFACE, answer, k=k, category=selection.category, allowed=selection.allowed
    )
    count_fallback(state.metrics, SURFACE, cause)
    items = render(active, answer)
    record_answer(state, SURFACE, rid, active.model_version, [row["item_id"] for row in items])
    return json_answer(
        list_payload(
            active.model_version, rid, fallback=cause is not None, items=items, rules=touched, category=category
        )
    )
