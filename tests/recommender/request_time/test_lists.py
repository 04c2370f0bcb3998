"""Lists without a customer list at request time: what completes a cart, an item's similar items and
complements; paging is checked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recommender.request_time import Reranked, cart_complements, catalog_mask, entries, item_list
from tests.recommender.request_time.shop import (
    BAG_A,
    BASE,
    BOOK_A,
    COFFEE,
    ITEM_CATEGORY,
    LAMP,
    MAP,
    MUG,
    POPULAR,
    SOCKS,
    STOVE,
    TENT_A,
    TENT_B,
)

# cart -------------------------------------------------------------------------------------------------
CART_COMPLEMENTS = {
    TENT_A: entries([BAG_A, LAMP, STOVE, COFFEE], [0.9, 0.5, 0.3, 0.1], [0.4, 0.3, 0.1, 0.05]),
    STOVE: entries([MUG, LAMP, COFFEE, TENT_B], [0.6, 0.45, 0.35, 0.3], [0.3, 0.25, 0.2, 0.15]),
}


def cart(*items: int, k: int = 10, **kw: Any) -> Reranked:
    return cart_complements(np.array(items), CART_COMPLEMENTS, k=k, **kw)


def test_cart_complements_sum_over_the_cart_and_name_the_strongest_source() -> None:
    out = cart(TENT_A, STOVE, item_category=ITEM_CATEGORY)
    # lamp 0.5 + 0.45 beats the bag's single 0.9; coffee's strongest pair is the stove's
    assert [(r.item, r.source) for r in out.candidates] == [(LAMP, TENT_A), (BAG_A, TENT_A), (COFFEE, STOVE)]
    assert out.candidates.scores.tolist() == pytest.approx([0.95, 0.9, 0.45])
    assert out.candidates.values.tolist() == pytest.approx([0.3, 0.4, 0.2])  # share of the strongest pair
    assert set(out.candidates.kinds.tolist()) == {"cart"}
    assert out.fallback is False


def test_cart_complements_exclude_the_cart_and_substitutes() -> None:
    both = cart(TENT_A, STOVE, item_category=ITEM_CATEGORY).candidates.items.tolist()
    assert not {TENT_A, STOVE} & set(both)  # in the cart
    assert not {TENT_B, MUG} & set(both)  # a second tent, a second kitchen item
    stove = cart(STOVE, item_category=ITEM_CATEGORY).candidates.items.tolist()
    assert MUG not in stove and TENT_B in stove  # only the cart's own categories are substitutes
    assert MUG in cart(STOVE).candidates.items.tolist()  # no categories known: nothing is a substitute


def test_cart_complements_exclude_purchases_and_pad_from_popular() -> None:
    out = cart(TENT_A, k=6, exclude=np.array([BAG_A]), item_category=ITEM_CATEGORY, fallback=POPULAR)
    assert out.candidates.items.tolist() == [LAMP, STOVE, COFFEE, BOOK_A, MAP, SOCKS]  # no tent in the padding
    assert out.candidates.kinds.tolist() == ["cart"] * 3 + ["popular"] * 3
    assert out.fallback is False
    unknown = cart(SOCKS, k=2, fallback=POPULAR)
    assert unknown.fallback is True and unknown.candidates.items.tolist() == [TENT_A, BOOK_A]


# one item ---------------------------------------------------------------------------------------------
def test_item_list_never_offers_the_item_itself_and_pads() -> None:
    similar = entries([TENT_A, TENT_B, BAG_A], [0.9, 0.8, 0.1])
    out = item_list(similar, k=4, exclude_item=TENT_A, fallback=POPULAR)
    assert out.candidates.items.tolist() == [TENT_B, BAG_A, BOOK_A, COFFEE]
    assert out.candidates.sources[:2].tolist() == [TENT_A, TENT_A]
    assert out.candidates.kinds.tolist() == ["similar", "similar", "popular", "popular"]
    assert out.fallback is False
    padded_list = entries([TENT_B, -1, -1], [0.8, -np.inf, -np.inf])  # a padded row, as a model returns it
    assert item_list(padded_list, k=3, exclude_item=TENT_A).candidates.items.tolist() == [TENT_B]
    page2 = item_list(similar, k=2, offset=2, exclude_item=TENT_A, fallback=POPULAR)
    assert page2.candidates.items.tolist() == [BOOK_A, COFFEE]


def test_bad_paging_is_refused() -> None:
    with pytest.raises(ValueError, match="k must"):
        item_list(BASE, k=0, exclude_item=None)
    with pytest.raises(ValueError, match="offset"):
        item_list(BASE, k=3, offset=-1, exclude_item=None)


def test_catalog_mask_applies_every_filter() -> None:
    base = np.array([True, True, True, False, True, True])
    category = np.array([0, 1, 1, 1, 2, 1])
    price = np.array([5.0, 10.0, np.nan, 10.0, 20.0, 0.0], dtype=np.float32)
    assert catalog_mask(base).tolist() == base.tolist()
    got = catalog_mask(base, item_category=category, categories=np.array([1, 2]), price=price, price_min=8.0)
    assert got.tolist() == [False, True, False, False, True, False]  # no price (NaN, 0) passes a price filter
    got = catalog_mask(base, price=price, price_max=10.0, exclude=np.array([0]))
    assert got.tolist() == [False, True, False, False, False, False]
    assert not catalog_mask(base, price=price, price_min=11.0, price_max=10.0).any()  # a reversed range
