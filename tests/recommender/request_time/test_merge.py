"""The customer merges at request time: recent events change the answer, filters and paging hold, fallbacks
are marked ("for you" and "next purchase")."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recommender.request_time import (
    ENTRY,
    CustomerContext,
    Event,
    RecentEvents,
    Reranked,
    entries,
    rerank_for_you,
    rerank_next_purchase,
)
from tests.recommender.request_time.shop import (
    BAG_A,
    BASE,
    BOOK_A,
    BOOK_B,
    BOOKS,
    COFFEE,
    COMPLEMENTS,
    ITEM_CATEGORY,
    LAMP,
    MAP,
    MISC,
    MUG,
    NOW,
    POPULAR,
    REPEAT_RATE,
    SOCKS,
    STOVE,
    TENT_A,
    TENT_B,
    WINDOW,
    bought,
)


def customer(events: list[Event], **catalog: Any) -> CustomerContext:
    """The shop's customer at ``NOW`` after ``events``; ``catalog``: item_category, category_repeat_rate."""
    return CustomerContext(RecentEvents.from_events(events), COMPLEMENTS, NOW, WINDOW, **catalog)


def for_you(
    base: np.ndarray,
    events: list[Event],
    k: int = 10,
    item_category: np.ndarray | None = None,
    category_repeat_rate: np.ndarray | None = None,
    **kw: Any,
) -> Reranked:
    context = customer(events, item_category=item_category, category_repeat_rate=category_repeat_rate)
    return rerank_for_you(base, context, k=k, **kw)


# for you ----------------------------------------------------------------------------------------------
def test_without_events_the_precomputed_list_is_served_as_is() -> None:
    out = for_you(BASE, [])
    assert out.candidates.items.tolist() == BASE["item"].tolist()
    assert set(out.candidates.kinds.tolist()) == {"for_you"}
    assert out.fallback is False


def test_purchased_items_disappear_everywhere() -> None:
    out = for_you(BASE, [bought(BOOK_B), bought(TENT_A, days_ago=40)], fallback=POPULAR)
    # out of the list and of the popular padding
    assert out.candidates.items.tolist() == [MAP, COFFEE, TENT_B, SOCKS, BOOK_A, LAMP, MUG]


# every complement with evidence, no cap: the order and naming of the complements section
EVERY = {"min_complement_share": 0.0, "max_complements": None}


def test_complements_of_a_purchase_come_first_and_name_the_bought_item() -> None:
    out = for_you(BASE, [bought(TENT_A, days_ago=2)], **EVERY).candidates
    assert out.items[:3].tolist() == [BAG_A, LAMP, STOVE]
    assert out.kinds[:3].tolist() == ["complement_of"] * 3
    assert out.sources[:3].tolist() == [TENT_A] * 3
    assert out.values[:3].tolist() == pytest.approx([0.4, 0.2, 0.1])  # share of tent buyers
    assert out.items[3:].tolist() == [BOOK_B, MAP, COFFEE, TENT_B, SOCKS]
    assert (out.sources[3:] == -1).all()


def test_complements_of_two_purchases_are_ordered_by_score_and_each_item_offered_once() -> None:
    out = for_you(BASE, [bought(TENT_A), bought(COFFEE, days_ago=3)], **EVERY).candidates
    head = list(zip(out.items.tolist(), out.sources.tolist(), strict=True))[:5]
    # the stove goes with both; it keeps its best source (coffee, 0.6 > 0.2) and appears once
    assert head == [(BAG_A, TENT_A), (MUG, COFFEE), (STOVE, COFFEE), (LAMP, TENT_A), (BOOK_B, -1)]
    assert len(set(out.items.tolist())) == len(out)


def test_complements_of_a_purchase_older_than_the_window_do_not_appear() -> None:
    out = for_you(BASE, [bought(TENT_A, days_ago=WINDOW + 1)]).candidates
    assert "complement_of" not in out.kinds.tolist()
    assert TENT_A not in out.items.tolist()  # still bought: still out
    inside = for_you(BASE, [bought(TENT_A, days_ago=WINDOW - 1)]).candidates
    assert inside.items[0] == BAG_A


def test_pages_continue_without_overlap_across_every_section() -> None:
    events = [bought(TENT_A)]
    full = for_you(BASE, events, k=20, fallback=POPULAR, **EVERY).candidates.items.tolist()
    pages = [
        for_you(BASE, events, k=4, offset=o, fallback=POPULAR, **EVERY).candidates.items.tolist() for o in (0, 4, 8)
    ]
    assert [len(p) for p in pages] == [4, 4, 2]  # 3 complements, 5 from the list, 2 popular
    assert pages[0] + pages[1] + pages[2] == full
    assert len(set(full)) == len(full)


def test_allowed_mask_and_category_filter_drop_items() -> None:
    allowed = np.ones(len(ITEM_CATEGORY), dtype=bool)
    allowed[[LAMP, MAP]] = False  # out of stock
    out = for_you(BASE, [bought(TENT_A)], allowed=allowed, fallback=POPULAR).candidates.items.tolist()
    assert LAMP not in out and MAP not in out
    books = for_you(BASE, [bought(TENT_A)], category=BOOKS, item_category=ITEM_CATEGORY, fallback=POPULAR)
    assert books.candidates.items.tolist() == [BOOK_B, BOOK_A]  # the list's book, then a popular one
    assert books.candidates.kinds.tolist() == ["for_you", "popular"]


def test_padding_is_marked_fallback_only_when_nothing_personal_remains() -> None:
    padded = for_you(BASE[:2], [], k=5, fallback=POPULAR)
    assert padded.fallback is False
    assert padded.candidates.kinds.tolist() == ["for_you", "for_you", "popular", "popular", "popular"]
    assert padded.candidates.items.tolist() == [TENT_A, BOOK_B, BOOK_A, COFFEE, MAP]

    empty = for_you(np.zeros(0, dtype=ENTRY), [], k=5, fallback=POPULAR)
    assert empty.fallback is True
    assert empty.candidates.items.tolist() == POPULAR.items[:5].tolist()

    # a purchase with complements makes an empty list personal again
    after = for_you(np.zeros(0, dtype=ENTRY), [bought(COFFEE)], k=5, fallback=POPULAR)
    assert after.fallback is False
    assert after.candidates.items[:2].tolist() == [MUG, STOVE]

    # personal rows exist but the filter removes all of them
    only_misc = for_you(BASE[:2], [], k=3, category=MISC, item_category=ITEM_CATEGORY, fallback=POPULAR)
    assert only_misc.fallback is True
    assert only_misc.candidates.items.tolist() == [MAP]


def test_no_second_tent_after_a_tent_while_books_follow_a_book() -> None:
    events = [bought(TENT_A), bought(BOOK_A, days_ago=3)]
    rated = for_you(BASE, events, item_category=ITEM_CATEGORY, category_repeat_rate=REPEAT_RATE, fallback=POPULAR)
    items = rated.candidates.items.tolist()
    assert TENT_B not in items  # tents are bought once
    assert BOOK_B in items  # books are bought again
    unrated = for_you(BASE, events, fallback=POPULAR).candidates.items.tolist()
    assert TENT_B in unrated  # without repeat rates nothing is dropped by category


# next purchase ----------------------------------------------------------------------------------------
# coffee every 14 days and socks every 60 are repeat items; the map and the lamp are explore items
NEXT = entries([COFFEE, BOOK_B, MAP, SOCKS, LAMP], [1.0, 0.8, 0.1, 0.08, 0.05], [14, 30, -1, 60, -1])


def next_purchase(events: list[Event], k: int = 10, **kw: Any) -> Reranked:
    return rerank_next_purchase(NEXT, customer(events), k=k, **kw)


def test_just_purchased_repeat_item_drops_out_until_its_interval_has_passed() -> None:
    assert COFFEE not in next_purchase([bought(COFFEE, days_ago=3)]).candidates.items.tolist()
    again = next_purchase([bought(COFFEE, days_ago=20)]).candidates
    assert again.items[0] == COFFEE
    assert again.kinds[0] == "repeat" and again.values[0] == 14


def test_next_purchase_mixes_strong_complements_after_due_repeat_items() -> None:
    # the stove's share of tent buyers (.1) is below MIN_COMPLEMENT_SHARE: it does not push out own items
    out = next_purchase([bought(TENT_A, days_ago=2)]).candidates
    assert out.items.tolist() == [COFFEE, BOOK_B, BAG_A, LAMP, MAP, SOCKS]
    assert out.kinds.tolist() == ["repeat", "repeat", "complement_of", "complement_of", "for_you", "repeat"]


def test_next_purchase_complement_share_threshold_is_a_parameter() -> None:
    every = next_purchase([bought(TENT_A, days_ago=2)], min_complement_share=0.0).candidates
    assert every.items.tolist() == [COFFEE, BOOK_B, BAG_A, LAMP, STOVE, MAP, SOCKS]
    strongest = next_purchase([bought(TENT_A, days_ago=2)], min_complement_share=0.3).candidates
    assert strongest.items.tolist() == [COFFEE, BOOK_B, BAG_A, MAP, SOCKS, LAMP]  # the lamp: own explore item
    # "for you" takes the same minimum share by default (the stove: 10% of tent buyers)
    assert STOVE not in for_you(BASE, [bought(TENT_A, days_ago=2)]).candidates.items.tolist()
    assert STOVE in for_you(BASE, [bought(TENT_A, days_ago=2)], min_complement_share=0.0).candidates.items.tolist()


def test_a_due_again_purchase_joins_the_due_items_ahead_of_complements() -> None:
    out = next_purchase([bought(SOCKS, days_ago=61), bought(TENT_A, days_ago=1)]).candidates
    assert out.items[:4].tolist() == [COFFEE, BOOK_B, SOCKS, BAG_A]


def test_next_purchase_falls_back_only_without_personal_rows() -> None:
    nothing = CustomerContext(RecentEvents.empty(), {}, NOW, WINDOW)
    empty = rerank_next_purchase(np.zeros(0, dtype=ENTRY), nothing, k=3, fallback=POPULAR)
    assert empty.fallback is True and empty.candidates.kinds.tolist() == ["popular"] * 3
    assert next_purchase([], k=7, fallback=POPULAR).fallback is False
