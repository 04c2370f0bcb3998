"""Which items an answer may hold: ``Filters`` (blocked items and categories, stock, one category) and the
filters of a customer's list (``customer_filters``: purchased items out, other items of a just-bought
item's one-off category out: no second tent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.request_time.events import RecentEvents
from recommender.substitutes import MIN_REPEAT_RATE


@dataclass(frozen=True)
class Filters:
    """Which items an answer may hold: not blocked, not in a blocked category (unless exempt), allowed."""

    blocked_items: np.ndarray
    blocked_categories: np.ndarray
    exempt: np.ndarray
    allowed: np.ndarray | None
    item_category: np.ndarray | None
    category: int | None

    def keep(self, items: np.ndarray) -> np.ndarray:
        items = np.asarray(items, dtype=np.int64)
        ok = (items >= 0) & ~np.isin(items, self.blocked_items)  # padding (-1) never passes
        items = np.maximum(items, 0)
        if self.allowed is not None:
            ok &= np.asarray(self.allowed, dtype=bool)[items]
        if self.item_category is not None:
            cat = np.asarray(self.item_category)[items]
            if len(self.blocked_categories):
                ok &= ~(np.isin(cat, self.blocked_categories) & (cat >= 0)) | np.isin(items, self.exempt)
            if self.category is not None:
                ok &= cat == self.category
        return ok


def one_off_categories(
    items: np.ndarray, item_category: np.ndarray | None, category_repeat_rate: np.ndarray | None, min_rate: float
) -> np.ndarray:
    """Categories of ``items`` whose repeat rate is below ``min_rate`` (bought once: tents), distinct."""
    if category_repeat_rate is None or len(items) == 0:
        return np.zeros(0, dtype=np.int32)
    if item_category is None:
        raise ValueError("category_repeat_rate needs item_category")
    cats = np.asarray(item_category)[np.asarray(items, dtype=np.int64)]
    cats = np.unique(cats[cats >= 0])
    return cats[np.asarray(category_repeat_rate)[cats] < min_rate].astype(np.int32)


def customer_filters(
    events: RecentEvents,
    *,
    keep_purchased: np.ndarray | None = None,
    block_cart: bool = False,
    allowed: np.ndarray | None = None,
    category: int | None = None,
    item_category: np.ndarray | None = None,
    category_repeat_rate: np.ndarray | None = None,
    min_repeat_rate: float = MIN_REPEAT_RATE,
) -> Filters:
    """Filters for a customer's list: purchased items out (but ``keep_purchased``), one-off categories out,
    with ``block_cart`` the items in the cart out too."""
    if category is not None and item_category is None:
        raise ValueError("a category filter needs item_category")
    kept = np.zeros(0, dtype=np.int32) if keep_purchased is None else np.asarray(keep_purchased, dtype=np.int32)
    blocked = events.purchased[~np.isin(events.purchased, kept)]
    if block_cart and len(events.cart):
        blocked = np.union1d(blocked, events.cart).astype(np.int32)
    return Filters(
        blocked_items=blocked,
        blocked_categories=one_off_categories(events.purchased, item_category, category_repeat_rate, min_repeat_rate),
        exempt=kept,
        allowed=allowed,
        item_category=item_category,
        category=category,
    )


def catalog_mask(
    base: np.ndarray,
    *,
    item_category: np.ndarray | None = None,
    categories: np.ndarray | None = None,
    price: np.ndarray | None = None,
    price_min: float | None = None,
    price_max: float | None = None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """A request's catalog filters as one bool per item: ``base`` (the items that may be shown, in stock or
    not), and of them the items of ``categories`` (indices; None: any), priced within ``[price_min,
    price_max]`` (an item without a price, 0, passes no price filter), not in ``exclude`` (indices)."""
    mask = np.array(base, dtype=bool, copy=True)
    if categories is not None:
        if item_category is None:
            raise ValueError("a category filter needs item_category")
        mask &= np.isin(item_category, categories)
    if price_min is not None or price_max is not None:
        if price is None:
            raise ValueError("a price filter needs price")
        mask &= price > 0
        if price_min is not None:
            mask &= price >= price_min
        if price_max is not None:
            mask &= price <= price_max
    if exclude is not None and len(exclude):
        mask[np.asarray(exclude, dtype=np.int64)] = False
    return mask
