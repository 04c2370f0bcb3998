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

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from benchmarks.shipped import ShippedService
from recommender.base import Ranked
from recommender.evaluation import ComplementEvents
from recommender.history import OrderHistory
from recommender.request_time import CustomerContext, Event, Fallback, RecentEvents, entries, rerank_next_purchase
from serving.cache import VersionTables


@dataclass(frozen=True)
class Replay:
    """The published lists a post-purchase answer reads, for every anchor of ``events``: the customer's
    list of a surface, the bought item's complements, the catalog tables and the popular padding."""

    tables: VersionTables
    base_of: dict[int, np.ndarray]  # history customer index -> the published list (ENTRY rows)
    complements_of: dict[int, np.ndarray]  # published item index -> its published complements
    published_index: dict[int, int]  # history item index -> published item index (-1: not published)
    to_history: np.ndarray  # published item index -> history item index
    fallback: Fallback

    def anchors(self, events: ComplementEvents) -> Iterator[tuple[int, np.ndarray, CustomerContext]]:
        """(anchor row, the customer's list, the context right after the purchase event) per anchor."""
        nothing = entries([], [])
        window_days = float(self.tables.meta["complements_window_days"])
        rows = zip(events.customers.tolist(), events.anchor_items.tolist(), events.at.tolist(), strict=True)
        for n, (customer, item, at) in enumerate(rows):
            bought = self.published_index[item]
            context = CustomerContext(
                RecentEvents.from_events([Event("purchase", [bought], at)]),
                {bought: self.complements_of[bought]} if bought >= 0 else {},
                now=at,
                window_days=window_days,
                item_category=self.tables.category,
                category_repeat_rate=self.tables.category_repeat_rate,
            )
            yield n, self.base_of[customer] if len(self.base_of[customer]) else nothing, context


def replay(service: ShippedService, events: ComplementEvents, history: OrderHistory, surface: str) -> Replay:
    """What ``service`` published for the anchors of ``events``: the customers' ``surface`` lists and the
    anchors' complements."""
    customers = np.unique(events.customers)
    tables, lists = service.published(surface, history.customers.external(customers).tolist())
    anchors = np.unique(events.anchor_items)
    _, complement_lists = service.published("complements", history.items.external(anchors).tolist())
    published_index = {
        int(a): tables.item_index.get(str(i), -1) for a, i in zip(anchors, history.items.external(anchors), strict=True)
    }
    return Replay(
        tables=tables,
        base_of=dict(zip(customers.tolist(), lists, strict=True)),
        complements_of={published_index[int(a)]: c for a, c in zip(anchors.tolist(), complement_lists, strict=True)},
        published_index=published_index,
        to_history=history.items.index(tables.item_ids),
        fallback=Fallback(tables.popular_items, tables.popular_scores),
    )


def post_purchase_answers(service: ShippedService, events: ComplementEvents, history: OrderHistory, k: int) -> Ranked:
    """Row ``a``: the top-``k`` answer after anchor ``a``'s purchase event, in ``history``'s item indices
    (scores are ranks, best = k)."""
    published = replay(service, events, history, "next_purchase")
    offered = np.full((events.n_anchors, k), -1, dtype=np.int32)
    for n, base, context in published.anchors(events):
        answer = rerank_next_purchase(base, context, k=k, fallback=published.fallback)
        got = published.to_history[answer.candidates.items]
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
