"""Events accepted while Redis is unreachable: a bounded in-process buffer, its flusher, and its spool file.

``POST /v1/events`` writes straight to Redis while the buffer is empty. When Redis fails, the event goes
into the buffer instead (202 with ``"buffered": true``); while the buffer holds anything, new events queue
behind it, so events reach Redis in the order they were accepted. A full buffer refuses the event (the
route answers 503 with ``Retry-After``): an event is either accepted and kept, or refused, never dropped.

``EventBuffer.run`` (a task of the app's lifespan) writes the buffer oldest first, in MULTI/EXEC batches;
after a failure it waits with exponential backoff, cut short by ``nudge()``, which the serving state calls
after every successful Redis round trip. Delivery is at least once: a batch whose reply was lost in a
failure is written again. A stopping process writes what it could not flush to a spool file
(``RECS_EVENT_SPOOL_DIR``) that the next start reads back, or, without a spool directory, logs the events
at ERROR level.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from serving.cache import RedisUnavailable

log = logging.getLogger(__name__)
PendingEvent = tuple[str, dict[str, Any]]  # (customer_id, the record stored in Redis)
Writer = Callable[[Sequence[PendingEvent]], Awaitable[None]]
FLUSH_FAILURES: tuple[type[BaseException], ...] = (*RedisUnavailable, TimeoutError)
SPOOL_SUFFIX = ".jsonl"


class EventBufferFullError(RuntimeError):
    """The buffer holds ``capacity`` events already; the event is refused, not kept."""


@dataclass
class EventBuffer:
    """Events waiting for Redis, oldest first; at most ``capacity`` accepted through ``offer``."""

    capacity: int
    batch_size: int = 500
    min_backoff: float = 0.05
    max_backoff: float = 1.0
    on_flushed: Callable[[int], None] | None = None  # told how many events each successful batch wrote
    _queue: deque[PendingEvent] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)  # set: try a flush now
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one flush at a time
    _backing_off: bool = False

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, event: PendingEvent) -> None:
        """Keep ``event`` until it is flushed; ``EventBufferFullError`` when the buffer is full."""
        if len(self._queue) >= self.capacity:
            raise EventBufferFullError(f"{len(self._queue)} events are waiting for Redis already")
        self._queue.append(event)
        if not self._backing_off:
            self._ready.set()

    def offer_all(self, events: Sequence[PendingEvent]) -> None:
        """Keep all of ``events`` or none: ``EventBufferFullError`` when they do not all fit."""
        if len(self._queue) + len(events) > self.capacity:
            raise EventBufferFullError(f"{len(self._queue)} events are waiting for Redis already")
        self._queue.extend(events)
        if not self._backing_off:
            self._ready.set()

    def restore(self, events: Iterable[PendingEvent]) -> int:
        """Queue events accepted earlier (a spool file), beyond ``capacity`` if need be: they were accepted."""
        before = len(self._queue)
        self._queue.extend(events)
        if len(self._queue) > before:
            self._ready.set()
        return len(self._queue) - before

    def nudge(self) -> None:
        """Redis just answered: retry now instead of at the end of the backoff (no-op when empty)."""
        if self._queue:
            self._ready.set()

    async def flush(self, write: Writer) -> int:
        """Write every buffered event, oldest first; each batch leaves the buffer only once written.

        Returns how many were written; a failure propagates with the unwritten events still buffered."""
        written = 0
        async with self._lock:
            while self._queue:
                batch = list(islice(self._queue, self.batch_size))
                await write(batch)
                for _ in batch:
                    self._queue.popleft()
                written += len(batch)
                if self.on_flushed is not None:
                    self.on_flushed(len(batch))
        return written

    async def run(self, write: Writer) -> None:
        """Flush whenever events are waiting, with exponential backoff after failures (until cancelled)."""
        delay = self.min_backoff
        while True:
            await self._ready.wait()
            self._ready.clear()
            if not self._queue:
                continue
            try:
                written = await self.flush(write)
            except Exception as exc:  # Redis down (FLUSH_FAILURES) or anything else: keep the events, retry
                self._backing_off = True
                if isinstance(exc, FLUSH_FAILURES):
                    log.warning("%d buffered events wait for Redis (retry in %.2fs): %r", len(self), delay, exc)
                else:
                    log.exception("flushing %d buffered events failed (retry in %.2fs)", len(self), delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._ready.wait()
                delay = min(delay * 2, self.max_backoff)
                self._ready.set()
            else:
                if written:
                    log.info("flushed %d buffered events to Redis", written)
                delay, self._backing_off = self.min_backoff, False

    def drain(self) -> list[PendingEvent]:
        """Take every buffered event out (shutdown: they go to the spool or the log)."""
        events = list(self._queue)
        self._queue.clear()
        return events


# the spool: what a stopping process could not flush ------------------------------------------------------------
def write_spool(directory: Path, events: Sequence[PendingEvent]) -> Path:
    """Write ``events`` as JSON lines into a new file of ``directory`` (atomically: temp file, then rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"events-{time.time_ns()}-{os.getpid()}"
    tmp = directory / f".{name}.tmp"
    with tmp.open("w", encoding="utf-8") as out:
        for customer_id, record in events:
            out.write(json.dumps({"customer_id": customer_id, "record": record}, separators=(",", ":")) + "\n")
        out.flush()
        os.fsync(out.fileno())
    path = directory / f"{name}{SPOOL_SUFFIX}"
    tmp.rename(path)
    return path


def read_spool(directory: Path) -> list[PendingEvent]:
    """Claim and read every spool file of ``directory`` (oldest first), deleting each once read.

    A file is claimed by renaming it, so that of several workers starting at once only one reads it.
    Undecodable lines are logged at ERROR level, with their text."""
    if not directory.is_dir():
        return []
    events: list[PendingEvent] = []
    for path in sorted(directory.glob(f"*{SPOOL_SUFFIX}")):
        claimed = path.with_name(f".{path.name}.claimed-{os.getpid()}")
        try:
            path.rename(claimed)
        except FileNotFoundError:
            continue  # another worker claimed it
        events.extend(_spooled_events(claimed))
        claimed.unlink()
    return events


def _spooled_events(path: Path) -> list[PendingEvent]:
    events: list[PendingEvent] = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        try:
            entry = json.loads(line)
            events.append((str(entry["customer_id"]), dict(entry["record"])))
        except (ValueError, TypeError, KeyError):
            log.error("spooled event %s:%d is unreadable and cannot be replayed: %s", path.name, number, line[:500])
    return events


def log_unflushed(events: Sequence[PendingEvent]) -> None:
    """No spool directory: put each unflushed event in the log (ERROR), so that it can be replayed by hand."""
    log.error("%d accepted events could not be written to Redis before shutdown; they follow", len(events))
    for customer_id, record in events:
        log.error("unflushed event: %s", json.dumps({"customer_id": customer_id, "record": record}))
