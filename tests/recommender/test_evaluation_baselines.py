"""Baselines on a tiny hand-made history: G-TopFreq, P-TopFreq, GP-TopFreq, MostPop."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.evaluation import baselines, g_topfreq, gp_topfreq, most_pop, p_topfreq
from recommender.history import OrderHistory

# (customer, item, time, order). Orders containing each item: a 4, b 3, c 1, d 1.
# Distinct buyers: b 3 (u1, u2, u4), a 2 (u1, u3), c 1, d 1.
ROWS = [
    ("u1", "a", 1, "o1"),
    ("u1", "b", 1, "o1"),
    ("u1", "a", 2, "o2"),
    ("u1", "a", 2, "o2"),  # the same item twice in one order counts once
    ("u1", "c", 3, "o3"),
    ("u2", "b", 1, "o4"),
    ("u2", "d", 4, "o5"),
    ("u3", "a", 2, "o6"),
    ("u3", "a", 5, "o7"),
    ("u4", "b", 6, "o8"),
]


@pytest.fixture
def shop() -> OrderHistory:
    c, i, t, o = zip(*ROWS, strict=True)
    return OrderHistory.from_arrays(np.array(c), np.array(i), np.array(t), order_ids=np.array(o))


def ids(shop: OrderHistory, items: np.ndarray) -> list[list[str]]:
    return [[str(shop.items.external([x])[0]) for x in row if x >= 0] for row in items]


def cust(shop: OrderHistory, *names: str) -> np.ndarray:
    return shop.customers.index(list(names))


def test_g_topfreq_is_the_same_global_list_for_everyone(shop: OrderHistory) -> None:
    r = g_topfreq(shop, cust(shop, "u1", "u3"), k=3)
    assert ids(shop, r.items) == [["a", "b", "c"], ["a", "b", "c"]]  # c and d tie at 1: lower index first
    assert r.scores[0].tolist() == [4.0, 3.0, 1.0]
    wide = g_topfreq(shop, cust(shop, "u1"), k=6)
    assert ids(shop, wide.items) == [["a", "b", "c", "d"]]  # only items bought in train; padded
    assert wide.items[0, 4:].tolist() == [-1, -1]


def test_p_topfreq_ranks_own_items_by_frequency_then_recency(shop: OrderHistory) -> None:
    r = p_topfreq(shop, cust(shop, "u1", "u2", "u3"), k=3)
    # u1: a twice; b (t=1) and c (t=3) once each: the more recent c first
    # u2: b (t=1) and d (t=4) once each: d first
    assert ids(shop, r.items) == [["a", "c", "b"], ["d", "b"], ["a"]]
    assert r.scores[0].tolist() == [2.0, 1.0, 1.0]
    assert r.items[2, 1:].tolist() == [-1, -1]
    assert ids(shop, p_topfreq(shop, cust(shop, "u1"), k=1).items) == [["a"]]


def test_gp_topfreq_fills_own_items_with_global_ones_not_listed(shop: OrderHistory) -> None:
    r = gp_topfreq(shop, cust(shop, "u2", "u3", "u1"), k=4)
    assert ids(shop, r.items) == [["d", "b", "a", "c"], ["a", "b", "c", "d"], ["a", "c", "b", "d"]]
    assert np.all(np.diff(r.scores, axis=1) <= 0)  # scores stay in rank order


def test_most_pop_excludes_what_the_customer_bought(shop: OrderHistory) -> None:
    r = most_pop(shop, cust(shop, "u3", "u1", "u4"), k=2)
    assert ids(shop, r.items) == [["b", "c"], ["d"], ["a", "c"]]
    assert r.scores[0].tolist() == [3.0, 1.0]  # distinct buyers
    everyone = most_pop(shop, cust(shop, "u3"), k=2, exclude_bought=False)
    assert ids(shop, everyone.items) == [["b", "a"]]


def test_unknown_customers_get_no_personal_part(shop: OrderHistory) -> None:
    unknown = np.array([-1, shop.n_customers])
    assert np.all(p_topfreq(shop, unknown, k=3).items == -1)
    assert ids(shop, gp_topfreq(shop, unknown, k=2).items) == [["a", "b"], ["a", "b"]]
    assert ids(shop, most_pop(shop, unknown, k=2).items) == [["b", "a"], ["b", "a"]]


def test_most_pop_in_small_batches_gives_the_same_lists(shop: OrderHistory, monkeypatch: pytest.MonkeyPatch) -> None:
    everyone = np.arange(shop.n_customers)
    whole = most_pop(shop, everyone, k=3)
    monkeypatch.setattr(baselines, "_MEMBERSHIP_BUDGET", 1)
    batched = most_pop(shop, everyone, k=3)
    assert np.array_equal(whole.items, batched.items)
    assert np.array_equal(whole.scores, batched.scores)


def test_k_must_be_positive(shop: OrderHistory) -> None:
    for baseline in (g_topfreq, p_topfreq, gp_topfreq, most_pop):
        with pytest.raises(ValueError, match="k must be"):
            baseline(shop, cust(shop, "u1"), k=0)
