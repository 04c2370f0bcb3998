"""Event intake: purchases, cart adds and views, stored per customer (newest first, bounded, with a TTL).

The next answer for the customer reads them (``serving.routes.users``, ``serving.routes.cart``): bought
items drop out of "for you" and their complements come first. Item ids are stored as given, even when
the published version does not know them (they may be new items); re-ranking ignores those.

An accepted event is never lost: when Redis is unreachable (or while earlier events still wait for it),
the event joins the in-process buffer (``serving.event_buffer``) and the answer is still 202, with
``"buffered": true``; the buffer is written to Redis when it returns. Only a full buffer refuses the event:
503 with ``Retry-After``, so that the storefront sends it again.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from serving.event_buffer import EventBufferFullError, PendingEvent
from serving.routes.common import REDIS_FAILURES, StateDep, event_record, redis_failed
from serving.schemas import EventAccepted, EventIn, Problem
from serving.state import ServingState

router = APIRouter(prefix="/v1", tags=["events"])
RETRY_AFTER_SECONDS = 5


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventAccepted,
    responses={
        503: {
            "model": Problem,
            "description": "Redis is unreachable and the service's event buffer is full: send the event again "
            "after Retry-After seconds",
        }
    },
)
async def post_event(event: EventIn, state: StateDep) -> EventAccepted | JSONResponse:
    """Record an event; the customer's next answers reflect it (once written to Redis, see ``buffered``)."""
    at = event.unix_time(time.time())
    item_ids = list(dict.fromkeys(event.item_ids))
    pending = (event.customer_id, event_record(event.type, item_ids, at))
    try:
        buffered = await store(state, pending)
    except EventBufferFullError as exc:
        state.metrics.events_refused.inc()
        problem = Problem(status="unavailable", reason=f"the event store (Redis) is unavailable and {exc}; retry later")
        return JSONResponse(
            problem.model_dump(),
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    state.metrics.events.labels(type=event.type).inc()
    return EventAccepted(customer_id=event.customer_id, type=event.type, at=at, item_ids=item_ids, buffered=buffered)


async def store(state: ServingState, pending: PendingEvent) -> bool:
    """Write the event to Redis, or buffer it; True when buffered. ``EventBufferFullError`` when neither.

    While the buffer holds events, new ones queue behind them (order of acceptance is kept)."""
    if not len(state.events):
        try:
            await state.write_events([pending])
            return False
        except REDIS_FAILURES as exc:
            redis_failed(state, "events", exc)
    state.events.offer(pending)
    state.metrics.events_buffered.inc()
    return True
