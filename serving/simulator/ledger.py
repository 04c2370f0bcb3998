"""The simulator's ledger: what it was shown, what it clicked and what it bought, attributed by the service's
rules (``docs/feedback.md``, "Attribution"), so that its counts equal ``GET /v1/kpis`` after a run.

Pure bookkeeping, no I/O: the session loop records every list answer it received (``record_answer``) and
every event the service accepted (``record_event``, in the order they were sent). The rules, last touch:

- an answer counts one ``answers`` for its surface and model version;
- an ``impression`` carrying a known ``recommendation_id`` counts one impression;
- a ``click`` carrying a known ``recommendation_id`` counts one click per clicked item the answer showed, and
  makes that answer the customer's last touch for the item;
- a ``purchase`` line (``order_id``, item) is attributed to the answer of its own ``recommendation_id`` when
  that answer showed the item, else to the customer's last touch for the item when the purchase comes within
  the attribution window after the click; an attributed line counts one attributed purchase and
  ``line_cents(price, quantity)`` of revenue, once per (``order_id``, item). Without an ``order_id`` every
  purchase event is its own order. Purchases without a click (and without a list's own buy button) are not
  attributed.

The impressions, clicks and attributed purchases of the shoppers named in ``guests`` are also booked per
surface in ``guest_counts`` (their answers are not: an answer names no shopper), to compare guests' CTR.

A ``recommendation_id`` is known for ``answer_ttl_seconds`` after its answer (the service's
``RECS_ANSWER_TTL_SECONDS``). Times are the events' own ``timestamp`` (Unix seconds), which the simulator
always sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from recommender.vocabulary import ANSWER_SURFACES
from serving.feedback.revenue import line_cents

DEFAULT_ATTRIBUTION_WINDOW_SECONDS = 24 * 3600
DEFAULT_ANSWER_TTL_SECONDS = 3600


class LedgerError(ValueError):
    """An answer or event the ledger cannot book (an unknown surface, an event without a timestamp...)."""


@dataclass
class Counts:
    """The attribution counts of one surface and model version, or of all of them."""

    answers: int = 0
    impressions: int = 0
    clicks: int = 0
    attributed_purchases: int = 0
    attributed_revenue_cents: int = 0

    def add(self, other: Counts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True)
class Shown:
    """A list answer as the ledger keeps it."""

    surface: str
    model_version: str
    items: frozenset[str]
    at: int


@dataclass(frozen=True)
class Touch:
    """A customer's last click on an item: the answer that showed it, and when."""

    recommendation_id: str
    at: int


@dataclass
class Ledger:
    """Answers and accepted events, booked per (surface, model version) as the service books them."""

    window_seconds: int = DEFAULT_ATTRIBUTION_WINDOW_SECONDS
    answer_ttl_seconds: int = DEFAULT_ANSWER_TTL_SECONDS
    answers: dict[str, Shown] = field(default_factory=dict)  # recommendation_id -> what it showed
    touches: dict[tuple[str, str], Touch] = field(default_factory=dict)  # (customer, item) -> last click
    lines: set[tuple[str, str]] = field(default_factory=set)  # attributed (order_id, item)
    counts: dict[tuple[str, str], Counts] = field(default_factory=dict)  # (surface, model_version) -> counts
    guests: frozenset[str] = frozenset()  # customer ids of the guests
    guest_counts: dict[str, Counts] = field(default_factory=dict)  # surface -> the guests' counts

    def record_answer(
        self, recommendation_id: str, surface: str, model_version: str, item_ids: Iterable[str], at: int
    ) -> None:
        """A list answer received (its items in any order; an empty list is an answer too)."""
        if surface not in ANSWER_SURFACES:
            raise LedgerError(f"unknown surface {surface!r}; one of {', '.join(ANSWER_SURFACES)}")
        if recommendation_id in self.answers:
            raise LedgerError(f"recommendation_id {recommendation_id!r} was booked already")
        self.answers[recommendation_id] = Shown(surface, model_version, frozenset(item_ids), int(at))
        self._counts(surface, model_version).answers += 1

    def record_event(self, event: Mapping[str, Any]) -> None:
        """An event the service accepted, as it was sent (``customer_id``, ``type``, ``item_ids``,
        ``timestamp`` in Unix seconds, and ``recommendation_id``, ``order_id``, ``quantity``, ``price``)."""
        if "timestamp" not in event or isinstance(event["timestamp"], str):
            raise LedgerError("the ledger needs every event's timestamp in Unix seconds")
        at = int(event["timestamp"])
        items = list(dict.fromkeys(event["item_ids"]))  # as the service reads them: duplicates once
        shown = self._known(event.get("recommendation_id"), at)
        kind = event["type"]
        guest = event["customer_id"] in self.guests
        if kind == "impression" and shown is not None:
            self._counts(shown.surface, shown.model_version).impressions += 1
            if guest:
                self._guest(shown.surface).impressions += 1
        elif kind == "click" and shown is not None:
            for item in items:
                if item in shown.items:
                    self._counts(shown.surface, shown.model_version).clicks += 1
                    if guest:
                        self._guest(shown.surface).clicks += 1
                    self.touches[(event["customer_id"], item)] = Touch(event["recommendation_id"], at)
        elif kind == "purchase":
            self._purchase(event, items, shown, at)

    def _purchase(self, event: Mapping[str, Any], items: list[str], shown: Shown | None, at: int) -> None:
        if "price" not in event:
            raise LedgerError("the ledger needs every purchase's price (the simulator sends the catalog's)")
        order_id = event.get("order_id")
        cents = line_cents(float(event["price"]), int(event.get("quantity", 1)))
        for item in items:
            if order_id is not None and (order_id, item) in self.lines:
                continue
            source = shown if shown is not None and item in shown.items else self._last_touch(event, item, at)
            if source is None:
                continue
            if order_id is not None:
                self.lines.add((order_id, item))
            booked = [self._counts(source.surface, source.model_version)]
            if event["customer_id"] in self.guests:
                booked.append(self._guest(source.surface))
            for counts in booked:
                counts.attributed_purchases += 1
                counts.attributed_revenue_cents += cents

    def _last_touch(self, event: Mapping[str, Any], item: str, at: int) -> Shown | None:
        touch = self.touches.get((event["customer_id"], item))
        if touch is None or not 0 <= at - touch.at <= self.window_seconds:
            return None
        return self.answers[touch.recommendation_id]

    def _known(self, recommendation_id: str | None, at: int) -> Shown | None:
        shown = self.answers.get(recommendation_id) if recommendation_id is not None else None
        if shown is None or at - shown.at >= self.answer_ttl_seconds:
            return None
        return shown

    def _counts(self, surface: str, model_version: str) -> Counts:
        return self.counts.setdefault((surface, model_version), Counts())

    def _guest(self, surface: str) -> Counts:
        return self.guest_counts.setdefault(surface, Counts())

    def totals(self) -> Counts:
        total = Counts()
        for counts in self.counts.values():
            total.add(counts)
        return total

    def by_surface(self) -> list[tuple[str, str, Counts]]:
        """(surface, model_version, counts), in ``ANSWER_SURFACES`` order, then by model version."""
        order = {surface: i for i, surface in enumerate(ANSWER_SURFACES)}
        keys = sorted(self.counts, key=lambda key: (order[key[0]], key[1]))
        return [(surface, version, self.counts[(surface, version)]) for surface, version in keys]
