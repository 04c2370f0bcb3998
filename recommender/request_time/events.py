"""A customer's recent events (purchases, cart adds, views) and their summary by item, ``RecentEvents``.

Between two publishes a customer keeps buying, carting and viewing; the storefront sends these events and
a request reads them back. ``RecentEvents.from_events`` turns them into sorted distinct item indices with
the latest time of each, which the merges look up with a handful of numpy calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recommender.errors import RecommenderError
from recommender.numeric import pair_keys
from recommender.vocabulary import EVENT_TYPES, EventType

PURCHASE, ADD_TO_CART, VIEW, REMOVE_FROM_CART = (
    EVENT_TYPES.index(t) for t in ("purchase", "add_to_cart", "view", "remove_from_cart")
)


class UnknownEventTypeError(RecommenderError, ValueError):
    """An event whose type is not one of ``EVENT_TYPES``."""


@dataclass(frozen=True)
class Event:
    """One event of a customer: its type, the item indices it names, and when (Unix seconds)."""

    type: EventType
    items: np.ndarray | Sequence[int]
    at: int


def _latest(items: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct items (sorted) with the latest time each occurs at."""
    order = np.lexsort((-at, items))
    items, at = items[order], at[order]
    first = np.ones(len(items), dtype=bool)
    first[1:] = items[1:] != items[:-1]
    return items[first].astype(np.int32), at[first]


@dataclass(frozen=True)
class RecentEvents:
    """What a customer did recently, by item: sorted distinct item indices with their latest time.

    ``cart`` holds items added to the cart and neither purchased nor removed since (a purchase or a
    removal at the same moment as the add counts). Impressions and clicks are not summarized here.
    """

    purchased: np.ndarray  # int32, sorted, distinct
    purchased_at: np.ndarray  # int64, latest purchase per item
    cart: np.ndarray
    cart_at: np.ndarray
    viewed: np.ndarray
    viewed_at: np.ndarray

    @classmethod
    def empty(cls) -> RecentEvents:
        """No events (one shared, read-only instance: most requests have none)."""
        return NO_EVENTS

    @classmethod
    def from_events(cls, events: Sequence[Event]) -> RecentEvents:
        """Summarize events in any order (newest first as stored is fine); item indices < 0 are ignored."""
        unknown = sorted({str(e.type) for e in events} - set(EVENT_TYPES))
        if unknown:
            raise UnknownEventTypeError(f"unknown event type(s) {', '.join(unknown)}; use {', '.join(EVENT_TYPES)}")
        if not events:
            return cls.empty()
        per_event = [np.asarray(e.items, dtype=np.int64).ravel() for e in events]
        lengths = [len(items) for items in per_event]
        item = np.concatenate(per_event)
        at = np.repeat(np.array([int(e.at) for e in events], dtype=np.int64), lengths)
        code = np.repeat(np.array([EVENT_TYPES.index(e.type) for e in events], dtype=np.int8), lengths)
        known = item >= 0
        item, at, code = item[known], at[known], code[known]
        bought, bought_at = _latest(item[code == PURCHASE], at[code == PURCHASE])
        carted, carted_at = _latest(item[code == ADD_TO_CART], at[code == ADD_TO_CART])
        viewed, viewed_at = _latest(item[code == VIEW], at[code == VIEW])
        removed, removed_at = _latest(item[code == REMOVE_FROM_CART], at[code == REMOVE_FROM_CART])
        never = np.iinfo(np.int64).min
        still = (carted_at > pair_keys.values_at(bought, bought_at, carted, default=never)) & (
            carted_at > pair_keys.values_at(removed, removed_at, carted, default=never)
        )
        return cls(bought, bought_at, carted[still], carted_at[still], viewed, viewed_at)

    def purchased_since(self, since: int) -> np.ndarray:
        """Items whose latest purchase is at or after ``since`` (Unix seconds)."""
        return self.purchased[self.purchased_at >= since]

    def last_purchase(self, items: np.ndarray) -> np.ndarray:
        """Latest purchase time (int64) per item, -1 for items not purchased in these events."""
        return pair_keys.values_at(self.purchased, self.purchased_at, np.asarray(items, dtype=np.int64), default=-1)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


_NONE, _NEVER = _read_only(np.zeros(0, dtype=np.int32)), _read_only(np.zeros(0, dtype=np.int64))
NO_EVENTS = RecentEvents(_NONE, _NEVER, _NONE, _NEVER, _NONE, _NEVER)
