"""Train/test splits of an order history, so that evaluation numbers compare with published ones.

- ``split_last_order``: next-basket protocol: each customer's last order is the target (TIFU-KNN,
  "Next Basket Recommendation Reality Check").
- ``split_by_time``: everything before a cutoff vs everything at or after it.
- ``split_random_interactions``: a random hold-out of distinct customer-item pairs (MovieLens style).
- ``split_stratified``: a random hold-out of each customer's own distinct items, the same share for every
  customer (Microsoft Recommenders' ``python_stratified_split``).
- ``split_customers_last_order``: the "Next Basket Recommendation Reality Check" protocol: customers
  split into train / validation / test; validation and test customers' last orders are the targets.

Every split keeps the input's id maps, so indices stay valid on both sides, and never splits an order. The
last orders of the two last-order splits are found per customer on parts of whole customers
(``customer_last_orders``, run by the fit's ``HistoryParts``: ``recommender.history_parts``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.distinct import unique_inverse
from recommender.errors import DataError
from recommender.history import OrderHistory
from recommender.history_parts import concatenated, map_history_parts


class NothingToEvaluateError(DataError):
    """The history has no customer (or no interaction) that a split could hold out."""


@dataclass(frozen=True)
class NextBasketSplit:
    """Next-basket split: ``train`` holds every line except each evaluated customer's last order.

    ``customers`` (int32, ascending) are the evaluated customers (those with two or more orders);
    ``targets`` is a binary CSR (len(customers) x n_items): the items of each one's last order;
    ``at`` (int64) is the time of that order, the moment a model should recommend for.
    """

    train: OrderHistory
    customers: np.ndarray
    targets: sp.csr_matrix
    at: np.ndarray

    def history_items(self) -> sp.csr_matrix:
        """The evaluated customers' training purchases (binary CSR, rows aligned with ``targets``)."""
        return self.train.customer_items("binary")[self.customers]


def _last_orders(history: OrderHistory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every customer with two or more orders: (customer ascending, last order index, that order's time),
    computed on parts of whole customers (``customer_last_orders``, run by the fit's ``HistoryParts``) and
    joined in customer order."""
    parts = map_history_parts(customer_last_orders, history, "customer", "time split")
    customers, last_order, at = concatenated(parts, 3)
    return customers, last_order, at


def customer_last_orders(history: OrderHistory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every customer of ``history`` with two or more orders: (customer ascending, last order index, that
    order's time). A customer's row depends on its own lines only."""
    table = history.orders_table()
    order, customer, at = table["order"], table["customer"], table["ordered_at"]
    by_customer = np.lexsort((order, at, customer))
    c_sorted = customer[by_customer]
    is_last = np.ones(len(by_customer), dtype=bool)
    is_last[:-1] = c_sorted[1:] != c_sorted[:-1]
    n_orders = np.bincount(customer, minlength=history.n_customers)
    last = by_customer[is_last]
    eligible = n_orders[customer[last]] >= 2
    last = last[eligible]
    return customer[last].astype(np.int32), order[last], at[last].astype(np.int64)


def split_last_order(history: OrderHistory) -> NextBasketSplit:
    """Hold out each customer's last order (latest time; among equal times, the highest order index).

    Customers with a single order stay entirely in ``train`` and are not evaluated. Raises
    ``NothingToEvaluateError`` when no customer has two orders.
    """
    customers, last_order, at = _last_orders(history)
    if len(customers) == 0:
        raise NothingToEvaluateError(
            "no customer has two or more orders: nothing to hold out for next-basket evaluation"
        )
    is_target_order = np.zeros(max(history.n_orders, 1), dtype=bool)
    is_target_order[last_order] = True
    target_line = is_target_order[history.order]
    row_of_customer = np.full(history.n_customers, -1, dtype=np.int64)
    row_of_customer[customers] = np.arange(len(customers))
    targets = sp.csr_matrix(
        (
            np.ones(int(target_line.sum()), dtype=np.float32),
            (row_of_customer[history.customer[target_line]], history.item[target_line]),
        ),
        shape=(len(customers), history.n_items),
    )
    targets.sum_duplicates()
    targets.data[:] = 1.0
    # browsing signals of an evaluated customer from the time of the held-out order on are dropped too
    train = history.select(~target_line).signals_before(at, customers)
    return NextBasketSplit(train=train, customers=customers, targets=targets, at=at)


def sample_customers(split: NextBasketSplit, max_customers: int, seed: int = 0) -> NextBasketSplit:
    """At most ``max_customers`` of the split's evaluated customers (a seeded sample, ascending; 0: all).
    The training side is unchanged: the others' last orders stay held out, they are just not scored."""
    n = len(split.customers)
    if max_customers <= 0 or n <= max_customers:
        return split
    rows = np.sort(np.random.default_rng(seed).choice(n, size=max_customers, replace=False))
    return NextBasketSplit(split.train, split.customers[rows], split.targets[rows], split.at[rows])


def split_by_time(history: OrderHistory, cutoff: int) -> tuple[OrderHistory, OrderHistory]:
    """Lines ordered strictly before ``cutoff`` (Unix seconds), and lines at or after it (browsing signals:
    those before the cutoff go with the first part, the others are dropped).

    All lines of an order share the order's time, so an order is never split.
    """
    before = history.ordered_at < np.int64(cutoff)
    return history.select(before).signals_before(cutoff), history.select(~before)


def split_random_interactions(
    history: OrderHistory, test_fraction: float, seed: int
) -> tuple[OrderHistory, sp.csr_matrix]:
    """Hold out a random ``test_fraction`` of the distinct customer-item pairs.

    Returns ``train`` (every line of the pairs kept) and ``test_targets``, a binary CSR over all
    customers (n_customers x n_items) of the held-out pairs; a held-out pair never appears in train.
    The number held out is ``round(test_fraction * n_pairs)``; the same seed gives the same split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    key = history.customer.astype(np.int64) * np.int64(history.n_items) + history.item
    pairs, line_pair = unique_inverse(key)
    n_test = round(test_fraction * len(pairs))
    if n_test == 0:
        raise NothingToEvaluateError(f"{len(pairs)} customer-item pairs: a {test_fraction:.0%} hold-out is empty")
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(pairs), dtype=bool)
    is_test[rng.choice(len(pairs), size=n_test, replace=False)] = True
    test_pairs = pairs[is_test]
    test_targets = sp.csr_matrix(
        (
            np.ones(n_test, dtype=np.float32),
            (test_pairs // history.n_items, test_pairs % history.n_items),
        ),
        shape=(history.n_customers, history.n_items),
    )
    return history.select(~is_test[line_pair]), test_targets


def split_stratified(history: OrderHistory, train_fraction: float, seed: int) -> tuple[OrderHistory, sp.csr_matrix]:
    """Per customer, keep ``round(train_fraction * n)`` of their ``n`` distinct items at random; hold out the rest.

    Returns ``train`` (every line of the kept pairs) and ``test_targets``, a binary CSR over all customers
    (n_customers x n_items) of the held-out pairs. Every customer keeps the same share of their items, so
    light customers are evaluated too (a customer with one item keeps it when ``train_fraction >= 0.5``).
    The same seed gives the same split.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be strictly between 0 and 1, got {train_fraction}")
    n_items = np.int64(history.n_items)
    pairs, line_pair = unique_inverse(history.customer.astype(np.int64) * n_items + history.item)
    customer = pairs // n_items
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(pairs)), customer))  # each customer's pairs, shuffled
    n_per = np.bincount(customer, minlength=history.n_customers)
    first = np.cumsum(n_per) - n_per
    rank = np.empty(len(pairs), dtype=np.int64)
    rank[order] = np.arange(len(pairs)) - first[customer[order]]
    is_test = rank >= np.round(train_fraction * n_per)[customer]
    if not is_test.any():
        raise NothingToEvaluateError(f"a {1 - train_fraction:.0%} per-customer hold-out of this history is empty")
    test_pairs = pairs[is_test]
    test_targets = sp.csr_matrix(
        (np.ones(len(test_pairs), dtype=np.float32), (test_pairs // n_items, test_pairs % n_items)),
        shape=(history.n_customers, history.n_items),
    )
    return history.select(~is_test[line_pair]), test_targets


@dataclass(frozen=True)
class CustomerSplit:
    """Reality Check split: one ``train`` history shared by ``validation`` and ``test`` (their ``train`` is it).

    ``train`` holds the training customers' whole histories and the validation and test customers' histories
    without their last order; ``validation.targets`` / ``test.targets`` are those last orders.
    """

    train: OrderHistory
    validation: NextBasketSplit
    test: NextBasketSplit


def _subsplit(
    history: OrderHistory, train: OrderHistory, customers: np.ndarray, last_order: np.ndarray, at: np.ndarray
) -> NextBasketSplit:
    """The ``NextBasketSplit`` of these customers' last orders, over the shared ``train`` history."""
    is_target_order = np.zeros(max(history.n_orders, 1), dtype=bool)
    is_target_order[last_order] = True
    line = is_target_order[history.order]
    row_of_customer = np.full(history.n_customers, -1, dtype=np.int64)
    row_of_customer[customers] = np.arange(len(customers))
    targets = sp.csr_matrix(
        (np.ones(int(line.sum()), dtype=np.float32), (row_of_customer[history.customer[line]], history.item[line])),
        shape=(len(customers), history.n_items),
    )
    targets.sum_duplicates()
    targets.data[:] = 1.0
    return NextBasketSplit(train=train, customers=customers, targets=targets, at=at)


def split_customers_last_order(
    history: OrderHistory, validation_fraction: float, test_fraction: float, seed: int
) -> CustomerSplit:
    """Customers with two or more orders split at random into train / validation / test (the Reality Check
    uses 0.72 / 0.08 / 0.2); validation and test customers' last orders are held out, all else is training.

    ``round(fraction * n)`` customers go to each held-out group (at least one each); customers with a single
    order always train. Raises ``NothingToEvaluateError`` when fewer than two customers have two orders.
    """
    if not (validation_fraction > 0 and test_fraction > 0 and validation_fraction + test_fraction < 1):
        raise ValueError(
            f"validation_fraction and test_fraction must be positive with a sum below 1, got "
            f"{validation_fraction} and {test_fraction}"
        )
    customers, last_order, at = _last_orders(history)
    if len(customers) < 2:
        raise NothingToEvaluateError(f"{len(customers)} customers with two or more orders: cannot split them")
    n_val = max(1, round(validation_fraction * len(customers)))
    n_test = max(1, min(round(test_fraction * len(customers)), len(customers) - n_val))
    perm = np.random.default_rng(seed).permutation(len(customers))
    val_rows, test_rows = np.sort(perm[:n_val]), np.sort(perm[n_val : n_val + n_test])
    held = np.zeros(max(history.n_orders, 1), dtype=bool)
    held[last_order[val_rows]] = True
    held[last_order[test_rows]] = True
    train = history.select(~held[history.order])
    return CustomerSplit(
        train=train,
        validation=_subsplit(history, train, customers[val_rows], last_order[val_rows], at[val_rows]),
        test=_subsplit(history, train, customers[test_rows], last_order[test_rows], at[test_rows]),
    )
