"""Explore part of next purchase (``explore_weight > 0``): items the customer never bought, from a nested
``CollaborativeModel`` (implicit ALS), scaled per customer into the range of its other scores and damped
by category ownership (an owner of a one-off kind gets no second one)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recommender.models.collaborative import CollaborativeModel
from recommender.models.next_purchase.candidates import Triples
from recommender.models.next_purchase.config import NextPurchaseConfig
from recommender.substitutes import CategoryOwnership


def explore_scores(
    cfg: NextPurchaseConfig,
    explore: CollaborativeModel,
    queries: np.ndarray,
    k: int,
    top_repeat: np.ndarray,
    indptr: np.ndarray,
    n_items: int,
    bought: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ownership: CategoryOwnership | None,
) -> Triples:
    """Unbought collaborative candidates, scores scaled into each customer's repeat range (``top_repeat``,
    per query). ``indptr`` is the CSR row pointer of the customers' bought items, ``bought`` tells
    whether customers bought items."""
    lengths = indptr[queries + 1] - indptr[queries]
    extra = 0 if explore.config.exclude_bought else int(lengths.max(initial=0))
    # twice the candidates: damped substitutes must be able to fall out of the top k
    ranked = explore.recommend(queries, min(2 * k + extra, max(n_items, 1)))
    rows = np.repeat(np.arange(len(queries)), ranked.items.shape[1])
    items, raw = ranked.items.ravel(), ranked.scores.ravel().astype(np.float64)
    valid = items >= 0
    valid[valid] = ~bought(queries[rows[valid]], items[valid])
    rows, items, raw = rows[valid], items[valid], np.maximum(raw[valid], 0.0)
    top = np.zeros(len(queries), dtype=np.float64)
    np.maximum.at(top, rows, raw)
    scaled = np.divide(raw, top[rows], out=np.zeros_like(raw), where=top[rows] > 0)
    if ownership is not None:
        damping = ownership.damping(queries[rows], items)
        scaled *= damping
        kind_kept = damping >= cfg.min_repeat_share  # owned one-off kinds (a tent) are dropped
        rows, items, scaled = rows[kind_kept], items[kind_kept], scaled[kind_kept]
    return rows, items.astype(np.int32), cfg.explore_weight * top_repeat[rows] * scaled
