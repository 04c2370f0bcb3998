"""Substitutes: once a customer owns something of a kind that people buy once, do not offer another.

A category's repeat rate is the share of its buyers who bought from it in two or more orders, shrunk
towards the overall rate. Tents have a rate near 0 (one tent is enough); coffee and books near 1. A
candidate from a category the customer already bought from is damped by that category's rate, so a
tent buyer is not offered a second tent while a book buyer still gets books. Without a catalog
(no categories) nothing is damped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.distinct import unique_counts, unique_values
from recommender.history import OrderHistory

# a category whose repeat rate is below this is a one-off kind (tents): a buyer is offered no other item of it
MIN_REPEAT_RATE = 0.05


@dataclass(frozen=True)
class CategoryOwnership:
    """Which categories each customer bought from, and how often each category is bought again."""

    item_category: np.ndarray  # int32 per item, -1 unknown
    repeat_rate: np.ndarray  # float32 per category
    indptr: np.ndarray  # customers x categories pattern (CSR, sorted indices)
    indices: np.ndarray

    @classmethod
    def fit(cls, history: OrderHistory, shrinkage: float = 5.0) -> CategoryOwnership:
        category = history.catalog.category.astype(np.int32)
        n_cat = len(history.catalog.categories)
        line_cat = category[history.item] if history.n_lines else np.zeros(0, dtype=np.int32)
        known = line_cat >= 0
        cust, cat, order = history.customer[known], line_cat[known], history.order[known]
        # distinct (order, category), then orders per (customer, category); every order has one customer,
        # and each pair packs into one int64 key (1-d sorts: unique(axis=1) took 4.1 s at 2M lines, this 0.1 s)
        width = np.int64(max(n_cat, 1))
        order_cat = unique_values(order.astype(np.int64) * width + cat)
        customer_of_order = np.zeros(history.n_orders, dtype=np.int64)
        customer_of_order[order] = cust
        keys, orders_per_pair = unique_counts(customer_of_order[order_cat // width] * width + order_cat % width)
        pair = np.stack([keys // width, keys % width])
        buyers = np.bincount(pair[1], minlength=n_cat).astype(np.float64)
        repeaters = np.bincount(pair[1][orders_per_pair >= 2], minlength=n_cat).astype(np.float64)
        overall = repeaters.sum() / max(buyers.sum(), 1.0)
        rate = (repeaters + shrinkage * overall) / np.maximum(buyers + shrinkage, 1e-12)
        owned = sp.csr_matrix(
            (np.ones(pair.shape[1], dtype=np.int8), (pair[0], pair[1])), shape=(history.n_customers, n_cat)
        )
        owned.sort_indices()
        return cls(category, rate.astype(np.float32), owned.indptr.astype(np.int64), owned.indices.astype(np.int32))

    def damping(self, customers: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Factor per (customer, item) pair: the category's repeat rate if the customer owns that category, else 1."""
        factor = np.ones(len(items), dtype=np.float64)
        if len(self.repeat_rate) == 0 or len(items) == 0:
            return factor
        cat = self.item_category[items]
        known = cat >= 0
        owned = sp.csr_matrix(
            (np.ones(len(self.indices), dtype=np.int8), self.indices, self.indptr),
            shape=(len(self.indptr) - 1, len(self.repeat_rate)),
        )
        has = np.zeros(len(items), dtype=bool)
        has[known] = np.asarray(owned[customers[known], cat[known]]).ravel() > 0
        factor[has] = self.repeat_rate[cat[has]]
        return factor

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}item_category": self.item_category,
            f"{prefix}repeat_rate": self.repeat_rate,
            f"{prefix}indptr": self.indptr,
            f"{prefix}indices": self.indices,
        }

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], prefix: str) -> CategoryOwnership:
        return cls(
            arrays[f"{prefix}item_category"].astype(np.int32),
            arrays[f"{prefix}repeat_rate"].astype(np.float32),
            arrays[f"{prefix}indptr"].astype(np.int64),
            arrays[f"{prefix}indices"].astype(np.int32),
        )
