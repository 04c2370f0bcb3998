"""The shortcut for answers no event and no filter touches (``plain_page``) gives exactly what the full
merge gives (``assemble``), on random lists with padding, repeated items, short lists and every page."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.request_time import (
    Candidates,
    CustomerContext,
    Fallback,
    Filters,
    RecentEvents,
    Reranked,
    assemble,
    entries,
    rerank_for_you,
    rerank_next_purchase,
)

NO_FILTER = Filters(
    np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), None, None, None
)
NO_EVENTS = CustomerContext(RecentEvents.empty(), {}, now=0, window_days=14)
POPULAR = Fallback(np.arange(30, 40, dtype=np.int32), np.linspace(1, 0.1, 10))

published = st.lists(
    st.tuples(st.integers(-1, 25), st.floats(0, 1, width=32), st.sampled_from([-1.0, 0.0, 3.0, 30.0])),
    max_size=40,
)
page = st.tuples(st.integers(1, 15), st.integers(0, 10))


def as_entries(rows: list[tuple[int, float, float]]) -> np.ndarray:
    scores = sorted((r[1] for r in rows), reverse=True)  # published lists are best first
    return entries([r[0] for r in rows], scores, [r[2] for r in rows])


def same(a: Reranked, b: Reranked) -> None:
    assert a.fallback == b.fallback
    for name in ("items", "scores", "kinds", "values", "sources"):
        assert getattr(a.candidates, name).tolist() == getattr(b.candidates, name).tolist(), name


@settings(max_examples=300, deadline=None)
@given(published, page)
def test_for_you_without_events_equals_the_full_merge(
    rows: list[tuple[int, float, float]], kp: tuple[int, int]
) -> None:
    base, (k, offset) = as_entries(rows), kp
    got = rerank_for_you(base, NO_EVENTS, k=k, offset=offset, fallback=POPULAR)
    full = assemble([Candidates.from_entries(base, "for_you")], NO_FILTER, k=k, offset=offset, fallback=POPULAR)
    same(got, full)


@settings(max_examples=300, deadline=None)
@given(published, page)
def test_next_purchase_without_events_equals_the_full_merge(
    rows: list[tuple[int, float, float]], kp: tuple[int, int]
) -> None:
    base, (k, offset) = as_entries(rows), kp
    got = rerank_next_purchase(base, NO_EVENTS, k=k, offset=offset, fallback=POPULAR)
    # nothing bought since publish: the published order as it is (the model ranked by due-ness)
    rows_ = Candidates.from_entries(base, np.where(base["reason"] >= 0, "repeat", "for_you"))
    full = assemble([rows_], NO_FILTER, k=k, offset=offset, fallback=POPULAR)
    same(got, full)


@settings(max_examples=300, deadline=None)
@given(published, page, st.lists(st.booleans(), min_size=40, max_size=40))
def test_for_you_with_an_allowed_mask_equals_the_full_merge(
    rows: list[tuple[int, float, float]], kp: tuple[int, int], mask: list[bool]
) -> None:
    """The default filter (in stock) keeps the shortcut when the page's items are all allowed."""
    base, (k, offset), allowed = as_entries(rows), kp, np.asarray(mask)
    got = rerank_for_you(base, NO_EVENTS, k=k, offset=offset, allowed=allowed, fallback=POPULAR)
    filters = Filters(NO_FILTER.blocked_items, NO_FILTER.blocked_categories, NO_FILTER.exempt, allowed, None, None)
    full = assemble([Candidates.from_entries(base, "for_you")], filters, k=k, offset=offset, fallback=POPULAR)
    same(got, full)


def test_a_narrow_filter_is_filled_from_the_rest_after_the_fallback() -> None:
    allowed = np.zeros(60, dtype=bool)
    allowed[[5, 35, 50, 55]] = True  # one item of the list, one of the popular list, two of neither
    filters = Filters(NO_FILTER.blocked_items, NO_FILTER.blocked_categories, NO_FILTER.exempt, allowed, None, None)
    rest = Fallback(POPULAR.items, POPULAR.scores, -1, rest=np.arange(60, dtype=np.int32)[::-1])
    base = entries([1, 5, 7], [0.9, 0.8, 0.7])
    answer = assemble([Candidates.from_entries(base, "for_you")], filters, k=10, offset=0, fallback=rest)
    assert answer.candidates.items.tolist() == [5, 35, 55, 50]  # the list, the popular list, then the rest
    assert answer.candidates.kinds.tolist() == ["for_you", "popular", "popular", "popular"]
    alone = assemble([Candidates.from_entries(base, "for_you")], filters, k=10, offset=0, fallback=POPULAR)
    assert alone.candidates.items.tolist() == [5, 35]  # without rest: only what the lists hold
