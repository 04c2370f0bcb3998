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


def test_removed_from_cart_leaves_the_cart_until_added_again() -> None:
    removed = RecentEvents.from_events(
        [Event("remove_from_cart", [MUG], NOW - 10), Event("add_to_cart", [MUG, STOVE], NOW - 20)]
    )
    assert removed.cart.tolist() == [STOVE]
    again = RecentEvents.from_events(
        [
            Event("add_to_cart", [MUG], NOW),
            Event("remove_from_cart", [MUG], NOW - 10),
            Event("add_to_cart", [MUG], NOW - 20),
        ]
    )
    assert again.cart.tolist() == [MUG]


def test_impressions_and_clicks_change_no_summary() -> None:
    recent = RecentEvents.from_events([Event("impression", [LAMP, MUG], NOW), Event("click", [LAMP], NOW)])
    assert [len(recent.purchased), len(recent.cart), len(recent.viewed)] == [0, 0, 0]


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventTypeError, match="wishlist"):
        RecentEvents.from_events([Event("wishlist", [1], NOW)])  # type: ignore[arg-type]
