"""The service's post-purchase answer, replayed offline for a complements evaluation.

For every anchor purchase (customer, item, time t) of ``recommender.evaluation.complement_events``, this
builds what ``GET /v1/users/{customer}/next-purchase`` answers right after the storefront sent that
purchase as an event: the lists are the ones ``recs publish`` stores (top ``PUBLISH_K`` of the models
fitted before the cutoff, with their reason numbers: repeat intervals and complement shares), and the
merge is ``recommender.rerank.rerank_next_purchase``, the function the route calls, with the same catalog
filters and popular padding. Customers with no history before the cutoff have no published list, as in
the service: their answer is the bought item's complements, then popular items.

The signals are the customer's history up to the cutoff, the one purchase event and the published lists:
nothing from the evaluation window. One ``rerank_next_purchase`` call per anchor (as one request per
purchase would be), about 130k calls on raw Ta-Feng.
"""

from __future__ import annotations

import numpy as np

from recommender.base import Ranked
from recommender.evaluation import ComplementEvents
from recommender.models.complements import ComplementsModel
from recommender.models.next_purchase import NextPurchaseModel
from recommender.models.popular import PopularModel
from recommender.rerank import Event, Fallback, RecentEvents, entries, rerank_next_purchase

PUBLISH_K = 100  # list depth recs publish stores per customer and per item


def published_lists(ranked: Ranked, reasons: np.ndarray) -> list[np.ndarray]:
    """One ``ENTRY`` array per row, padding (-1) dropped, as a published hash field unpacks."""
    out = []
    for items, scores, why in zip(ranked.items, ranked.scores, reasons, strict=True):
        valid = items >= 0
        out.append(entries(items[valid], scores[valid], why[valid]))
    return out


def post_purchase_answers(
    events: ComplementEvents,
    known_customers: np.ndarray,
    next_purchase: NextPurchaseModel,
    complements: ComplementsModel,
    popular: PopularModel,
    *,
    item_category: np.ndarray,
    published_at: int,
    k: int,
) -> Ranked:
    """Row ``a``: the top-``k`` answer after anchor ``a``'s purchase event (scores are ranks, best = k).

    ``known_customers`` (bool per customer index) marks the customers with a published list: those with
    history before ``published_at``; ``item_category`` is the catalog's category index per item (-1: none).
    """
    customers = np.unique(events.customers)
    ranked = next_purchase.recommend(customers, PUBLISH_K, now=published_at)
    rows = np.repeat(customers, ranked.items.shape[1])
    intervals = next_purchase.intervals(rows, ranked.items.ravel()).reshape(ranked.items.shape)
    base_of = dict(zip(customers.tolist(), published_lists(ranked, intervals), strict=True))
    anchors = np.unique(events.anchor_items)
    pairs = complements.recommend(anchors, PUBLISH_K)
    shares = complements.shares(np.repeat(anchors, pairs.items.shape[1]), pairs.items.ravel())
    complements_of = dict(zip(anchors.tolist(), published_lists(pairs, shares.reshape(pairs.items.shape)), strict=True))
    fallback = Fallback(*popular.top(PUBLISH_K))
    nothing = entries([], [])
    offered = np.full((events.n_anchors, k), -1, dtype=np.int32)
    anchor_rows = zip(events.customers.tolist(), events.anchor_items.tolist(), events.at.tolist(), strict=True)
    for n, (customer, item, at) in enumerate(anchor_rows):
        answer = rerank_next_purchase(
            base_of[customer] if known_customers[customer] else nothing,
            RecentEvents.from_events([Event("purchase", [item], at)]),
            {item: complements_of[item]},
            k=k,
            now=at,
            window_days=complements.config.window_days,
            item_category=item_category,
            category_repeat_rate=next_purchase.category_repeat_rate,
            fallback=fallback,
        )
        got = answer.candidates.items
        offered[n, : len(got)] = got
    scores = np.where(offered >= 0, np.arange(k, 0, -1, dtype=np.float32), -np.inf).astype(np.float32)
    return Ranked(offered, scores)


def personal_reference(ranked: Ranked, anchor_items: np.ndarray, k: int) -> Ranked:
    """A per-anchor list from a per-anchor ranked list of ``k + 1`` or more: the anchor item dropped, top ``k``."""
    keep = (ranked.items != anchor_items[:, None]) & (ranked.items >= 0)
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    items = np.take_along_axis(np.where(keep, ranked.items, -1), order, axis=1).astype(np.int32)
    scores = np.where(items >= 0, np.arange(k, 0, -1, dtype=np.float32), -np.inf).astype(np.float32)
    return Ranked(items, scores)
