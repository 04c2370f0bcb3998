"""A browsing session's own rows: what the items a shopper just looked at or put in the cart lead to.

The storefront sends ``view`` and ``add_to_cart`` events for every shopper, guests included (a guest is an
id the model has never seen: the storefront's visitor or session id). ``session_rows`` turns the most
recently touched items into rows of a "for you" answer, from lists publish precomputed:

- item-to-item: the ``similar`` lists of the touched items (kind ``viewed``: "because you looked at ..."),
  each weighted by how recent its item is (``1 / (1 + rank)``, newest first) and summed per item, each row
  naming its strongest source; and the complements of the items in the cart (kind ``cart``);
- popular in the touched items' categories (kind ``popular``, the category as its number), one row after
  every ``GUEST_POPULAR_EVERY`` item-to-item rows (a guest's list: item-to-item alone narrows to a handful of
  items too fast).

A guest's answer is these rows (then the popular padding); a known customer's list takes at most
``KNOWN_SESSION_ROWS`` of the item-to-item rows, one after every ``KNOWN_SESSION_EVERY`` of its own rows:
the model already knows their tastes, a view adds to it, modestly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recommender.request_time.candidates import Candidates
from recommender.request_time.entries import with_evidence
from recommender.request_time.events import RecentEvents
from recommender.request_time.lists import summed_by_item

MAX_TOUCHED = 5  # the most recently viewed or carted items a session's rows come from
GUEST_POPULAR_EVERY = 2  # a guest's list: one popular-in-category row after every 2 item-to-item rows
KNOWN_SESSION_EVERY = 3  # a known customer's list: one session row after every 3 of their own rows
KNOWN_SESSION_ROWS = 2  # ... and at most this many session rows


def touched_items(events: RecentEvents, limit: int = MAX_TOUCHED) -> np.ndarray:
    """The ``limit`` items most recently viewed or still in the cart, newest first, distinct (int32)."""
    items = np.concatenate([events.viewed, events.cart])
    at = np.concatenate([events.viewed_at, events.cart_at])
    if not len(items):
        return np.zeros(0, dtype=np.int32)
    order = np.lexsort((items, -at))  # newest first; ties by item
    items = items[order]
    _, first = np.unique(items, return_index=True)
    return items[np.sort(first)][:limit].astype(np.int32)


def interleave(first: Candidates, second: Candidates, every: int, limit: int | None = None) -> Candidates:
    """``first``'s rows with one row of ``second`` after each ``every`` of them, at most ``limit`` rows of
    ``second`` (None: all of them, the rest after ``first`` runs out)."""
    extra = second if limit is None else second.take(slice(0, max(limit, 0)))
    if not len(extra):
        return first
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    n = len(first)
    # rank of each row in the merged order: first's row i at i + i // every, second's row j after first's
    # ((j + 1) * every)-th row (or after all of first's)
    first_at = np.arange(n) + np.arange(n) // every
    j = np.arange(len(extra))
    second_at = np.minimum((j + 1) * every, n) + j
    order = np.argsort(np.concatenate([first_at, second_at - 0.5]), kind="stable")
    return Candidates.concat([first, extra]).take(order)


def item_to_item(
    touched: np.ndarray,
    events: RecentEvents,
    similar_of: Mapping[int, np.ndarray],
    complements_of: Mapping[int, np.ndarray],
) -> Candidates:
    """Similar items of ``touched`` (recency-weighted, summed per item), one cart-complement row after each
    similar row while they last."""
    weight = 1.0 / (1.0 + np.arange(len(touched)))
    parts = []
    for t, w in zip(touched.tolist(), weight.tolist(), strict=True):
        if t in similar_of:
            rows = Candidates.from_entries(similar_of[t], "viewed", source=t)
            parts.append(Candidates(rows.items, rows.scores * np.float32(w), rows.kinds, rows.values, rows.sources))
    similar = summed_by_item(Candidates.concat(parts))
    cart = [
        Candidates.from_entries(with_evidence(complements_of[int(c)]), "cart", source=int(c))
        for c in events.cart.tolist()
        if int(c) in complements_of
    ]
    return interleave(similar, summed_by_item(Candidates.concat(cart)), every=1)


def category_popular(
    touched: np.ndarray,
    item_category: np.ndarray | None,
    popular_by_category: Mapping[int, tuple[np.ndarray, np.ndarray]],
) -> Candidates:
    """Popular items of the touched items' categories (the most recent item's category first), taken in
    turn from each category's list."""
    if item_category is None or not len(touched):
        return Candidates.empty()
    cats = np.asarray(item_category)[touched]
    _, first = np.unique(cats, return_index=True)
    cats = [int(c) for c in cats[np.sort(first)].tolist() if c >= 0 and int(c) in popular_by_category]
    parts = [Candidates.section(*popular_by_category[c], "popular", float(c)) for c in cats]
    if not parts:
        return Candidates.empty()
    rank = np.concatenate([np.arange(len(p)) for p in parts])
    turn = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    return Candidates.concat(parts).take(np.lexsort((turn, rank)))


def session_rows(
    events: RecentEvents,
    similar_of: Mapping[int, np.ndarray],
    complements_of: Mapping[int, np.ndarray],
    *,
    item_category: np.ndarray | None = None,
    popular_by_category: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Candidates:
    """A guest's rows from its session: item-to-item with popular in the touched categories interleaved
    (``popular_by_category`` None: item-to-item only, as a known customer's list takes them)."""
    touched = touched_items(events)
    if not len(touched):
        return Candidates.empty()
    rows = item_to_item(touched, events, similar_of, complements_of)
    if popular_by_category is None:
        return rows
    return interleave(rows, category_popular(touched, item_category, popular_by_category), GUEST_POPULAR_EVERY)
