"""Could a learned ranker over pair features lift the complements item list? A probe on raw Ta-Feng (issue 21).

``python -m benchmarks.complements_ranker`` (about 2 minutes) fits a LightGBM lambdarank over the candidates
of every anchor item (the shipped model's top 50 and the 100 items most often bought in a follow-up window)
with pair features (the shipped model's rank, confidence, recent confidence, direction, same category) and
item features (follow-up popularity, recent popularity and its trend, repeat rate, buyers per day, days since
the item's last and first sale). HitRate@5 within 30 days of the anchors after 2001-01-01, as
``benchmarks.quality`` measures it, in two settings:

- **fitted before the cutoff** (what ``recs train`` could ship): features from the history before
  ``V = cutoff - 40 days``, labels from the anchors in ``[V, cutoff - 30 days]``; then features from the
  whole history before the cutoff;
- **labels from the future** (a ceiling, not a model): features from before the cutoff, labels from the
  anchors of half of the customers after it, scored on the other half (and the reverse).

Next to them, the shipped model and popularity in window on the same anchors.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from benchmarks.datasets import tafeng_raw_orders
from benchmarks.shipped_quality import COMPLEMENTS_K, COMPLEMENTS_WINDOW_DAYS, CUTOFFS
from recommender.base import Ranked
from recommender.data import load_orders
from recommender.evaluation import ComplementEvents, complement_events, complement_metrics, popularity_in_window
from recommender.history import DAY, OrderHistory
from recommender.models.complements import ComplementsModel

K, W = COMPLEMENTS_K, COMPLEMENTS_WINDOW_DAYS
OURS, POPULAR = 50, 100  # candidates per anchor item
FEATURES = [  # the columns of ``Pairs.x``
    *("rank", "conf", "log_anchor_rate", "recent_conf", "followup_pop", "recent_pop", "trend", "direction"),
    *("same_category", "repeat_rate", "log_buyer_rate", "days_since_last", "first_sale_share"),
]


@dataclass
class Pairs:
    """Candidate pairs (anchor ``a``, item ``b``) sorted by (a, b), their features, and the shipped lists."""

    a: np.ndarray
    b: np.ndarray
    x: np.ndarray
    shipped: Ranked  # rows = anchor items


def pair_values(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[rows[i], cols[i]]`` for every i (scipy's element-wise fancy indexing), 0 where not stored."""
    return np.asarray(matrix[rows, cols], dtype=np.float64).ravel()


def _counts(events: ComplementEvents, weight: np.ndarray, n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    anchor = sp.csr_matrix((weight, (events.anchor_items, np.arange(events.n_anchors))), shape=(n, events.n_anchors))
    return (anchor @ events.followups).tocsr(), np.asarray(anchor.sum(axis=1)).ravel()


def pairs(history: OrderHistory, anchors: np.ndarray) -> Pairs:
    """Candidates and features from ``history`` alone, for the ``anchors`` (item indices)."""
    n = history.n_items
    days = max((history.end_time - history.start_time) / DAY, 1.0)
    model = ComplementsModel().fit(history)
    ours = model.recommend(anchors, OURS)
    popular = popularity_in_window(history, W, POPULAR).items[anchors]
    past = complement_events(history, history.start_time, min(W, 14))
    age = (history.end_time - past.at) / DAY
    recent = age < age.min() + 14
    together, n_anchor = _counts(past, np.ones(past.n_anchors), n)
    recent_together, n_recent = _counts(past, recent.astype(np.float64), n)
    follow_pop = np.asarray(past.followups.sum(axis=0)).ravel() / max(past.n_anchors, 1)
    recent_pop = np.asarray(past.followups[recent].sum(axis=0)).ravel() / max(int(recent.sum()), 1)
    counts = history.customer_items("count")
    buyers = np.bincount(counts.indices, minlength=n)
    repeat = np.bincount(counts.indices[counts.data > 1], minlength=n) / np.maximum(buyers, 1)
    last = np.full(n, history.start_time, np.int64)
    np.maximum.at(last, history.item, history.ordered_at)
    first = np.full(n, history.end_time, np.int64)
    np.minimum.at(first, history.item, history.ordered_at)
    category = history.catalog.category if history.catalog is not None else np.full(n, -1)
    a = np.concatenate([np.repeat(anchors, OURS), np.repeat(anchors, POPULAR)]).astype(np.int64)
    b = np.concatenate([ours.items.ravel(), popular.ravel()]).astype(np.int64)
    key = np.unique(a[(b >= 0) & (a != b)] * n + b[(b >= 0) & (a != b)])
    a, b = key // n, key % n
    rank = np.full(len(a), float(OURS + 10))
    listed = ours.items.ravel() >= 0
    at = np.searchsorted(key, np.repeat(anchors, OURS)[listed].astype(np.int64) * n + ours.items.ravel()[listed])
    rank[at] = np.tile(np.arange(OURS), len(anchors))[listed]
    ab, ba = pair_values(together, a, b), pair_values(together, b, a)
    x = np.column_stack([
        rank, ab / np.maximum(n_anchor[a], 1), np.log1p(n_anchor[a] / days),
        pair_values(recent_together, a, b) / np.maximum(n_recent[a], 1), follow_pop[b], recent_pop[b],
        recent_pop[b] / np.maximum(follow_pop[b], 1e-6), (ab + 1) / (ab + ba + 2), category[a] == category[b],
        repeat[b], np.log1p(buyers[b] / days), (history.end_time - last[b]) / DAY,
        (history.end_time - first[b]) / DAY / days,
    ])  # fmt: skip
    shipped = Ranked.empty(n, K)
    shipped.items[anchors], shipped.scores[anchors] = ours.items[:, :K], ours.scores[:, :K]
    return Pairs(a, b, x, shipped)


def relevance(p: Pairs, events: ComplementEvents, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Graded label per pair (the share of the anchor's events followed by b, in quarters, plus one if any),
    the group sizes of the anchors that have events, and which pairs those are."""
    followed, n_events = _counts(events, np.ones(events.n_anchors), n)
    share = pair_values(followed, p.a, p.b) / np.maximum(n_events[p.a], 1)
    label = np.minimum(np.floor(4 * share + (share > 0)), 30).astype(np.int64)
    has_events = n_events[p.a] > 0
    _, sizes = np.unique(p.a[has_events], return_counts=True)
    return label[has_events], sizes, has_events


def fit(p: Pairs, events: ComplementEvents, n: int) -> lgb.LGBMRanker:
    label, sizes, rows = relevance(p, events, n)
    ranker = lgb.LGBMRanker(
        n_estimators=200, learning_rate=0.05, num_leaves=31, min_child_samples=50, label_gain=list(range(31)),
        verbose=-1, random_state=0, deterministic=True, force_row_wise=True,
    )  # fmt: skip
    return ranker.fit(p.x[rows], label, group=sizes)


def ranked(p: Pairs, score: np.ndarray, n: int) -> Ranked:
    """Each anchor's top K pairs by ``score`` (ties to the lower item)."""
    order = np.lexsort((p.b, -score, p.a))
    a, b, s = p.a[order], p.b[order], score[order]
    starts = np.searchsorted(a, a, side="left")
    position = np.arange(len(a)) - starts
    keep = position < K
    out = Ranked.empty(n, K)
    out.items[a[keep], position[keep]], out.scores[a[keep], position[keep]] = b[keep], s[keep]
    return out


def hit_rate(events: ComplementEvents, rows: np.ndarray, lists: Ranked) -> float:
    return complement_metrics(events.anchor_items[rows], events.followups[rows], lists, K)[f"hit_rate_at_{K}"]


def main(data: Path) -> None:
    orders = tafeng_raw_orders(data)
    history = load_orders(orders, catalog_path=orders.with_name("tafeng_raw_catalog.csv")).history
    cutoff = int(CUTOFFS["tafeng-raw"].timestamp())
    n = history.n_items
    train = history.select(history.ordered_at < cutoff)
    test = complement_events(history, cutoff, W)
    test_anchors = np.unique(test.anchor_items)
    popular = popularity_in_window(train, W, K)
    now = pairs(train, test_anchors)
    every = np.arange(test.n_anchors)

    start = cutoff - (W + 10) * DAY
    validation = complement_events(train, start, W)
    earlier = pairs(history.select(history.ordered_at < start), np.unique(validation.anchor_items))
    model = fit(earlier, validation, n)
    before = ranked(now, model.predict(now.x), n)
    print(f"{test.n_anchors:,} anchors after the cutoff; {validation.n_anchors:,} validation anchors")
    print("| ranker | ranker | shipped model | popularity in window | ranker / popularity |")
    print("|---|---:|---:|---:|---:|")
    scores = [hit_rate(test, every, lst) for lst in (before, now.shipped, popular)]
    ratio = scores[0] / scores[2]
    print(f"| fitted before the cutoff | {scores[0]:.4f} | {scores[1]:.4f} | {scores[2]:.4f} | {ratio:.2f}x |")

    half = np.random.default_rng(0).random(history.n_customers) < 0.5
    for name, side in (("labels from the future, half A", True), ("labels from the future, half B", False)):
        fitted_on = np.flatnonzero(half[test.customers] == side)
        scored_on = np.flatnonzero(half[test.customers] != side)
        labels = ComplementEvents(
            test.customers[fitted_on], test.anchor_items[fitted_on], test.at[fitted_on],
            test.followups[fitted_on], test.window_s,
        )  # fmt: skip
        ceiling = ranked(now, fit(now, labels, n).predict(now.x), n)
        s = [hit_rate(test, scored_on, lst) for lst in (ceiling, now.shipped, popular)]
        print(f"| {name} | {s[0]:.4f} | {s[1]:.4f} | {s[2]:.4f} | {s[0] / s[2]:.2f}x |")
    gain = model.booster_.feature_importance("gain")
    top = np.argsort(-gain)[:5]
    shares = ", ".join(f"{FEATURES[i]} {gain[i] / gain.sum():.0%}" for i in top)
    print(f"fitted before the cutoff, largest gains: {shares}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    main(parser.parse_args().data)
