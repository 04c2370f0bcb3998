"""The service's post-purchase answer, replayed for a complements evaluation from what the shipped path
published.

For every anchor purchase (customer, item, time t) of ``recommender.evaluation.complement_events``, this
builds what ``GET /v1/users/{customer}/next-purchase`` answers right after the storefront sent that
purchase as an event: the customer's list and the item's complements are read from the Redis of a
``benchmarks.shipped`` service (what ``recs publish`` stored: top 100, with their reason numbers), and the
merge is ``recommender.request_time.rerank_next_purchase``, the function the route calls, with the route's
arguments (catalog categories and repeat rates, the complements' window, popular padding). Customers
without a published list get the bought item's complements, then popular items, as in the service.

It is a replay, not HTTP requests, for one reason: the route reads the clock, and these purchases are
years old (the route would treat them as long past). The signals are the customer's history up to the
cutoff, the one purchase event and the published lists: nothing from the evaluation window. One
``rerank_next_purchase`` call per anchor (about 130k on raw Ta-Feng).
"""

from __future__ import annotations

import numpy as np

from benchmarks.shipped import ShippedService
from recommender.base import Ranked
from recommender.evaluation import ComplementEvents
from recommender.history import OrderHistory
from recommender.request_time import CustomerContext, Event, Fallback, RecentEvents, entries, rerank_next_purchase


def post_purchase_answers(service: ShippedService, events: ComplementEvents, history: OrderHistory, k: int) -> Ranked:
    """Row ``a``: the top-``k`` answer after anchor ``a``'s purchase event, in ``history``'s item indices
    (scores are ranks, best = k)."""
    customers = np.unique(events.customers)
    tables, lists = service.published("next_purchase", history.customers.external(customers).tolist())
    base_of = dict(zip(customers.tolist(), lists, strict=True))
    anchors = np.unique(events.anchor_items)
    _, complement_lists = service.published("complements", history.items.external(anchors).tolist())
    published_index = {
        int(a): tables.item_index.get(str(i), -1) for a, i in zip(anchors, history.items.external(anchors), strict=True)
    }
    complements_of = {published_index[int(a)]: c for a, c in zip(anchors.tolist(), complement_lists, strict=True)}
    to_history = history.items.index(tables.item_ids)  # published item index -> history item index
    fallback = Fallback(tables.popular_items, tables.popular_scores)
    window_days = float(tables.meta["complements_window_days"])
    nothing = entries([], [])
    offered = np.full((events.n_anchors, k), -1, dtype=np.int32)
    anchor_rows = zip(events.customers.tolist(), events.anchor_items.tolist(), events.at.tolist(), strict=True)
    for n, (customer, item, at) in enumerate(anchor_rows):
        bought = published_index[item]
        customer_context = CustomerContext(
            RecentEvents.from_events([Event("purchase", [bought], at)]),
            {bought: complements_of[bought]} if bought >= 0 else {},
            now=at,
            window_days=window_days,
            item_category=tables.category,
            category_repeat_rate=tables.category_repeat_rate,
        )
        answer = rerank_next_purchase(
            base_of[customer] if len(base_of[customer]) else nothing, customer_context, k=k, fallback=fallback
        )
        got = to_history[answer.candidates.items]
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
