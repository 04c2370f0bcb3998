"""Shared fixtures for model tests: a small random shop history with a catalog, and a history builder.

``history`` is a seeded random order history (about 200 customers, 80 items in 5 categories,
Zipf-skewed popularity, several orders per customer over four months) that the contract suite
fits every model on. ``make_history`` builds a hand-written history from (customer, item, day)
lines, for behaviour tests that need planted structure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from recommender.history import DAY, Catalog, OrderHistory
from recommender.ids import IdMap

START = 1_700_000_000  # Unix seconds of day 0 in generated histories

Line = tuple[str, str, float]  # (customer id, item id, day)
MakeHistory = Callable[..., OrderHistory]


def build_catalog(items: IdMap, category_of: dict[str, str]) -> Catalog:
    """A catalog aligned with ``items``; items missing from ``category_of`` have no category."""
    names = sorted(set(category_of.values()))
    categories = IdMap(names)
    per_item = [category_of.get(str(item), "") for item in items.ids]
    category = np.where([c != "" for c in per_item], categories.index(per_item), -1).astype(np.int32)
    n = len(items)
    return Catalog(
        categories=categories,
        category=category,
        name=np.asarray([f"name of {i}" for i in items.ids], dtype=str),
        in_stock=np.ones(n, dtype=bool),
        price=np.full(n, 9.99, dtype=np.float32),
    )


def history_from_lines(lines: Sequence[Line], category_of: dict[str, str] | None = None) -> OrderHistory:
    """An order history from (customer, item, day) lines; one order per customer and day."""
    customers = np.asarray([c for c, _, _ in lines], dtype=str)
    item_ids = np.asarray([i for _, i, _ in lines], dtype=str)
    at = START + (np.asarray([d for _, _, d in lines], dtype=np.float64) * DAY).astype(np.int64)
    items = IdMap(np.unique(np.concatenate([item_ids, np.asarray(list(category_of or {}), dtype=str)])))
    catalog = build_catalog(items, category_of) if category_of else None
    return OrderHistory.from_arrays(customers, item_ids, at, catalog=catalog, items=items)


def random_history(
    rng: np.random.Generator, n_customers: int = 200, n_items: int = 80, n_categories: int = 5, days: int = 120
) -> OrderHistory:
    """A random shop: Zipf-skewed item popularity, 1-6 orders of 1-5 lines per customer, with a catalog."""
    orders_per_customer = rng.integers(1, 7, size=n_customers)
    order_customer = np.repeat(np.arange(n_customers), orders_per_customer)
    order_time = START + rng.integers(0, days * DAY, size=len(order_customer))
    lines_per_order = rng.integers(1, 6, size=len(order_customer))
    line_order = np.repeat(np.arange(len(order_customer)), lines_per_order)
    popularity = 1.0 / rng.permutation(np.arange(1, n_items + 1)) ** 1.1  # skewed, not in id order
    line_item = rng.choice(n_items, size=len(line_order), p=popularity / popularity.sum())
    item_ids = np.asarray([f"i{j:03d}" for j in range(n_items)])
    category_of = {str(item): f"cat{j % n_categories}" for j, item in enumerate(item_ids)}
    items = IdMap(item_ids)
    return OrderHistory.from_arrays(
        customer_ids=np.asarray([f"c{j:04d}" for j in order_customer[line_order]]),
        item_ids=item_ids[line_item],
        ordered_at=order_time[line_order],
        order_ids=np.asarray([f"o{j}" for j in line_order]),
        quantity=rng.integers(1, 4, size=len(line_order)).astype(np.float32),
        catalog=build_catalog(items, category_of),
        items=items,
    )


@pytest.fixture
def history() -> OrderHistory:
    """The small random shop every model's contract tests fit on."""
    return random_history(np.random.default_rng(20240501))


@pytest.fixture
def make_history() -> MakeHistory:
    """``make_history(lines, category_of=None)``: a history from (customer, item, day) lines."""
    return history_from_lines
