"""The evaluation protocol's fixed choices, shared by ``recs train``'s evaluation (``training.pipeline``) and
its own tuning (``training.self_tune``): list lengths, the complements cutoff, the scored sample's size."""

from __future__ import annotations

from recommender.history import DAY, OrderHistory

NEXT_PURCHASE_KS = (10, 20)
FOR_YOU_K = 10
COMPLEMENTS_K = 5
COMPLEMENTS_TEST_SHARE = 0.25  # the last quarter of the time range holds the complement anchors
# next purchase and for you are scored on at most this many customers (a seeded sample; 0: everyone): the
# metrics' standard error is already small, and the evaluation's neighbour search then costs 20,000 x pool
EVALUATION_CUSTOMERS = 20_000


def complements_cutoff(history: OrderHistory, window_days: int) -> int:
    """The complements evaluation's time cutoff: models see what came before it, anchors are the purchases
    after it (the last ``COMPLEMENTS_TEST_SHARE`` of the time range, at least two windows)."""
    start, end = history.start_time, history.end_time
    return int(end - max((end - start) * COMPLEMENTS_TEST_SHARE, 2 * window_days * DAY))
