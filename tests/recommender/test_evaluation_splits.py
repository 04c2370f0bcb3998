"""Splits: next-basket (last order held out), by time, random customer-item hold-out."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.evaluation import (
    NothingToEvaluateError,
    split_by_time,
    split_customers_last_order,
    split_last_order,
    split_random_interactions,
    split_stratified,
)
from recommender.history import OrderHistory


def history(rows: list[tuple[str, str, int, str]]) -> OrderHistory:
    """(customer, item, time, order id) lines."""
    c, i, t, o = zip(*rows, strict=True)
    return OrderHistory.from_arrays(np.array(c), np.array(i), np.array(t), order_ids=np.array(o))


def random_history(seed: int, n_customers: int = 40, n_orders: int = 150, n_items: int = 25) -> OrderHistory:
    rng = np.random.default_rng(seed)
    rows = []
    for o in range(n_orders):
        cust = f"c{rng.integers(n_customers)}"
        when = int(rng.integers(0, 1000))
        for item in rng.choice(n_items, size=int(rng.integers(1, 5)), replace=False):
            rows.append((cust, f"i{item:02d}", when, f"o{o}"))
    return history(rows)


def lines(h: OrderHistory) -> list[tuple[int, int, int]]:
    return sorted(zip(h.customer.tolist(), h.item.tolist(), h.ordered_at.tolist(), strict=True))


SHOP = [
    # c1: three orders given out of time order; the last one (t=5) is {b, c}
    ("c1", "a", 1, "o1"),
    ("c1", "b", 1, "o1"),
    ("c1", "c", 5, "o3"),
    ("c1", "b", 5, "o3"),
    ("c1", "a", 3, "o2"),
    # c2: a single order, never evaluated
    ("c2", "a", 2, "o4"),
    # c3: last order at t=9 is {a, d}
    ("c3", "c", 4, "o5"),
    ("c3", "a", 9, "o6"),
    ("c3", "d", 9, "o6"),
]


def test_last_order_is_held_out_for_customers_with_two_orders() -> None:
    h = history(SHOP)
    split = split_last_order(h)
    c = h.customers.index(["c1", "c3"])
    a, b, cc, d = h.items.index(["a", "b", "c", "d"])
    assert split.customers.tolist() == c.tolist()
    assert split.customers.dtype == np.int32
    assert split.at.tolist() == [5, 9]
    assert split.targets.shape == (2, h.n_items)
    assert sorted(split.targets[0].indices.tolist()) == sorted([b, cc])
    assert sorted(split.targets[1].indices.tolist()) == sorted([a, d])
    # train keeps c2 whole and everything of c1/c3 before their last order
    assert split.train.n_lines == h.n_lines - 4
    assert h.customers.index_one("c2") in split.train.customer.tolist()
    assert split.train.customers == h.customers and split.train.items == h.items


def test_history_items_are_training_purchases_of_evaluated_customers() -> None:
    h = history(SHOP)
    split = split_last_order(h)
    a, b, cc = h.items.index(["a", "b", "c"])
    hist = split.history_items()
    assert hist.shape == split.targets.shape
    assert sorted(hist[0].indices.tolist()) == sorted([a, b])  # c1 bought a, b before t=5
    assert hist[1].indices.tolist() == [cc]  # c3 bought c before t=9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_line_lands_exactly_once_and_the_target_is_the_latest_order(seed: int) -> None:
    h = random_history(seed)
    split = split_last_order(h)
    rows, cols = split.targets.nonzero()
    target_lines = sorted(zip(split.customers[rows].tolist(), cols.tolist(), split.at[rows].tolist(), strict=True))
    assert sorted(lines(split.train) + target_lines) == lines(h)
    orders_per_customer = np.bincount(h.orders_table()["customer"], minlength=h.n_customers)
    assert set(split.customers.tolist()) == set(np.flatnonzero(orders_per_customer >= 2).tolist())
    # no training line of an evaluated customer is later than the held-out order
    last_train = np.full(h.n_customers, -1)
    np.maximum.at(last_train, split.train.customer, split.train.ordered_at)
    assert np.all(last_train[split.customers] <= split.at)
    assert np.all(last_train[split.customers] >= 0)  # they keep at least one order to learn from


def test_orders_at_the_same_time_hold_out_exactly_one() -> None:
    h = history([("c1", "a", 1, "o1"), ("c1", "b", 7, "o2"), ("c1", "c", 7, "o3")])
    split = split_last_order(h)
    assert split.targets.nnz == 1
    assert split.train.n_lines == 2


def test_nothing_to_evaluate_when_every_customer_has_one_order() -> None:
    with pytest.raises(NothingToEvaluateError):
        split_last_order(history([("c1", "a", 1, "o1"), ("c2", "a", 2, "o2"), ("c2", "b", 2, "o2")]))


def test_split_by_time_partitions_at_the_cutoff() -> None:
    h = random_history(3)
    before, after = split_by_time(h, 500)
    assert np.all(before.ordered_at < 500) and np.all(after.ordered_at >= 500)
    assert sorted(lines(before) + lines(after)) == lines(h)
    assert not set(before.order.tolist()) & set(after.order.tolist())
    assert before.items == h.items and after.customers == h.customers


def test_random_interactions_hold_out_a_fraction_of_distinct_pairs() -> None:
    h = random_history(4)
    train, test = split_random_interactions(h, 0.25, seed=7)
    all_pairs = set(zip(h.customer.tolist(), h.item.tolist(), strict=True))
    train_pairs = set(zip(train.customer.tolist(), train.item.tolist(), strict=True))
    test_pairs = set(zip(*(x.tolist() for x in test.nonzero()), strict=True))
    assert test.shape == (h.n_customers, h.n_items)
    assert len(test_pairs) == round(0.25 * len(all_pairs))
    assert not train_pairs & test_pairs
    assert train_pairs | test_pairs == all_pairs
    # every line of a kept pair stays (repeat purchases included)
    kept = [line for line in lines(h) if (line[0], line[1]) in train_pairs]
    assert lines(train) == kept


def test_random_interactions_are_reproducible_by_seed() -> None:
    h = random_history(5)
    _, a = split_random_interactions(h, 0.2, seed=1)
    _, b = split_random_interactions(h, 0.2, seed=1)
    _, c = split_random_interactions(h, 0.2, seed=2)
    assert (a != b).nnz == 0
    assert (a != c).nnz > 0


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_random_interactions_reject_bad_fractions(fraction: float) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        split_random_interactions(random_history(6), fraction, seed=0)


def pairs_of(h: OrderHistory) -> set[tuple[int, int]]:
    return set(zip(h.customer.tolist(), h.item.tolist(), strict=True))


@pytest.mark.parametrize("seed", [0, 1])
def test_stratified_holds_out_the_same_share_of_every_customers_items(seed: int) -> None:
    h = random_history(seed, n_customers=15, n_orders=200)
    train, test = split_stratified(h, 0.75, seed=seed)
    all_pairs, train_pairs = pairs_of(h), pairs_of(train)
    test_pairs = set(zip(*(x.tolist() for x in test.nonzero()), strict=True))
    assert test.shape == (h.n_customers, h.n_items)
    assert not train_pairs & test_pairs and train_pairs | test_pairs == all_pairs
    for c in range(h.n_customers):
        n = sum(1 for pair in all_pairs if pair[0] == c)
        n_train = sum(1 for pair in train_pairs if pair[0] == c)
        assert n_train == round(0.75 * n)
    kept = [line for line in lines(h) if (line[0], line[1]) in train_pairs]
    assert lines(train) == kept  # every line of a kept pair stays, repeat purchases included


def test_stratified_is_reproducible_by_seed_and_rejects_bad_fractions() -> None:
    h = random_history(8)
    assert (split_stratified(h, 0.5, seed=3)[1] != split_stratified(h, 0.5, seed=3)[1]).nnz == 0
    assert (split_stratified(h, 0.5, seed=3)[1] != split_stratified(h, 0.5, seed=4)[1]).nnz > 0
    for fraction in (0.0, 1.0):
        with pytest.raises(ValueError, match="train_fraction"):
            split_stratified(h, fraction, seed=0)


def test_customer_split_holds_out_last_orders_of_validation_and_test_customers_only() -> None:
    h = random_history(9, n_customers=50, n_orders=400)
    split = split_customers_last_order(h, 0.1, 0.2, seed=1)
    full = split_last_order(h)
    val, test = split.validation, split.test
    assert val.train is split.train and test.train is split.train
    assert not set(val.customers.tolist()) & set(test.customers.tolist())
    assert set(val.customers.tolist()) | set(test.customers.tolist()) < set(full.customers.tolist())
    assert len(val.customers) == round(0.1 * len(full.customers))
    assert len(test.customers) == round(0.2 * len(full.customers))
    # each held-out customer's target is their last order, as in split_last_order
    for part in (val, test):
        rows = np.searchsorted(full.customers, part.customers)
        assert (part.targets != full.targets[rows]).nnz == 0
        assert part.at.tolist() == full.at[rows].tolist()
    # training customers keep every line; held-out targets are the only lines missing
    rows, cols = np.nonzero(np.vstack([val.targets.toarray(), test.targets.toarray()]))
    held_customers = np.concatenate([val.customers, test.customers])
    held_at = np.concatenate([val.at, test.at])
    held = list(zip(held_customers[rows].tolist(), cols.tolist(), held_at[rows].tolist(), strict=True))
    assert sorted(lines(split.train) + held) == lines(h)


def test_customer_split_depends_on_the_seed_and_checks_fractions() -> None:
    h = random_history(10, n_customers=50, n_orders=400)
    a = split_customers_last_order(h, 0.1, 0.2, seed=1).test.customers
    assert a.tolist() == split_customers_last_order(h, 0.1, 0.2, seed=1).test.customers.tolist()
    assert a.tolist() != split_customers_last_order(h, 0.1, 0.2, seed=2).test.customers.tolist()
    with pytest.raises(ValueError, match="fraction"):
        split_customers_last_order(h, 0.5, 0.5, seed=0)
