"""What each answer showed, recorded for attribution and counted, written to Redis in batches off the request path.

A list route calls ``AnswerRecorder.record`` (microseconds: one small JSON array and a counter); a task of
the app's lifespan (``run``) writes whatever is pending with one script call (``store.write_answers``), so
that under load one round trip carries many answers. Writing events first flushes what is pending
(``flush``), so that a click sent right after an answer finds the answer's record when both reach the same
process; with several workers, an answer's record reaches Redis within one round trip of the answer.

While Redis is unreachable, records wait, at most ``capacity`` of them: past it the oldest are dropped and
counted (``dropped``). A dropped record only means that a click on that answer is not attributed; events
themselves are never dropped (``serving.event_buffer``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence

import orjson

from serving.feedback.store import HOUR, kpi_field

log = logging.getLogger(__name__)
AnswerWriter = Callable[[Sequence[bytes], Mapping[tuple[int, str], int]], Awaitable[None]]
MAX_BATCH = 2_000  # answers per script call: Redis runs a script alone, so keep each one short


class AnswerRecorder:
    """Answers waiting to be written, and the count of answers per (hour, KPI field) not yet added."""

    def __init__(self, write: AnswerWriter, capacity: int = 20_000, retry_seconds: float = 0.5) -> None:
        self._write = write
        self.capacity = capacity
        self.retry_seconds = retry_seconds
        self.dropped = 0
        self._answers: list[bytes] = []
        self._counts: Counter[tuple[int, str]] = Counter()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopped = False

    def __len__(self) -> int:
        return len(self._answers)

    def record(
        self,
        rid: str,
        surface: str,
        model_version: str,
        customer_id: str | None,
        item_ids: Sequence[str],
        at: int,
        experiment: str | None = None,
    ) -> None:
        """One answer: its id, surface, model version label, customer (None for item pages), items (best
        first), time (Unix seconds) and, in an experiment, ``"<experiment>:<variant>"``. An answer without
        items is counted, not stored."""
        if item_ids:
            record = [rid, surface, model_version, customer_id or "", at, list(item_ids)]
            if experiment is not None:
                record.append(experiment)
            self._answers.append(orjson.dumps(record))
            if len(self._answers) > self.capacity:
                excess = len(self._answers) - self.capacity
                del self._answers[:excess]
                self.dropped += excess
        self._counts[(at // HOUR, kpi_field(surface, model_version, "answers"))] += 1
        self._wake.set()

    async def flush(self) -> int:
        """Write everything pending (in chunks of ``MAX_BATCH``); returns how many answers were written. On
        failure the unwritten part stays pending and the error propagates."""
        written = 0
        async with self._lock:
            while self._answers or self._counts:
                answers, counts = self._answers[:MAX_BATCH], self._counts
                self._counts = Counter()
                try:
                    await self._write(answers, counts)
                except BaseException:
                    self._counts.update(counts)
                    raise
                del self._answers[: len(answers)]
                written += len(answers)
        return written

    def stop(self) -> None:
        """Make ``run`` return (after the write in progress, if any)."""
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        """Flush whenever answers are pending (a task of the app's lifespan), until ``stop``.

        A flag rather than cancellation alone: a cancellation that arrives during a Redis command can be
        absorbed by the client (redis-py 8 finishes the command and returns), which would leave the task
        waiting for ever."""
        while not self._stopped:
            await self._wake.wait()
            if self._stopped:
                return
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:  # Redis down or slow: keep the records, try again shortly
                log.warning("%d answer records wait for Redis (retry in %.1fs): %r", len(self), self.retry_seconds, exc)
                await asyncio.sleep(self.retry_seconds)
                self._wake.set()
