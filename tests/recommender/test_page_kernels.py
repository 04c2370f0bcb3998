"""The request-time steps (``recommender.numeric.page_kernels``) against plain references on random rows."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.numeric.page_kernels import allowed_head, capped_order

ITEMS = st.lists(st.integers(-1, 30), max_size=60)
MASK = st.lists(st.booleans(), min_size=0, max_size=25)


@settings(max_examples=200, deadline=None)
@given(ITEMS, MASK, st.integers(1, 20))
def test_allowed_head_is_the_head_of_the_allowed_rows(items: list[int], mask: list[bool], need: int) -> None:
    allowed = np.asarray(mask, dtype=bool)
    kept = [p for p, i in enumerate(items) if 0 <= i < len(allowed) and allowed[i]]
    got = allowed_head(np.asarray(items, dtype=np.int32), allowed, need)
    head = kept[:need]
    firsts = [items[p] for p in head]
    if len(set(firsts)) == len(firsts):
        assert got is not None and got.tolist() == head
    else:  # an item twice: unfit for the shortcut
        assert got is None


@settings(max_examples=200, deadline=None)
@given(ITEMS, st.lists(st.integers(-1, 4), min_size=31, max_size=31), st.integers(1, 4))
def test_capped_order_moves_rows_past_the_cap_down_by_tier(items: list[int], category: list[int], cap: int) -> None:
    cats = [category[i] if i >= 0 else -1 for i in items]
    tiers = [0 if c < 0 else cats[:n].count(c) // cap for n, c in enumerate(cats)]
    got = capped_order(np.asarray(items, dtype=np.int32), np.asarray(category, dtype=np.int32), cap)
    if not any(tiers):
        assert got is None
    else:
        assert got is not None and got.tolist() == sorted(range(len(items)), key=lambda n: (tiers[n], n))
