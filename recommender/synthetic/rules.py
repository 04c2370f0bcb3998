"""The rules the synthetic shop plants in its customers' behaviour, and the generator's probabilities.

Complement rules (an anchor role, then a complement role some days later), repeat cycles (coffee, tea,
ink), the durables bought at most once, and the shares, probabilities and popularity skews the generator
draws with. Shares are of all customers unless said otherwise.
"""

from __future__ import annotations

from typing import NamedTuple


class ComplementRule(NamedTuple):
    """``share`` of the ``anchor`` buyers buy a ``complement`` ``min_days..max_days`` days after it."""

    anchor: str
    complement: str
    anchor_share: float  # of customers buying one anchor item
    share: float  # of anchor buyers then buying the complement
    min_days: int
    max_days: int
    standalone_share: float  # of the other customers buying the complement alone (no anchor)

    @property
    def window_days(self) -> int:
        return self.max_days


class CycleRule(NamedTuple):
    """``share`` of customers buy ``role`` every ``min_days..max_days`` days (their own cycle), +-jitter."""

    role: str
    share: float
    min_days: int
    max_days: int
    jitter_days: int


COMPLEMENT_RULES: tuple[ComplementRule, ...] = (
    ComplementRule("tents", "sleeping_bags", 0.06, 0.72, 1, 10, 0.015),
    ComplementRule("cameras", "memory_cards", 0.05, 0.70, 1, 7, 0.02),
    ComplementRule("printers", "inks", 0.04, 0.85, 1, 7, 0.0),  # ink then repeats: INK_CYCLE
)
INK_CYCLE = CycleRule("inks", 0.02, 28, 42, 2)  # share: customers on an ink cycle with no printer in the history
CYCLE_RULES: tuple[CycleRule, ...] = (
    CycleRule("coffees", 0.30, 10, 18, 1),
    CycleRule("teas", 0.12, 21, 35, 2),
)
DURABLES: tuple[str, ...] = ("tents", "cameras", "printers")
MATCH_PROB = 0.6  # an anchor's matching complement item, else a popular one of the kind
INK_MATCH_PROB = 0.95  # inks fit their printer
FAVOURITE_PROB = 0.9  # a cycle purchase is the customer's favourite item of the kind
SKIP_PROB = 0.05  # a cycle purchase is skipped now and then
TASTE_FAVOURITE_PROB = 0.3  # a background line in a taste category is the customer's favourite there
ADDON_PROB = 0.2  # a planted order gets add-on background lines
BASKET_EXTRA = 0.7  # background basket size is 1 + Poisson(BASKET_EXTRA)
ITEM_ZIPF = 1.0
CATEGORY_ZIPF = 0.7
OUT_OF_STOCK_SHARE = 0.03
OPEN_SECONDS = (7 * 3600, 23 * 3600)  # orders are placed between 07:00 and 23:00 UTC
