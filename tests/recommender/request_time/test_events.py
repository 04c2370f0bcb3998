"""Recent events: a customer's purchases, cart adds and views summarized by item; unknown types refused."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.history import DAY
from recommender.request_time import Event, RecentEvents, UnknownEventTypeError
from tests.recommender.request_time.shop import BAG_A, COFFEE, LAMP, MUG, NOW, STOVE, TENT_A


# recent events ----------------------------------------------------------------------------------------
def test_recent_events_summarize_purchases_cart_and_views() -> None:
    events = [  # newest first, as stored
        Event("view", [LAMP, -1], NOW - 10),
        Event("add_to_cart", [STOVE], NOW - 20),
        Event("purchase", [TENT_A, BAG_A], NOW - 30),
        Event("add_to_cart", [BAG_A, MUG], NOW - 40),
        Event("purchase", [TENT_A], NOW - 5 * DAY),
    ]
    recent = RecentEvents.from_events(events)
    assert recent.purchased.tolist() == [TENT_A, BAG_A]
    assert recent.purchased_at.tolist() == [NOW - 30, NOW - 30]  # latest purchase of each
    assert recent.cart.tolist() == [MUG, STOVE]  # the bag was bought after being carted
    assert recent.viewed.tolist() == [LAMP]  # unknown items (-1) are ignored
    assert recent.last_purchase(np.array([TENT_A, LAMP])).tolist() == [NOW - 30, -1]


def test_item_carted_again_after_buying_it_is_in_the_cart() -> None:
    recent = RecentEvents.from_events([Event("add_to_cart", [COFFEE], NOW), Event("purchase", [COFFEE], NOW - DAY)])
    assert recent.cart.tolist() == [COFFEE]
    same_moment = RecentEvents.from_events([Event("add_to_cart", [COFFEE], NOW), Event("purchase", [COFFEE], NOW)])
    assert same_moment.cart.tolist() == []  # carted and bought at once: bought


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventTypeError, match="wishlist"):
        RecentEvents.from_events([Event("wishlist", [1], NOW)])  # type: ignore[arg-type]
