"""For you right after a purchase, replayed on raw Ta-Feng from what the shipped path published: how many
complements of the purchase, and from which share of the anchor's buyers, should lead the list?

    python -m benchmarks.for_you_post_purchase [--caps 0,1,3,5,none] [--shares 0,0.2]

As ``benchmarks.post_purchase`` does for next purchase: trained before 2001-01-01 through the shipped path
(``recs train`` with no flags, ``recs publish``; ``benchmarks.shipped``), then for every anchor purchase after
the cutoff (``recommender.evaluation.complement_events``), the answer ``GET /v1/users/{id}/recommendations``
gives right after the purchase event: ``rerank_for_you`` (the route's merge) on the customer's published
for-you list and the item's published complements, with the route's arguments, once per (minimum share,
cap). A replay, not HTTP requests: the route reads the clock and these purchases are years old. Scored as
the complements are: HitRate@5 and @10 within 30 days (any of the list's items bought by the customer within
30 days after the anchor).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.datasets import tafeng_raw_orders
from benchmarks.post_purchase import replay
from benchmarks.shipped import ShippedService, shipped_service
from benchmarks.shipped_quality import COMPLEMENTS_WINDOW_DAYS, CUTOFFS, write_orders
from recommender.base import Ranked
from recommender.data import load_orders
from recommender.evaluation import ComplementEvents, complement_events, complement_metrics
from recommender.history import OrderHistory
from recommender.request_time import rerank_for_you

DATA = Path(__file__).with_name("data")
K = 10


def for_you_answers(
    service: ShippedService, events: ComplementEvents, history: OrderHistory, variants: list[tuple[float, int | None]]
) -> dict[tuple[float, int | None], Ranked]:
    """Per variant (minimum share, cap): row ``a`` is the top-``K`` for-you answer after anchor ``a``."""
    published = replay(service, events, history, "for_you")
    offered = {v: np.full((events.n_anchors, K), -1, dtype=np.int32) for v in variants}
    for n, base, context in published.anchors(events):
        for share, cap in variants:
            answer = rerank_for_you(
                base, context, k=K, fallback=published.fallback, max_complements=cap, min_complement_share=share
            )
            got = published.to_history[answer.candidates.items]
            offered[(share, cap)][n, : len(got)] = got
    scores = np.arange(K, 0, -1, dtype=np.float32)
    return {v: Ranked(items, np.where(items >= 0, scores, -np.inf).astype(np.float32)) for v, items in offered.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caps", default="0,1,3,5,none", help="complements at most (none: no cap)")
    parser.add_argument("--shares", default="0,0.2", help="minimum shares of the anchor's buyers")
    args = parser.parse_args()
    caps = [None if c == "none" else int(c) for c in args.caps.split(",")]
    variants = [(float(s), c) for s in args.shares.split(",") for c in caps]
    orders = tafeng_raw_orders(DATA)
    history = load_orders(orders, catalog_path=orders.with_name("tafeng_raw_catalog.csv")).history
    at = int(CUTOFFS["tafeng-raw"].timestamp())
    events = complement_events(history, at, COMPLEMENTS_WINDOW_DAYS)
    with tempfile.TemporaryDirectory(prefix="for-you-pp-") as tmp:
        train = write_orders(history.select(history.ordered_at < at), Path(tmp) / "train.parquet")
        with shipped_service(train, orders.with_name("tafeng_raw_catalog.csv"), Path(tmp) / "run") as service:
            answers = for_you_answers(service, events, history, variants)
    every = np.arange(events.n_anchors)
    print(f"raw Ta-Feng, {events.n_anchors:,} anchors after {CUTOFFS['tafeng-raw'].date()}, for you after the purchase")
    print("| minimum share | at most | HitRate@5 | HitRate@10 |")
    print("|---|---|---|---|")
    for (share, cap), ranked in answers.items():
        at5 = complement_metrics(every, events.followups, Ranked(ranked.items[:, :5], ranked.scores[:, :5]), 5)
        at10 = complement_metrics(every, events.followups, ranked, K)
        label = "no cap" if cap is None else str(cap)
        print(f"| {share:g} | {label} | {at5['hit_rate_at_5']:.4f} | {at10['hit_rate_at_10']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
