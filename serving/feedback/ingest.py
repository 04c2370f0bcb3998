"""Accepted events as they are stored, and their group commit to Redis.

``stored_event`` turns a validated event into the record kept in the log and in the customer's recent
events: a purchase gets its unit price per item (the event's, else the held version's catalog price, else 0)
and each line's revenue in cents. ``encode`` gives the JSON that the store's script reads.

``GroupCommit`` writes the events of concurrent requests together: a request hands its events over and
waits for their write; one writer task takes everything queued so far and writes it with one script call,
then the next batch. A request's answer (202) is sent only once its events are in Redis; under load, many
requests share one round trip instead of one each.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from serving.cache import VersionTables
from serving.event_buffer import PendingEvent
from serving.feedback.revenue import line_cents

Writer = Callable[[Sequence[PendingEvent]], Awaitable[None]]
MAX_BATCH = 1_000  # events per script call: Redis runs a script alone, so keep each one short


def stored_event(
    event_type: str,
    item_ids: Sequence[str],
    at: int,
    *,
    recommendation_id: str | None = None,
    order_id: str | None = None,
    quantity: int | None = None,
    price: float | None = None,
    tables: VersionTables | None = None,
) -> dict[str, Any]:
    """The record stored for an event (external item ids: unknown ones may be new items)."""
    record: dict[str, Any] = {"type": event_type, "item_ids": list(item_ids), "at": int(at)}
    if recommendation_id is not None:
        record["recommendation_id"] = recommendation_id
    if event_type == "purchase":
        units = 1 if quantity is None else quantity
        prices = [price if price is not None else catalog_price(tables, item) for item in item_ids]
        if order_id is not None:
            record["order_id"] = order_id
        record["quantity"] = units
        record["prices"] = prices
        record["line_cents"] = [line_cents(p, units) for p in prices]
    return record


def catalog_price(tables: VersionTables | None, item_id: str) -> float:
    """The item's price in the held version's catalog; 0 for an item it does not know or has no price for."""
    if tables is None:
        return 0.0
    index = tables.item_index.get(item_id, -1)
    return float(tables.price[index]) if index >= 0 else 0.0


def encode(event: PendingEvent) -> bytes:
    """The event as the store's script and the log read it: the record with its ``customer_id``."""
    customer_id, record = event
    return orjson.dumps({"customer_id": customer_id, **record})


class GroupCommit:
    """Concurrent requests' events written together (see the module docstring)."""

    def __init__(self, write: Writer, max_batch: int = MAX_BATCH) -> None:
        self._write = write
        self.max_batch = max_batch
        self._queue: deque[tuple[Sequence[PendingEvent], asyncio.Future[None]]] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, events: Sequence[PendingEvent]) -> None:
        """Return once ``events`` are written; raise what the write raised (nothing was written then, or,
        when the reply was lost, possibly everything: delivery is at least once)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((events, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="recs-event-commit")
        await done

    async def _drain(self) -> None:
        while self._queue:
            batch: list[tuple[Sequence[PendingEvent], asyncio.Future[None]]] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0][0]) <= self.max_batch):
                entry = self._queue.popleft()
                batch.append(entry)
                size += len(entry[0])
            events = [event for entry_events, _ in batch for event in entry_events]
            try:
                await self._write(events)
            except BaseException as exc:  # every request of the batch learns it (they buffer their events)
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
