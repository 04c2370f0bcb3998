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
