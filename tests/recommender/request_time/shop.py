"""A small shop for the request-time tests: twelve items in seven categories, their repeat rates, popular
items, complement lists and a customer's precomputed list, at one moment ``NOW``."""

from __future__ import annotations

import numpy as np

from recommender.history import DAY
from recommender.request_time import Event, Fallback, entries

NOW = 1_700_000_000
WINDOW = 14
# a small shop: item index -> category
TENT_A, TENT_B, BAG_A, BAG_B, LAMP, BOOK_A, BOOK_B, COFFEE, MUG, STOVE, MAP, SOCKS = range(12)
TENTS, BAGS, LIGHTS, BOOKS, COFFEES, KITCHEN, MISC = range(7)
ITEM_CATEGORY = np.array(
    [TENTS, TENTS, BAGS, BAGS, LIGHTS, BOOKS, BOOKS, COFFEES, KITCHEN, KITCHEN, MISC, -1], dtype=np.int32
)
# tents and sleeping bags are bought once, books and coffee again and again
REPEAT_RATE = np.array([0.01, 0.03, 0.2, 0.8, 0.9, 0.3, 0.4], dtype=np.float32)
POPULAR = Fallback(np.array([TENT_A, BOOK_A, COFFEE, MAP, SOCKS, LAMP, MUG], dtype=np.int32), np.linspace(1, 0.4, 7))
COMPLEMENTS = {
    TENT_A: entries([BAG_A, LAMP, STOVE], [0.9, 0.5, 0.2], [0.4, 0.2, 0.1]),
    COFFEE: entries([MUG, STOVE], [0.7, 0.6], [0.3, 0.25]),
    BOOK_A: entries([BOOK_B, MAP], [0.3, 0.2], [0.15, 0.1]),
}
BASE = entries([TENT_A, BOOK_B, MAP, COFFEE, TENT_B, SOCKS], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def bought(*items: int, days_ago: float = 1.0) -> Event:
    return Event("purchase", np.array(items, dtype=np.int32), int(NOW - days_ago * DAY))
