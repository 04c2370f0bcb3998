"""Answers without a customer list: what completes a cart (``cart_complements``) and the similar items or
complements of one item (``item_list``).

- ``cart_complements``: complement scores summed over the cart, without the cart's items and their
  categories (substitutes), each naming its strongest source item;
- ``item_list``: similar items or complements of one item, without the item itself.

Both are padded and paged by ``recommender.request_time.page.assemble``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from recommender.request_time.candidates import Candidates, Fallback, Reranked, best_first
from recommender.request_time.entries import with_evidence
from recommender.request_time.filters import Filters
from recommender.request_time.page import assemble


def cart_complements(
    cart_items: np.ndarray,
    complements_of: Mapping[int, np.ndarray],
    *,
    k: int,
    offset: int = 0,
    exclude: np.ndarray | None = None,
    item_category: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    fallback: Fallback | None = None,
) -> Reranked:
    """What completes a cart: complement scores summed over the cart items (kind ``cart``).

    The cart's items, ``exclude`` (e.g. purchased items) and, given ``item_category``, every item of a cart
    item's category (substitutes) are left out. Each row names its strongest source item (the cart item
    with the highest single complement score) and carries that pair's share.
    """
    cart = np.unique(np.asarray(cart_items, dtype=np.int64))
    cart = cart[cart >= 0].astype(np.int32)
    blocked = cart if exclude is None else np.union1d(cart, np.asarray(exclude, dtype=np.int32))
    cats = np.zeros(0, dtype=np.int32)
    if item_category is not None and len(cart):
        cats = np.unique(np.asarray(item_category)[cart])
        cats = cats[cats >= 0].astype(np.int32)
    filters = Filters(blocked, cats, np.zeros(0, dtype=np.int32), allowed, item_category, None)
    parts = [
        Candidates.from_entries(with_evidence(complements_of[int(c)]), "cart", source=int(c))
        for c in cart.tolist()
        if int(c) in complements_of
    ]
    pairs = Candidates.concat(parts)
    return assemble([summed_by_item(pairs)], filters, k=k, offset=offset, fallback=fallback)


def summed_by_item(pairs: Candidates) -> Candidates:
    """One row per item: scores summed, value and source of its best-scoring row; best total first."""
    if len(pairs) == 0:
        return pairs
    items, inverse = np.unique(pairs.items, return_inverse=True)
    total = np.bincount(inverse, weights=pairs.scores.astype(np.float64), minlength=len(items))
    order = np.lexsort((pairs.sources, -pairs.scores, inverse))  # per item: strongest source first
    first = order[np.r_[True, inverse[order][1:] != inverse[order][:-1]]]
    strongest = pairs.take(first)  # one row per item, in item order
    summed = Candidates(
        items.astype(np.int32), total.astype(np.float32), strongest.kinds, strongest.values, strongest.sources
    )
    return best_first(summed)


def item_list(
    base: np.ndarray,
    *,
    k: int,
    exclude_item: int | None,
    fallback: Fallback | None = None,
    kind: Literal["similar", "complement"] = "similar",
    offset: int = 0,
    allowed: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> Reranked:
    """Similar items or complements of one item (``exclude_item``, the source of every row, never offered);
    ``exclude`` drops more items (e.g. what the customer bought)."""
    blocked = [] if exclude_item is None else [exclude_item]
    if exclude is not None:
        blocked = np.union1d(blocked, np.asarray(exclude, dtype=np.int64))
    filters = Filters(
        np.asarray(blocked, dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        allowed,
        None,
        None,
    )
    source = -1 if exclude_item is None else int(exclude_item)
    answer = assemble(
        [Candidates.from_entries(base, kind, source=source)], filters, k=k, offset=offset, fallback=fallback
    )
    if kind == "complement" and not (base["reason"] >= 0).any():
        # complements rows without pair evidence (reason < 0) are what sells after any purchase, kept in the
        # model's order; a list made only of them says nothing about this item, so it is marked a fallback
        return Reranked(answer.candidates, fallback=True)
    return answer
