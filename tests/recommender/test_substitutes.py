"""Category ownership: one-off kinds (tents) are damped for their owners, kinds bought again (books) are not."""

from __future__ import annotations

import numpy as np

from recommender.history import Catalog, OrderHistory
from recommender.ids import IdMap
from recommender.substitutes import CategoryOwnership

DAY = 86_400


def _shop() -> OrderHistory:
    items = IdMap(["book-a", "book-b", "book-c", "tent-a", "tent-b", "mystery"])
    categories = IdMap(["Books", "Tents"])
    catalog = Catalog(
        categories=categories,
        category=np.array([0, 0, 0, 1, 1, -1], dtype=np.int32),
        name=np.array(["", "", "", "", "", ""]),
        in_stock=np.ones(6, dtype=bool),
        price=np.full(6, np.nan, dtype=np.float32),
    )
    rows = []
    for c in range(20):  # every customer: one tent, books in two different orders
        rows += [(f"c{c}", "tent-a" if c % 2 else "tent-b", 1), (f"c{c}", "book-a", 2), (f"c{c}", "book-b", 9)]
    rows.append(("newbie", "mystery", 3))
    cust, item, day = zip(*rows, strict=True)
    return OrderHistory.from_arrays(np.array(cust), np.array(item), np.array(day) * DAY, catalog=catalog, items=items)


def test_repeat_rates_tell_one_off_kinds_from_kinds_bought_again() -> None:
    own = CategoryOwnership.fit(_shop(), shrinkage=1.0)
    books, tents = own.repeat_rate
    assert books > 0.9
    assert tents < 0.1


def test_damping_applies_only_to_owned_categories() -> None:
    history = _shop()
    own = CategoryOwnership.fit(history, shrinkage=1.0)
    c0, newbie = history.customers.index(["c0", "newbie"])
    tent_a, book_c, mystery = history.items.index(["tent-a", "book-c", "mystery"])
    customers = np.array([c0, c0, newbie, newbie, c0])
    items = np.array([tent_a, book_c, tent_a, book_c, mystery])
    factor = own.damping(customers, items)
    assert factor[0] == own.repeat_rate[1]  # c0 owns a tent: another tent is damped hard
    assert factor[1] == own.repeat_rate[0]  # c0 buys books again and again: barely damped
    assert factor[2] == 1.0 and factor[3] == 1.0  # the newbie owns neither kind
    assert factor[4] == 1.0  # unknown category: never damped


def test_state_round_trip() -> None:
    own = CategoryOwnership.fit(_shop())
    back = CategoryOwnership.from_state(own.state("x."), "x.")
    for a, b in zip(
        (own.item_category, own.repeat_rate, own.indptr, own.indices),
        (back.item_category, back.repeat_rate, back.indptr, back.indices),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_without_categories_nothing_is_damped() -> None:
    history = OrderHistory.from_arrays(np.array(["a", "a"]), np.array(["x", "y"]), np.array([1, 2]) * DAY)
    own = CategoryOwnership.fit(history)
    assert np.all(own.damping(np.array([0, 0]), np.array([0, 1])) == 1.0)
