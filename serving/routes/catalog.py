"""The live catalog's write route: ``PUT /v1/items`` (a write key, as events take: ``serving.auth``).

A JSON list of ``{item_id, in_stock?, price?, category?, name?, active?}`` (``serving.schemas.CatalogItem``,
at most ``MAX_CATALOG_ITEMS``): the given fields are merged into the live catalog in Redis
(``serving.catalog_store``), independent of the published version; this process applies them before it
answers, and every other serving process on its next request (each request's read returns the catalog's
stamp). Items the version does not know become servable at once (``serving.catalog_overlay``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, status
from fastapi.responses import JSONResponse

from serving import catalog_store
from serving.routes.common import REDIS_FAILURES, StateDep, redis_failed
from serving.routes.filters import StrictQueryRoute
from serving.schemas import MAX_CATALOG_ITEMS, CatalogItem, CatalogUpdated, Problem

router = APIRouter(prefix="/v1", tags=["catalog"], route_class=StrictQueryRoute)


@router.put(
    "/items",
    response_model=CatalogUpdated,
    responses={503: {"model": Problem, "description": "Redis is unreachable: nothing was written"}},
)
async def put_items(
    items: Annotated[list[CatalogItem], Body(min_length=1, max_length=MAX_CATALOG_ITEMS)], state: StateDep
) -> JSONResponse:
    """Update the live catalog (stock, price, category, name, ``active``) without retraining; items not in
    the model are added (popular in their category, similar items by category and price)."""
    records = [item.model_dump() for item in items]
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            stamp = await catalog_store.write_items(state.reader.client, records)
            await state.sync_catalog(str(stamp).encode())
    except REDIS_FAILURES as exc:
        redis_failed(state, "catalog", exc)
        problem = Problem(status="unavailable", reason="Redis is unreachable: the catalog was not updated; retry")
        return JSONResponse(problem.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return JSONResponse(CatalogUpdated(updated=len(records), stamp=stamp).model_dump())
