"""Complements evaluation: events respect the window and the observed-window rule; metrics and baselines by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.evaluation import (
    complement_events,
    complement_metrics,
    complements,
    popularity_in_window,
    symmetric_cooccurrence,
)
from recommender.history import DAY, OrderHistory


def history(rows: list[tuple[str, str, float]]) -> OrderHistory:
    """(customer, item, day) lines; a customer's lines on one day form one order."""
    c, i, d = zip(*rows, strict=True)
    return OrderHistory.from_arrays(np.array(c), np.array(i), (np.array(d) * DAY).astype(np.int64))


def names(h: OrderHistory, items: np.ndarray) -> list[str]:
    return [str(x) for x in h.items.external(items[items >= 0])]


TEST_PERIOD = [
    ("u1", "tent", 0),
    ("u1", "bag", 3),
    ("u1", "stove", 20),
    ("u2", "tent", 0),
    ("u2", "lamp", 0),
    ("u2", "bag", 7),  # exactly at the window's end: inside (0, 7]
    ("u2", "tent", 7),
    ("u2", "stove", 7 + 1 / DAY),  # one second later: outside
    ("u3", "tent", 25),  # window would end at day 32, after the history's end
    ("u3", "bag", 26),
    ("u9", "coffee", 30),  # the history ends on day 30
]


def anchors(h: OrderHistory, ev: complements.ComplementEvents) -> dict[tuple[str, str, float], list[str]]:
    out = {}
    for a in range(ev.n_anchors):
        key = (
            str(h.customers.external([ev.customers[a]])[0]),
            str(h.items.external([ev.anchor_items[a]])[0]),
            ev.at[a] / DAY,
        )
        out[key] = sorted(names(h, ev.followups[a].indices))
    return out


def test_events_keep_fully_observed_anchors_followed_by_another_item() -> None:
    h = history(TEST_PERIOD)
    ev = complement_events(h, start=0, window_days=7)
    assert ev.window_s == 7 * DAY
    assert anchors(h, ev) == {
        ("u1", "tent", 0): ["bag"],
        # same-order lamp is not a follow-up; stove one second after the window is out
        ("u2", "tent", 0): ["bag"],
        # the anchor's own item bought again is excluded, another item is kept
        ("u2", "lamp", 0): ["bag", "tent"],
        # tent at day 7 has only stove, one second later, within its window
        ("u2", "tent", 7): ["stove"],
        ("u2", "bag", 7): ["stove"],
    }
    assert ev.followups.shape == (ev.n_anchors, h.n_items)


def test_events_start_at_the_given_time() -> None:
    h = history(TEST_PERIOD)
    ev = complement_events(h, start=1 * DAY, window_days=7)
    assert set(anchors(h, ev)) == {("u2", "tent", 7), ("u2", "bag", 7)}


def test_a_longer_window_sees_later_purchases_but_needs_more_observed_time() -> None:
    h = history(TEST_PERIOD)
    ev = anchors(h, complement_events(h, start=0, window_days=20))
    assert ev[("u1", "tent", 0)] == ["bag", "stove"]
    assert ("u3", "tent", 25) not in ev


def reference_events(h: OrderHistory, start: int, window: int) -> dict[tuple[int, int, int], set[int]]:
    out = {}
    triples = set(zip(h.customer.tolist(), h.item.tolist(), h.ordered_at.tolist(), strict=True))
    for c, i, t in triples:
        if t < start or t + window > h.end_time:
            continue
        follow = {j for (c2, j, t2) in triples if c2 == c and t < t2 <= t + window and j != i}
        if follow:
            out[(c, i, t)] = follow
    return out


def test_events_match_a_loop_reference_on_random_data() -> None:
    rng = np.random.default_rng(3)
    n = 300
    rows = [(f"u{rng.integers(12)}", f"i{rng.integers(15)}", float(rng.integers(0, 60))) for _ in range(n)]
    h = history(rows)
    ev = complement_events(h, start=10 * DAY, window_days=5)
    got = {
        (int(c), int(i), int(t)): set(ev.followups[a].indices.tolist())
        for a, (c, i, t) in enumerate(zip(ev.customers, ev.anchor_items, ev.at, strict=True))
    }
    assert got == reference_events(h, 10 * DAY, 5 * DAY)
    assert len(got) > 20


def test_complement_metrics_by_hand() -> None:
    # items 0..4; anchors: item 0 followed by {1}, item 2 followed by {1, 0}, item 0 followed by {3}
    followups = sp.csr_matrix(np.array([[0, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 1, 0]], dtype=np.float32))
    ranked = Ranked.empty(5, 2)
    ranked.items[0] = [1, 2]  # offered for item 0
    ranked.items[2] = [4, -1]  # offered for item 2
    m2 = complement_metrics(np.array([0, 2, 0]), followups, ranked, k=2)
    assert m2["n_anchors"] == 3
    assert m2["hit_rate_at_2"] == pytest.approx(1 / 3)
    assert m2["precision_at_2"] == pytest.approx((1 / 2 + 0 + 0) / 3)
    m1 = complement_metrics(np.array([0, 2, 0]), followups, ranked, k=1)
    assert m1["precision_at_1"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="anchor items"):
        complement_metrics(np.array([0, 2, 5]), followups, ranked, k=2)


TRAIN = [
    ("u1", "tent", 0),
    ("u1", "lamp", 0),
    ("u1", "bag", 3),
    ("u1", "stove", 30),
    ("u2", "tent", 0),
    ("u2", "bag", 5),
    ("u2", "stove", 6),
    ("u3", "lamp", 1),
    ("u3", "bag", 20),
    ("u4", "coffee", 0),
    ("u4", "coffee", 2),  # a repeat of the same item is no follow-up
]


def test_popularity_in_window_ranks_follow_up_purchases() -> None:
    h = history(TRAIN)
    r = popularity_in_window(h, window_days=7, k=3)
    assert r.items.shape == (h.n_items, 3)
    # follow-ups: bag (u1 day 3, u2 day 5) twice, stove (u2 day 6) once; nothing else
    tent, bag, coffee = h.items.index(["tent", "bag", "coffee"])
    assert names(h, r.items[tent]) == ["bag", "stove"]
    assert r.scores[tent, :2].tolist() == [2.0, 1.0]
    assert names(h, r.items[bag]) == ["stove"]  # the anchor itself is left out
    assert names(h, r.items[coffee]) == ["bag", "stove"]


def test_symmetric_cooccurrence_counts_distinct_customers_in_either_direction() -> None:
    h = history([*TRAIN, ("u5", "tent", 40), ("u5", "bag", 41), ("u5", "tent", 60), ("u5", "bag", 62)])
    r = symmetric_cooccurrence(h, window_days=7, k=3)
    tent, bag, lamp, coffee = h.items.index(["tent", "bag", "lamp", "coffee"])
    # tent-bag: u1, u2, u5 (twice, counted once); tent-lamp: u1 (same order); tent-stove: u2; ties by item index
    assert names(h, r.items[tent]) == ["bag", "lamp", "stove"]
    assert r.scores[tent].tolist() == [3.0, 1.0, 1.0]
    # bag-lamp: u1 (bag after lamp); u3's bag is 19 days after lamp: out
    assert names(h, r.items[bag]) == ["tent", "lamp", "stove"]
    assert names(h, r.items[lamp]) == ["bag", "tent"]
    assert np.all(r.items[coffee] == -1)


def test_symmetric_cooccurrence_in_small_batches_gives_the_same_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    h = history([(f"u{rng.integers(15)}", f"i{rng.integers(12)}", float(rng.integers(0, 40))) for _ in range(250)])
    whole = symmetric_cooccurrence(h, window_days=4, k=5)
    monkeypatch.setattr(complements, "_PAIR_BUDGET", 7)
    batched = symmetric_cooccurrence(h, window_days=4, k=5)
    assert np.array_equal(whole.items, batched.items)
    assert np.array_equal(whole.scores, batched.scores)


def test_symmetric_cooccurrence_of_some_rows_counts_those_rows_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    h = history([(f"u{rng.integers(15)}", f"i{rng.integers(12)}", float(rng.integers(0, 40))) for _ in range(250)])
    whole = symmetric_cooccurrence(h, window_days=4, k=5)
    rows = np.array([1, 4, 4, 9])
    monkeypatch.setattr(complements, "_PAIR_BUDGET", 11)
    some = symmetric_cooccurrence(h, window_days=4, k=5, rows=rows)
    asked = np.isin(np.arange(h.n_items), rows)
    assert np.array_equal(some.items[asked], whole.items[asked])
    assert np.array_equal(some.scores[asked], whole.scores[asked])
    assert np.all(some.items[~asked] == -1)
    assert np.all(whole.items[asked] >= 0)


def test_symmetric_cooccurrence_matches_a_loop_reference() -> None:
    rng = np.random.default_rng(8)
    h = history([(f"u{rng.integers(10)}", f"i{rng.integers(8)}", float(rng.integers(0, 30))) for _ in range(200)])
    window = 3 * DAY
    buyers: dict[tuple[int, int], set[int]] = {}
    lines = list(zip(h.customer.tolist(), h.item.tolist(), h.ordered_at.tolist(), strict=True))
    for c, a, ta in lines:
        for c2, b, tb in lines:
            if c == c2 and a != b and abs(ta - tb) <= window:
                buyers.setdefault((a, b), set()).add(c)
    counts = np.zeros((h.n_items, h.n_items))
    for (a, b), who in buyers.items():
        counts[a, b] = len(who)
    r = symmetric_cooccurrence(h, window_days=3, k=h.n_items)
    got = np.zeros_like(counts)
    rows, cols = np.nonzero(r.items >= 0)
    got[rows, r.items[rows, cols]] = r.scores[rows, cols]
    assert np.array_equal(got, counts)
    assert counts.sum() > 0


def test_item_blocks_cut_between_items_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(complements, "_PAIR_BUDGET", 10)
    items = np.array([0, 0, 2, 3, 3, 3, 7, 9])
    pairs = np.array([4, 4, 1, 20, 0, 0, 3, 3])
    blocks = complements._item_blocks(items, pairs, most_rows=100)
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 6), (6, 8)]  # item 3 (20 pairs) alone
    monkeypatch.setattr(complements, "_PAIR_BUDGET", 100)
    narrow = complements._item_blocks(items, pairs, most_rows=2)  # item indices of a block span < 2
    assert [(b.start, b.stop) for b in narrow] == [(0, 2), (2, 6), (6, 7), (7, 8)]


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_days"):
        complement_events(history(TEST_PERIOD), start=0, window_days=0)
