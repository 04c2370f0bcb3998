"""For you after a purchase (at most a few strong complements) and from a browsing session (what a guest or
a customer viewed or carted leads to similar items, complements of the cart and popular in those
categories)."""

from __future__ import annotations

import numpy as np

from recommender.request_time import (
    ENTRY,
    MIN_COMPLEMENT_SHARE,
    CustomerContext,
    Event,
    RecentEvents,
    entries,
    reasons_for,
    rerank_for_you,
    touched_items,
)
from recommender.request_time.candidates import Candidates
from recommender.request_time.session import interleave
from tests.recommender.request_time.shop import (
    BAG_A,
    BAG_B,
    BASE,
    BOOK_A,
    COFFEE,
    COMPLEMENTS,
    ITEM_CATEGORY,
    LAMP,
    MAP,
    MUG,
    NOW,
    POPULAR,
    SOCKS,
    STOVE,
    TENT_A,
    TENT_B,
    TENTS,
    WINDOW,
    bought,
)

NOTHING = np.zeros(0, dtype=ENTRY)
SIMILAR = {
    TENT_A: entries([TENT_B, BAG_B, LAMP], [0.9, 0.4, 0.3]),
    TENT_B: entries([TENT_A, BAG_A], [0.9, 0.5]),
    COFFEE: entries([MUG, BOOK_A], [0.6, 0.2]),
}
BY_CATEGORY = {
    c: (POPULAR.items[ITEM_CATEGORY[POPULAR.items] == c], np.ones(7)[ITEM_CATEGORY[POPULAR.items] == c])
    for c in range(7)
}
BY_CATEGORY[TENTS] = (np.array([TENT_B, TENT_A], dtype=np.int32), np.array([1.0, 0.5]))


def seen(kind: str, *items: int, minutes_ago: float = 5) -> Event:
    return Event(kind, np.array(items, dtype=np.int32), int(NOW - minutes_ago * 60))


def context(events: list[Event], complements: dict | None = None) -> CustomerContext:
    return CustomerContext(
        RecentEvents.from_events(events),
        COMPLEMENTS if complements is None else complements,
        NOW,
        WINDOW,
        item_category=ITEM_CATEGORY,
        similar_of=SIMILAR,
        popular_by_category=BY_CATEGORY,
    )


# post-purchase complements ----------------------------------------------------------------------------------
def test_at_most_the_cap_of_complements_and_none_below_the_minimum_share() -> None:
    many = {
        TENT_A: entries([BAG_A, LAMP, STOVE, MUG, MAP, SOCKS], np.linspace(1, 0.5, 6), [0.6, 0.5, 0.4, 0.3, 0.25, 0.02])
    }
    for cap in (0, 1, 3, 5):
        out = rerank_for_you(BASE, context([bought(TENT_A)], many), k=10, max_complements=cap).candidates
        kinds = out.kinds.tolist()
        assert kinds.count("complement_of") == cap
        assert kinds[:cap] == ["complement_of"] * cap  # first, then the customer's own list
        assert (out.values[out.kinds == "complement_of"] >= MIN_COMPLEMENT_SHARE).all()
    every = rerank_for_you(BASE, context([bought(TENT_A)], many), k=10, max_complements=None).candidates
    assert every.kinds.tolist().count("complement_of") == 5  # socks (2% of tent buyers) never


def test_the_cap_counts_complements_that_survive_the_filters() -> None:
    allowed = np.ones(len(ITEM_CATEGORY), dtype=bool)
    allowed[BAG_A] = False
    out = rerank_for_you(BASE, context([bought(TENT_A)]), k=10, allowed=allowed, max_complements=1).candidates
    assert out.items[0] == LAMP and out.kinds[0] == "complement_of"


# sessions ------------------------------------------------------------------------------------------------------
def test_touched_items_are_the_newest_views_and_cart_items_first() -> None:
    events = RecentEvents.from_events(
        [
            seen("view", TENT_A, minutes_ago=30),
            seen("view", COFFEE, minutes_ago=3),
            seen("add_to_cart", TENT_B, minutes_ago=10),
        ]
    )
    assert touched_items(events).tolist() == [COFFEE, TENT_B, TENT_A]
    assert touched_items(events, limit=1).tolist() == [COFFEE]


def test_a_guest_who_looked_at_a_tent_gets_similar_items_and_popular_tents_not_a_fallback() -> None:
    out = rerank_for_you(NOTHING, context([seen("view", TENT_A)]), k=6, fallback=POPULAR)
    assert out.fallback is False
    rows = out.candidates
    # two similar, one of the tents' popular list (the tent B again: once), a similar, the next popular tent
    assert rows.items[:4].tolist() == [TENT_B, BAG_B, LAMP, TENT_A]
    assert rows.kinds[:4].tolist() == ["viewed", "viewed", "viewed", "popular"]
    labels = np.array([f"item{i}" for i in range(12)])
    reasons = reasons_for(rows, labels=labels, category_labels=["Tents"] + ["x"] * 6, window_days=WINDOW)
    assert reasons[0] == f"because you looked at item{TENT_A}"
    assert reasons[3] == "popular in Tents"


def test_a_guest_without_session_events_still_gets_the_marked_fallback() -> None:
    out = rerank_for_you(NOTHING, context([]), k=3, fallback=POPULAR)
    assert out.fallback is True
    assert out.candidates.items.tolist() == POPULAR.items[:3].tolist()


def test_cart_items_lead_to_their_complements_and_leave_the_list() -> None:
    out = rerank_for_you(NOTHING, context([seen("add_to_cart", COFFEE)]), k=8, fallback=POPULAR).candidates
    assert COFFEE not in out.items.tolist()
    assert "cart" in out.kinds.tolist()
    assert out.sources[out.kinds == "cart"].tolist()[0] == COFFEE


def test_a_known_customer_gets_a_few_session_rows_woven_into_their_own_list() -> None:
    out = rerank_for_you(BASE, context([seen("view", COFFEE)]), k=8).candidates
    kinds = out.kinds.tolist()
    assert kinds == ["for_you"] * 3 + ["viewed"] + ["for_you"] * 3 + ["viewed"]  # one after every 3 of theirs
    assert out.items[[3, 7]].tolist() == [MUG, BOOK_A]
    without = rerank_for_you(BASE, context([]), k=8).candidates
    assert without.items.tolist() == BASE["item"].tolist()


def test_interleave_places_one_row_after_every_few_and_the_rest_at_the_end() -> None:
    first = Candidates.section(np.arange(5), np.ones(5), "for_you")
    second = Candidates.section(np.arange(10, 14), np.ones(4), "viewed")
    assert interleave(first, second, 2).items.tolist() == [0, 1, 10, 2, 3, 11, 4, 12, 13]
    assert interleave(first, second, 2, limit=1).items.tolist() == [0, 1, 10, 2, 3, 4]
    assert interleave(first, Candidates.empty(), 2).items.tolist() == [0, 1, 2, 3, 4]
