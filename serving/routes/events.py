"""Event intake: impressions, clicks, views, cart adds and removals, purchases; one at a time or in batches.

Every accepted event goes to the event log, to the customer's recent events (all but impressions: the next
answer reads them) and through attribution into the journey KPIs (``serving.feedback``; the rules are in
``docs/feedback.md``), with one script call that concurrent requests share (``GroupCommit``). Item ids are
stored as given, even when the published version does not know them (they may be new items).

An accepted event is never lost: when Redis is unreachable (or while earlier events still wait for it),
the events join the in-process buffer (``serving.event_buffer``) and the answer is still 202, with
``"buffered": true``; the buffer is written to Redis when it returns. Only a full buffer refuses them:
503 with ``Retry-After``, so that the storefront sends them again (a batch is accepted whole or refused whole).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Body, status
from fastapi.responses import JSONResponse, Response

from serving.event_buffer import EventBufferFullError, PendingEvent
from serving.feedback.ingest import stored_event
from serving.routes.common import REDIS_FAILURES, StateDep, json_answer, redis_failed
from serving.routes.filters import StrictQueryRoute
from serving.schemas import BatchAccepted, EventAccepted, EventBatch, EventIn, Problem, PurchaseEvent
from serving.state import ServingState

router = APIRouter(prefix="/v1", tags=["events"], route_class=StrictQueryRoute)
RETRY_AFTER_SECONDS = 5
UNAVAILABLE = {
    503: {
        "model": Problem,
        "description": "Redis is unreachable and the service's event buffer is full: send the events again "
        "after Retry-After seconds",
    }
}


@router.post("/events", status_code=status.HTTP_202_ACCEPTED, response_model=EventAccepted, responses=UNAVAILABLE)
async def post_event(event: Annotated[EventIn, Body()], state: StateDep) -> Response:
    """Record an event; the customer's next answers reflect it (once written to Redis, see ``buffered``)."""
    pending = to_pending(state, event, time.time())
    try:
        buffered = await store(state, [pending])
    except EventBufferFullError as exc:
        return refused(state, 1, exc)
    state.metrics.events.labels(type=event.type).inc()
    _, record = pending
    accepted = {
        "customer_id": event.customer_id,
        "type": event.type,
        "at": record["at"],
        "item_ids": record["item_ids"],
        "recommendation_id": event.recommendation_id,
        "buffered": buffered,
    }
    return json_answer(accepted, status.HTTP_202_ACCEPTED)


@router.post("/events/batch", status_code=status.HTTP_202_ACCEPTED, response_model=BatchAccepted, responses=UNAVAILABLE)
async def post_events(batch: EventBatch, state: StateDep) -> Response:
    """Record up to 1,000 events at once, in their order (a storefront's back end sending in bulk)."""
    now = time.time()
    pending = [to_pending(state, event, now) for event in batch.events]
    try:
        buffered = await store(state, pending)
    except EventBufferFullError as exc:
        return refused(state, len(pending), exc)
    for kind, n in Counter(event.type for event in batch.events).items():
        state.metrics.events.labels(type=kind).inc(n)
    return json_answer({"accepted": len(pending), "buffered": buffered}, status.HTTP_202_ACCEPTED)


def to_pending(state: ServingState, event: EventIn, now: float) -> PendingEvent:
    """The event as stored (``serving.feedback.ingest.stored_event``), prices from the held version."""
    record = stored_event(
        event.type,
        list(dict.fromkeys(event.item_ids)),
        event.unix_time(now),
        recommendation_id=event.recommendation_id,
        tables=state.active.tables if state.active is not None else None,
        **(
            {"order_id": event.order_id, "quantity": event.quantity, "price": event.price}
            if isinstance(event, PurchaseEvent)
            else {}
        ),
    )
    return event.customer_id, record


def refused(state: ServingState, count: int, exc: EventBufferFullError) -> JSONResponse:
    state.metrics.events_refused.inc(count)
    problem = Problem(status="unavailable", reason=f"the event store (Redis) is unavailable and {exc}; retry later")
    return JSONResponse(
        problem.model_dump(),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def store(state: ServingState, pending: Sequence[PendingEvent]) -> bool:
    """Write the events to Redis, or buffer them all; True when buffered. ``EventBufferFullError`` when neither.

    While the buffer holds events, new ones queue behind them (order of acceptance is kept)."""
    if not len(state.events):
        try:
            await state.commit.submit(pending)
            return False
        except REDIS_FAILURES as exc:
            redis_failed(state, "events", exc)
    state.events.offer_all(pending)
    state.metrics.events_buffered.inc(len(pending))
    return True
