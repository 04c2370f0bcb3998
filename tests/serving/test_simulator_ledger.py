"""The simulator's ledger against hand-computed sequences of answers and events (docs/feedback.md's rules):
last touch wins, once per order line, the window's edges, a purchase carrying its own list's id, organic
purchases not attributed, the answers' lifetime, revenue in integer cents."""

from __future__ import annotations

from typing import Any

import pytest

from serving.simulator.ledger import Counts, Ledger, LedgerError

T0 = 1_780_000_000
V1, V2 = "1@20260630T000000Z-aaaa", "2@20260701T000000Z-bbbb"


def ev(kind: str, items: list[str], at: int, customer: str = "c1", **extra: Any) -> dict[str, Any]:
    return {"customer_id": customer, "type": kind, "item_ids": items, "timestamp": at, **extra}


def buy(item: str, at: int, order: str | None = "o1", price: float = 10.0, quantity: int = 1, **extra: Any):
    fields = {"price": price, "quantity": quantity, **extra}
    if order is not None:
        fields["order_id"] = order
    return ev("purchase", [item], at, **fields)


@pytest.fixture
def ledger() -> Ledger:
    book = Ledger(window_seconds=3600, answer_ttl_seconds=7200)
    book.record_answer("r-home", "for_you", V1, ["tent", "bag", "mug"], T0)
    book.record_answer("r-tent", "complements", V1, ["bag", "stove"], T0)
    book.record_answer("r-pop", "popular", V2, ["mug", "tent"], T0)
    return book


def counts(book: Ledger, surface: str, version: str = V1) -> Counts:
    return book.counts.get((surface, version), Counts())


def test_answers_count_per_surface_and_model_version(ledger: Ledger) -> None:
    ledger.record_answer("r-home-2", "for_you", V2, [], T0)  # an empty list is an answer too
    assert counts(ledger, "for_you").answers == 1 and counts(ledger, "for_you", V2).answers == 1
    assert ledger.totals().answers == 4
    assert [(s, v) for s, v, _ in ledger.by_surface()] == [
        ("for_you", V1),
        ("for_you", V2),
        ("complements", V1),
        ("popular", V2),
    ]
    with pytest.raises(LedgerError, match="unknown surface"):
        ledger.record_answer("r-x", "homepage", V1, ["a"], T0)
    with pytest.raises(LedgerError, match="booked already"):
        ledger.record_answer("r-home", "for_you", V1, ["a"], T0)


def test_impressions_and_clicks_count_only_with_a_known_recommendation_id(ledger: Ledger) -> None:
    ledger.record_event(ev("impression", ["tent", "bag", "mug"], T0 + 1, recommendation_id="r-home"))
    ledger.record_event(ev("impression", ["tent"], T0 + 1, recommendation_id="r-unknown"))
    ledger.record_event(ev("impression", ["tent"], T0 + 1))
    ledger.record_event(ev("click", ["tent", "bag", "stove", "tent"], T0 + 2, recommendation_id="r-home"))
    ledger.record_event(ev("click", ["tent"], T0 + 2, recommendation_id="r-unknown"))
    ledger.record_event(ev("click", ["tent"], T0 + 2))
    ledger.record_event(ev("view", ["tent"], T0 + 3, recommendation_id="r-home"))
    home = counts(ledger, "for_you")
    # two clicked items the answer showed (stove it did not; tent twice in one event is one item)
    assert (home.impressions, home.clicks) == (1, 2)
    assert ledger.totals() == Counts(answers=3, impressions=1, clicks=2)


def test_last_touch_wins(ledger: Ledger) -> None:
    ledger.record_event(ev("click", ["bag"], T0 + 10, recommendation_id="r-home"))
    ledger.record_event(ev("click", ["bag"], T0 + 20, recommendation_id="r-tent"))
    ledger.record_event(buy("bag", T0 + 30, price=89.0))
    assert counts(ledger, "for_you").attributed_purchases == 0
    assert counts(ledger, "complements").attributed_purchases == 1
    assert counts(ledger, "complements").attributed_revenue_cents == 8900
    assert (counts(ledger, "for_you").clicks, counts(ledger, "complements").clicks) == (1, 1)


def test_an_order_line_counts_once_and_purchases_without_order_id_each_count(ledger: Ledger) -> None:
    ledger.record_event(ev("click", ["tent", "mug"], T0 + 1, recommendation_id="r-home"))
    ledger.record_event(buy("tent", T0 + 2, order="o1", price=179.0))
    ledger.record_event(buy("tent", T0 + 3, order="o1", price=179.0))  # sent again: the same line
    ledger.record_event(buy("tent", T0 + 4, order="o2", price=179.0))  # another order: counts
    ledger.record_event(buy("mug", T0 + 5, order="o1", price=7.5, quantity=2))  # another line of o1
    ledger.record_event(buy("mug", T0 + 6, order=None, price=7.5))
    ledger.record_event(buy("mug", T0 + 7, order=None, price=7.5))
    home = counts(ledger, "for_you")
    assert home.attributed_purchases == 5
    assert home.attributed_revenue_cents == 2 * 17900 + 1500 + 750 + 750


def test_the_window_edges(ledger: Ledger) -> None:
    ledger.record_event(ev("click", ["tent"], T0, recommendation_id="r-home"))
    ledger.record_event(ev("click", ["mug"], T0, customer="c2", recommendation_id="r-home"))
    ledger.record_event(buy("tent", T0 + 3600, order="at-the-edge"))
    ledger.record_event(buy("tent", T0 + 3601, order="past-the-edge"))
    ledger.record_event(buy("mug", T0 - 1, order="before-the-click", customer="c2"))
    assert counts(ledger, "for_you").attributed_purchases == 1


def test_a_purchase_carrying_its_lists_id_is_attributed_to_that_list(ledger: Ledger) -> None:
    ledger.record_event(buy("mug", T0 + 5, order="o1", price=7.0, recommendation_id="r-pop"))  # no click
    ledger.record_event(ev("click", ["tent"], T0 + 6, recommendation_id="r-home"))
    # the list named shows the tent: it wins over the customer's last touch
    ledger.record_event(buy("tent", T0 + 7, order="o2", price=179.0, recommendation_id="r-pop"))
    # the list named does not show the stove, and nothing was clicked: not attributed
    ledger.record_event(buy("stove", T0 + 8, order="o3", recommendation_id="r-pop"))
    # the list named does not show the bag, whose last touch is complements
    ledger.record_event(ev("click", ["bag"], T0 + 9, recommendation_id="r-tent"))
    ledger.record_event(buy("bag", T0 + 10, order="o4", price=89.0, recommendation_id="r-pop"))
    assert counts(ledger, "popular", V2).attributed_purchases == 2
    assert counts(ledger, "popular", V2).attributed_revenue_cents == 700 + 17900
    assert counts(ledger, "for_you").attributed_purchases == 0
    assert counts(ledger, "complements").attributed_revenue_cents == 8900


def test_organic_purchases_and_seen_but_not_clicked_items_are_not_attributed(ledger: Ledger) -> None:
    ledger.record_event(ev("impression", ["tent", "bag", "mug"], T0 + 1, recommendation_id="r-home"))
    ledger.record_event(buy("tent", T0 + 2, order="o1"))  # shown, never clicked
    ledger.record_event(buy("coffee", T0 + 3, order="o2"))  # never shown
    ledger.record_event(ev("click", ["bag"], T0 + 4, customer="c2", recommendation_id="r-home"))
    ledger.record_event(buy("bag", T0 + 5, order="o3"))  # someone else clicked it
    assert ledger.totals() == Counts(answers=3, impressions=1, clicks=1)


def test_answers_are_known_for_their_lifetime_only(ledger: Ledger) -> None:
    ledger.record_event(ev("impression", ["tent"], T0 + 7199, recommendation_id="r-home"))
    ledger.record_event(ev("impression", ["tent"], T0 + 7200, recommendation_id="r-home"))
    ledger.record_event(ev("click", ["tent"], T0 + 7200, recommendation_id="r-home"))
    ledger.record_event(buy("tent", T0 + 7201, order="o1", recommendation_id="r-home"))
    assert ledger.totals() == Counts(answers=3, impressions=1)


def test_revenue_is_summed_in_cents_per_line() -> None:
    book = Ledger()
    book.record_answer("r", "cart", V1, ["a", "b", "c"], T0)
    book.record_event(ev("click", ["a", "b", "c"], T0, recommendation_id="r"))
    for item, price, quantity in (("a", 0.1, 3), ("b", 19.99, 3), ("c", 0.125, 1)):
        book.record_event(buy(item, T0 + 1, order="o", price=price, quantity=quantity))
    # round(0.1 × 3 × 100) = 30, round(19.99 × 3 × 100) = 5997, round(12.5) = 12 (half to even)
    assert book.totals().attributed_revenue_cents == 30 + 5997 + 12
    assert book.totals().attributed_purchases == 3


def test_events_the_ledger_cannot_book_are_refused() -> None:
    book = Ledger()
    with pytest.raises(LedgerError, match="timestamp"):
        book.record_event({"customer_id": "c", "type": "click", "item_ids": ["a"]})
    with pytest.raises(LedgerError, match="price"):
        book.record_event(ev("purchase", ["a"], T0, order_id="o"))


def test_guests_are_also_booked_on_their_own_per_surface() -> None:
    book = Ledger(window_seconds=3600, guests=frozenset({"g1"}))
    book.record_answer("r-g", "for_you", V1, ["tent", "bag"], T0)
    book.record_answer("r-c", "for_you", V1, ["tent", "bag"], T0)
    for who, rid in (("g1", "r-g"), ("c1", "r-c")):
        book.record_event(ev("impression", ["tent", "bag"], T0 + 1, who, recommendation_id=rid))
        book.record_event(ev("click", ["tent"], T0 + 2, who, recommendation_id=rid))
    book.record_event(buy("tent", T0 + 3, customer="g1"))
    assert book.guest_counts == {
        "for_you": Counts(impressions=1, clicks=1, attributed_purchases=1, attributed_revenue_cents=1000)
    }
    assert counts(book, "for_you") == Counts(
        answers=2, impressions=2, clicks=2, attributed_purchases=1, attributed_revenue_cents=1000
    )
