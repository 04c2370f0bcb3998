"""One shopper's visit to the storefront, page by page, with the events each page sends back.

The journey: the home page (popular, maybe of a preferred category, and "for you"), the product pages of what
was clicked (each shows what goes with the item and similar items, the latter below the fold: seen, and sent
as an impression, only now and then), the cart (its complements), "next purchase" (with a buy-again button
on the list), then checkout (lines removed now and then, some carts abandoned) and now and then an organic
purchase. After each page its events go out in one batch: the impression of every list seen (its
``recommendation_id`` and items), the clicks, views and cart changes, the purchase lines (one event per item,
with a unique ``order_id``, the quantity and the catalog price). Now and then an order's purchase events are
sent again, as a storefront retrying after a timeout would.

Think times between pages come from ``Clock``; a visit stops at the run's deadline, after sending what its
last page did.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from serving.simulator.shoppers import Behaviour, Shopper
from serving.simulator.storefront import Answer, Storefront, now

LIST_K = 8
ITEM_LIST_K = 6
MAX_PRODUCT_PAGES = 4  # per visit
SIMILAR_SEEN = 0.5  # the similar list is below the fold: seen this often


@dataclass
class Clock:
    """The run's deadline and the shoppers' think times (seconds, drawn per shopper)."""

    deadline: float  # time.monotonic() after which no page starts
    page_seconds: float = 1.0  # mean think time between pages
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)

    def over(self) -> bool:
        return self.loop.time() >= self.deadline

    async def think(self, shopper: Shopper, mean: float | None = None) -> bool:
        """Wait a think time (exponential, capped by the deadline); False when the run is over."""
        wait = float(shopper.rng.exponential(self.page_seconds if mean is None else mean))
        remaining = self.deadline - self.loop.time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(wait, remaining))
        return not self.over()


@dataclass
class Visit:
    """One visit's state: the cart (item -> the answer it was clicked from) and the events of the current page."""

    shopper: Shopper
    cart: dict[str, str | None] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    retries: list[dict[str, Any]] = field(default_factory=list)  # sent again after the page's batch
    to_visit: list[tuple[str, str]] = field(default_factory=list)  # (item, recommendation_id) clicked
    product_pages: int = 0

    def event(self, kind: str, item_ids: list[str], **extra: Any) -> None:
        body = {"customer_id": self.shopper.customer_id, "type": kind, "item_ids": item_ids, "timestamp": now()}
        self.events.append(body | {key: value for key, value in extra.items() if value is not None})


class Journey:
    """Walks a shopper through a visit against the storefront."""

    def __init__(self, storefront: Storefront, behaviour: Behaviour, clock: Clock) -> None:
        self.store = storefront
        self.behaviour = behaviour
        self.clock = clock

    async def visit(self, shopper: Shopper) -> None:
        self.store.tally.visits += 1
        visit = Visit(shopper)
        pages = [self.home, self.products, self.cart_page, self.next_purchase, self.checkout]
        for page in pages:
            if not await page(visit):
                continue  # nothing to see there (no click to follow, an empty cart)
            await self.flush(visit)
            if page != pages[-1] and not await self.clock.think(shopper):
                return

    async def flush(self, visit: Visit) -> None:
        if visit.events:
            events, visit.events = visit.events, []
            await self.store.send(events)
        if visit.retries:  # the same order lines again: the service counts each (order_id, item) once
            events, visit.retries = visit.retries, []
            await self.store.send(events)

    # pages -----------------------------------------------------------------------------------------------
    async def home(self, visit: Visit) -> bool:
        shopper = visit.shopper
        category = self.behaviour.home_category(shopper)
        params: dict[str, Any] = {"k": LIST_K} | ({"category": category} if category else {})
        popular = await self.store.show("popular", "GET", "/v1/popular", params=params)
        self.look(visit, popular)
        for_you = await self.store.show(
            "for_you", "GET", f"/v1/users/{shopper.customer_id}/recommendations", params={"k": LIST_K}
        )
        self.look(visit, for_you)
        return True

    async def products(self, visit: Visit) -> bool:
        """The product pages of what was clicked, and of what is clicked there, up to ``MAX_PRODUCT_PAGES``."""
        while visit.to_visit and visit.product_pages < MAX_PRODUCT_PAGES:
            item, recommendation_id = visit.to_visit.pop(0)
            visit.product_pages += 1
            visit.event("view", [item], recommendation_id=recommendation_id)
            if self.behaviour.adds_to_cart(visit.shopper, item) and item not in visit.cart:
                visit.cart[item] = recommendation_id
                visit.event("add_to_cart", [item], recommendation_id=recommendation_id)
            complements = await self.store.show(
                "complements", "GET", f"/v1/items/{item}/complements", params={"k": ITEM_LIST_K}
            )
            self.look(visit, complements)
            similar = await self.store.show("similar", "GET", f"/v1/items/{item}/similar", params={"k": ITEM_LIST_K})
            if visit.shopper.rng.random() < SIMILAR_SEEN:
                self.look(visit, similar)
            await self.flush(visit)
            if visit.to_visit and not await self.clock.think(visit.shopper):
                break
        return visit.product_pages > 0

    async def cart_page(self, visit: Visit) -> bool:
        if not visit.cart:
            return False
        body = {"item_ids": list(visit.cart), "customer_id": visit.shopper.customer_id, "k": ITEM_LIST_K}
        answer = await self.store.show("cart", "POST", "/v1/cart/complements", body=body)
        for item, recommendation_id in self.look(visit, answer):
            if self.behaviour.adds_to_cart(visit.shopper, item) and item not in visit.cart:
                visit.event("view", [item], recommendation_id=recommendation_id)
                visit.cart[item] = recommendation_id
                visit.event("add_to_cart", [item], recommendation_id=recommendation_id)
        visit.to_visit.clear()
        return True

    async def next_purchase(self, visit: Visit) -> bool:
        shopper = visit.shopper
        answer = await self.store.show(
            "next_purchase", "GET", f"/v1/users/{shopper.customer_id}/next-purchase", params={"k": ITEM_LIST_K}
        )
        for item, recommendation_id in self.look(visit, answer):
            if self.behaviour.adds_to_cart(shopper, item) and item not in visit.cart:
                visit.cart[item] = recommendation_id
                visit.event("add_to_cart", [item], recommendation_id=recommendation_id)
        visit.to_visit.clear()
        if answer is not None:  # "buy again" on the list itself: a purchase carrying the list's id, no click
            for item in self.behaviour.buys_again(shopper, [i for i in answer.items if i not in visit.cart]):
                self.purchase(visit, item, answer.recommendation_id)
        return True

    async def checkout(self, visit: Visit) -> bool:
        shopper = visit.shopper
        for item in self.behaviour.removes(shopper, list(visit.cart)):
            del visit.cart[item]
            visit.event("remove_from_cart", [item])
        if visit.cart and not self.behaviour.abandons(shopper):
            order_id = new_order_id()
            for item in list(visit.cart):
                self.purchase(visit, item, None, order_id)
            visit.cart.clear()
            if self.behaviour.resends(shopper):
                visit.retries = [dict(event) for event in visit.events if event.get("order_id") == order_id]
        organic = self.behaviour.organic_purchase(shopper)
        if organic is not None:
            self.purchase(visit, organic, None)
        return True

    # what a page does with a list ------------------------------------------------------------------------
    def look(self, visit: Visit, answer: Answer | None) -> list[tuple[str, str]]:
        """The shopper sees ``answer``: its impression, and the clicks it draws (returned, and queued as
        product pages)."""
        if answer is None or not answer.items:
            return []
        visit.event("impression", answer.items, recommendation_id=answer.recommendation_id)
        clicked = self.behaviour.clicks(visit.shopper, answer.items)
        for item in clicked:
            visit.event("click", [item], recommendation_id=answer.recommendation_id)
        queued = [(item, answer.recommendation_id) for item in clicked]
        visit.to_visit.extend(queued)
        return queued

    def purchase(self, visit: Visit, item: str, recommendation_id: str | None, order_id: str | None = None) -> None:
        price = self.behaviour.truth.items[item].price if item in self.behaviour.truth.items else 0.0
        visit.event(
            "purchase",
            [item],
            recommendation_id=recommendation_id,
            order_id=order_id or new_order_id(),
            quantity=self.behaviour.quantity(visit.shopper),
            price=price,
        )
        self.behaviour.bought(visit.shopper, item)


def new_order_id() -> str:
    return f"sim-{uuid.uuid4().hex[:16]}"
