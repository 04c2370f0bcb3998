"""The names every layer shares, declared once: surfaces, event types, reason kinds, the default model name.

The tuples are derived from the ``Literal`` types, so a name added to a type is in its tuple too. Training,
publishing, the routes, the request-time merge and the tests import them from here.
"""

from __future__ import annotations

from typing import Literal, get_args

CustomerSurface = Literal["for_you", "next_purchase"]  # one precomputed list per customer
ItemSurface = Literal["complements", "similar"]  # one precomputed list per item
Surface = Literal[CustomerSurface, ItemSurface, "popular"]  # "popular": one list for everyone
CUSTOMER_SURFACES: tuple[str, ...] = get_args(CustomerSurface)
ITEM_SURFACES: tuple[str, ...] = get_args(ItemSurface)
LIST_SURFACES: tuple[str, ...] = CUSTOMER_SURFACES + ITEM_SURFACES  # published per customer or per item
SURFACES: tuple[str, ...] = get_args(Surface)
# what an answer's KPIs are counted under: the surfaces, and "cart" (the cart complements, read from the
# complements lists)
AnswerSurface = Literal[Surface, "cart"]
ANSWER_SURFACES: tuple[str, ...] = get_args(AnswerSurface)

# what the storefront sends to POST /v1/events; the position is the event's code in packed events
BrowsingEventType = Literal["add_to_cart", "view", "impression", "click", "remove_from_cart"]  # all but purchase
EventType = Literal["purchase", BrowsingEventType]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
RECENT_EVENT_TYPES: tuple[str, ...] = tuple(t for t in EVENT_TYPES if t != "impression")  # kept per customer

# why an item is in a merged answer ("reason.kind" in the HTTP answer)
ReasonKind = Literal[
    "for_you", "repeat", "complement", "complement_of", "popular", "similar", "cart", "pinned", "viewed"
]
REASON_KINDS: tuple[str, ...] = get_args(ReasonKind)

DEFAULT_MODEL_NAME = "storefront-recs"  # the registered model that train registers, publish and serve read
