"""Event intake: purchases, cart adds and views, stored per customer (newest first, bounded, with a TTL).

The next answer for the customer reads them (``serving.routes.users``, ``serving.routes.cart``): bought
items drop out of "for you" and their complements come first. Item ids are stored as given, even when
the published version does not know them (they may be new items); re-ranking ignores those. When Redis
is down the event cannot be kept: 503 with ``Retry-After``, so the storefront can send it again.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from serving.routes.common import REDIS_FAILURES, StateDep, event_record, redis_failed
from serving.schemas import EventAccepted, EventIn, Problem

router = APIRouter(prefix="/v1", tags=["events"])
RETRY_AFTER_SECONDS = 5


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventAccepted,
    responses={503: {"model": Problem, "description": "Redis is unavailable: send the event again later"}},
)
async def post_event(event: EventIn, state: StateDep) -> EventAccepted | JSONResponse:
    """Record an event; the customer's next answers reflect it."""
    at = event.unix_time(time.time())
    item_ids = list(dict.fromkeys(event.item_ids))
    record = event_record(event.type, item_ids, at)
    settings = state.settings
    try:
        async with asyncio.timeout(settings.request_timeout_seconds):
            await state.reader.add_event(event.customer_id, record, settings.events_max, settings.events_ttl_seconds)
    except REDIS_FAILURES as exc:
        redis_failed(state, "events", exc)
        problem = Problem(status="unavailable", reason="the event store (Redis) is unavailable; retry later")
        return JSONResponse(
            problem.model_dump(),
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    state.metrics.events.labels(type=event.type).inc()
    return EventAccepted(customer_id=event.customer_id, type=event.type, at=at, item_ids=item_ids)
