"""The storefront's side of the HTTP API, as the simulator calls it: list pages and event batches.

Every list answer received is booked in the ledger (``answers``); every event batch the service accepts (202)
is booked event by event, in the order sent. Nothing fails silently: a non-2xx answer or a transport error
is counted in ``Problems`` (per call and status, with the first reason) and the page or batch is skipped.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from serving.simulator.ledger import Ledger

MAX_BATCH = 1000  # POST /v1/events/batch takes 1 to 1,000 events


@dataclass(frozen=True)
class Answer:
    """A list answer as the shopper sees it."""

    surface: str
    recommendation_id: str
    model_version: str
    fallback: bool
    items: list[str]


@dataclass
class Problems:
    """Non-2xx answers and transport errors: (call, status or error type) -> count, and a first reason."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, call: str, status: str, reason: str) -> None:
        key = (call, status)
        self.counts[key] += 1
        self.reasons.setdefault(key, reason[:300])

    def total(self) -> int:
        return sum(self.counts.values())

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"call": call, "status": status, "count": n, "reason": self.reasons[(call, status)]}
            for (call, status), n in sorted(self.counts.items())
        ]


@dataclass
class Tally:
    """What the run did, for the progress bar and the report."""

    requests: int = 0
    visits: int = 0
    events_sent: int = 0
    events_accepted: int = 0
    purchase_lines: int = 0
    accepted_by_type: Counter[str] = field(default_factory=Counter)  # event type -> accepted events


class Storefront:
    """List pages and event batches over one ``httpx.AsyncClient``; ``write_key`` goes with events."""

    def __init__(
        self, client: httpx.AsyncClient, ledger: Ledger, problems: Problems, *, write_key: str | None = None
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.problems = problems
        self.tally = Tally()
        self.event_headers = {"X-API-Key": write_key} if write_key else {}

    async def show(
        self, surface: str, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> Answer | None:
        """Ask for a list; None (and a problem) when the service does not answer 200."""
        response = await self._request(f"{method} {_route(path)}", method, path, params=params, json=body)
        if response is None:
            return None
        payload = response.json()
        answer = Answer(
            surface=surface,
            recommendation_id=payload["recommendation_id"],
            model_version=payload["model_version"],
            fallback=bool(payload["fallback"]),
            items=[row["item_id"] for row in payload["items"]],
        )
        self.ledger.record_answer(answer.recommendation_id, surface, answer.model_version, answer.items, now())
        return answer

    async def send(self, events: list[dict[str, Any]]) -> bool:
        """Send events (one batch per 1,000); True when every one was accepted. Accepted ones are booked."""
        ok = True
        for start in range(0, len(events), MAX_BATCH):
            batch = events[start : start + MAX_BATCH]
            self.tally.events_sent += len(batch)
            response = await self._request(
                "POST /v1/events/batch", "POST", "/v1/events/batch", json={"events": batch}, headers=self.event_headers
            )
            if response is None:
                ok = False
                continue
            accepted = response.json().get("accepted")
            if accepted != len(batch):
                self.problems.add("POST /v1/events/batch", "202", f"accepted {accepted} of {len(batch)} events")
                ok = False
                continue
            self.tally.events_accepted += len(batch)
            for event in batch:
                self.ledger.record_event(event)
                self.tally.accepted_by_type[event["type"]] += 1
                if event["type"] == "purchase":
                    self.tally.purchase_lines += len(event["item_ids"])
        return ok

    async def _request(self, call: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        self.tally.requests += 1
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.problems.add(call, type(exc).__name__, str(exc) or type(exc).__name__)
            return None
        if not response.is_success:
            self.problems.add(call, str(response.status_code), response.text)
            return None
        return response


def now() -> int:
    """The events' and answers' time: Unix seconds (the service reads event times to the second)."""
    return int(time.time())


def _route(path: str) -> str:
    """A path as its route, for problem reports (``/v1/users/c000042/next-purchase`` -> ``/v1/users/{id}/...``)."""
    parts = path.split("/")
    if len(parts) >= 5 and parts[2] in ("users", "items"):
        parts[3] = "{id}"
    return "/".join(parts)
