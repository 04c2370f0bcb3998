"""Repeat statistics of next purchase, from the fitted history: per (customer, item) and per item.

Per (customer, item) the customer bought: ``count`` (distinct orders holding the item), ``weight`` (the
TIFU-KNN personal vector entry), ``last`` (time of the last purchase), the customer's own mean repurchase
interval and the interval shrunk towards the item's population interval. Per item: the shrunk repeat
propensity, whether it is a repeat candidate, and the population interval. The package docstring gives
the formulas; ``RepeatStats.scores`` is the repeat factor (propensity times due-ness) at a moment. The
per (customer, item) rows come from ``customer_repeats`` on parts of whole customers, run by the fit's
``HistoryParts`` (``recommender.history_parts``; on Spark's executors with ``recs train --engine spark``), the
per-item ones from all the rows joined.

Also the history helpers these need (distinct purchase events, orders ago, grouped medians, the due-ness
curve) and each customer's new-item odds (``explore_by_customer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.sparse as sp

from recommender.history import DAY, OrderHistory
from recommender.history_parts import concatenated, map_history_parts
from recommender.models.next_purchase.config import NextPurchaseConfig
from recommender.models.next_purchase.tifu import order_positions, order_weights

_MIN_X = 1e-6  # elapsed / interval below this counts as "just bought"


def purchase_events(history: OrderHistory) -> dict[str, np.ndarray]:
    """Distinct (customer, item, order) purchases sorted by customer, item, time: ``customer``, ``item``,
    ``order``, ``at``."""
    perm = np.lexsort((history.order, history.ordered_at, history.item, history.customer))
    c, i, o, t = history.customer[perm], history.item[perm], history.order[perm], history.ordered_at[perm]
    keep = np.ones(len(perm), dtype=bool)
    keep[1:] = (c[1:] != c[:-1]) | (i[1:] != i[:-1]) | (o[1:] != o[:-1])
    return {"customer": c[keep], "item": i[keep], "order": o[keep], "at": t[keep]}


def orders_ago(history: OrderHistory) -> np.ndarray:
    """Per order index: how many of the same customer's orders came after it (0 = their last order)."""
    table = history.orders_table()
    ago = np.zeros(history.n_orders, dtype=np.int64)
    if len(table["order"]) == 0:
        return ago
    perm = np.lexsort((table["ordered_at"], table["order"], table["customer"]))[::-1]  # latest first
    cust = table["customer"][perm]
    first = np.searchsorted(-cust.astype(np.int64), -cust.astype(np.int64), side="left")
    ago[table["order"][perm]] = np.arange(len(perm)) - first
    return ago


def group_starts(*keys: np.ndarray) -> np.ndarray:
    """Boolean: where a run of equal key tuples starts in arrays sorted by those keys."""
    n = len(keys[0])
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
        for key in keys:
            start[1:] |= key[1:] != key[:-1]
    return start


def grouped_median(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of ``values`` per group index (NaN for empty groups), vectorized."""
    out = np.full(n_groups, np.nan, dtype=np.float64)
    if len(values) == 0:
        return out
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    sizes = np.bincount(g, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    has = np.flatnonzero(sizes)
    lo = starts[has] + (sizes[has] - 1) // 2
    hi = starts[has] + sizes[has] // 2
    out[has] = (v[lo] + v[hi]) / 2.0
    return out


def due(x: np.ndarray, early_width: float, late_width: float) -> np.ndarray:
    """Due-ness of a repeat item at ``x = elapsed / interval``: 1 at x = 1, 0 at x = 0, slow fade when overdue."""
    log_x = np.log(np.maximum(x, _MIN_X))
    width = np.where(log_x <= 0, early_width, late_width)
    return np.exp(-(log_x**2) / (2.0 * width**2))


def new_item_odds(history: OrderHistory, prior: float) -> np.ndarray:
    """Per customer: the odds that a purchase after their first order is of an item new to them, shrunk
    towards everyone's share with ``prior`` purchases, relative to everyone's odds (1 = average; float64)."""
    ev = purchase_events(history)
    _, position, _ = order_positions(history)
    later = position[ev["order"]] > 0
    new = later & group_starts(ev["customer"], ev["item"])  # the customer's first purchase of the item
    n_new = np.bincount(ev["customer"][new], minlength=history.n_customers).astype(np.float64)
    n_later = np.bincount(ev["customer"][later], minlength=history.n_customers).astype(np.float64)
    share = n_new.sum() / max(n_later.sum(), 1.0)
    share = min(max(share, 1e-6), 1.0 - 1e-6)
    own = (n_new + prior * share) / np.maximum(n_later + prior, 1e-12)
    own = np.clip(own, 1e-6, 1.0 - 1e-6)
    return (own / (1.0 - own)) / (share / (1.0 - share))


def purchase_ago(history: OrderHistory, ev: dict[str, np.ndarray], recency_unit: str) -> np.ndarray:
    """How long before the customer's last order each purchase event was: in orders, or in days."""
    if recency_unit == "orders":
        return orders_ago(history)[ev["order"]].astype(np.float64)
    last = np.zeros(history.n_customers, dtype=np.int64)
    np.maximum.at(last, ev["customer"], ev["at"])
    return (last[ev["customer"]] - ev["at"]) / DAY


def order_weight(history: OrderHistory, ev: dict[str, np.ndarray], cfg: NextPurchaseConfig) -> np.ndarray:
    """TIFU weight of every purchase event's order: recency decay times the group factor."""
    _, position, count = order_positions(history)
    group_factor = order_weights(position, count, cfg.groups, 1.0, cfg.group_decay)[ev["order"]]
    return cfg.recency_decay ** purchase_ago(history, ev, cfg.recency_unit) * group_factor


@dataclass(frozen=True)
class RepeatStats:
    """Per (customer, item) the customer bought: a CSR pattern (``indptr``, ``items``, items sorted within
    each customer) and statistics aligned with its entries; per item: the repeat propensity, whether it is
    a repeat candidate, the population interval; and the global repeat share."""

    # per (customer, item) entry
    indptr: np.ndarray
    items: np.ndarray
    count: np.ndarray
    last: np.ndarray
    weight: np.ndarray
    own_interval: np.ndarray
    interval: np.ndarray
    # per item
    propensity: np.ndarray
    repeatable: np.ndarray
    global_share: float
    item_interval: np.ndarray

    @classmethod
    def empty(cls) -> RepeatStats:
        """No customers, no items (an unfitted model)."""
        return cls(
            indptr=np.zeros(1, dtype=np.int64),
            items=np.zeros(0, dtype=np.int32),
            count=np.zeros(0, dtype=np.int32),
            last=np.zeros(0, dtype=np.int64),
            weight=np.zeros(0, dtype=np.float32),
            own_interval=np.zeros(0, dtype=np.float32),
            interval=np.zeros(0, dtype=np.float32),
            propensity=np.zeros(0, dtype=np.float32),
            repeatable=np.zeros(0, dtype=bool),
            global_share=1.0,
            item_interval=np.zeros(0, dtype=np.float32),
        )

    @classmethod
    def fit(cls, history: OrderHistory, cfg: NextPurchaseConfig) -> RepeatStats:
        """The statistics of ``history``: the per-(customer, item) ones computed on parts of whole customers
        (``customer_repeats``, run by the fit's ``HistoryParts``) and joined in customer order, the per-item
        ones from all of them here."""
        parts = map_history_parts(partial(customer_repeats, cfg=cfg), history, "customer", "repeat statistics")
        group_c, group_i, count, last_at, weight, own = concatenated(parts, 6)
        repeats = count >= 2
        propensity, global_share, repeatable, item_interval = item_repeats(history.n_items, group_i, repeats, own, cfg)
        population = item_interval[group_i].astype(np.float64)
        w = (count - 1).astype(np.float64)
        blended = (w * own + cfg.interval_shrinkage * population) / np.maximum(w + cfg.interval_shrinkage, 1e-12)
        return cls(
            indptr=np.concatenate([[0], np.cumsum(np.bincount(group_c, minlength=history.n_customers))]),
            items=group_i.astype(np.int32),
            count=count.astype(np.int32),
            last=last_at.astype(np.int64),
            weight=weight.astype(np.float32),
            own_interval=own.astype(np.float32),
            interval=np.maximum(blended, cfg.min_interval_days).astype(np.float32),
            propensity=propensity,
            repeatable=repeatable,
            global_share=global_share,
            item_interval=item_interval,
        )

    def scores(self, entry: np.ndarray, when: np.ndarray, cfg: NextPurchaseConfig) -> np.ndarray:
        """Repeat factor of stored (customer, item) entries at times ``when`` (0 for non-repeat items):
        ``propensity * due``, times the personal weight when there are no neighbours."""
        item = self.items[entry]
        elapsed = np.maximum(when - self.last[entry], 0) / DAY
        x = elapsed / self.interval[entry].astype(np.float64)
        d = cfg.due_floor + (1.0 - cfg.due_floor) * due(x, cfg.early_width, cfg.late_width)
        if cfg.neighbours == 0:
            score = self.weight[entry] * self.propensity[item] * d
        else:  # relative to the average item, so that repeat and explore scores stay comparable
            score = (self.propensity[item] / self.global_share) ** cfg.propensity_power * d
        return np.where(self.repeatable[item], score, 0.0)

    def entries(self, customers: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Index of each (customer, item) pair's stored entry, -1 when the customer never bought it
        (both in range): scipy's C lookup of each pair in its customer's sorted items."""
        if len(customers) == 0:  # scipy answers an empty selection with a sparse array
            return np.zeros(0, dtype=np.int64)
        positions = sp.csr_array(
            (np.arange(1, len(self.items) + 1, dtype=np.int64), self.items, self.indptr), shape=shape
        )
        return np.asarray(positions[customers, items], dtype=np.int64).ravel() - 1

    def state(self) -> dict[str, np.ndarray]:
        """The saved arrays, under the model file's keys."""
        return {
            "indptr": self.indptr.astype(np.int64),
            "items": self.items,
            "count": self.count,
            "last": self.last,
            "weight": self.weight,
            "own_interval": self.own_interval,
            "interval": self.interval,
            "propensity": self.propensity,
            "repeatable": self.repeatable,
            "item_interval": self.item_interval,
            "global_share": np.array([self.global_share], dtype=np.float64),
        }

    @classmethod
    def from_state(cls, own: dict[str, np.ndarray]) -> RepeatStats:
        """Back from ``state``'s arrays (present and checked by the caller), in the dtypes ``fit`` gives."""
        return cls(
            indptr=own["indptr"].astype(np.int64, copy=False),
            items=own["items"].astype(np.int32, copy=False),
            count=own["count"].astype(np.int32, copy=False),
            last=own["last"].astype(np.int64, copy=False),
            weight=own["weight"].astype(np.float32, copy=False),
            own_interval=own["own_interval"].astype(np.float32, copy=False),
            interval=own["interval"].astype(np.float32, copy=False),
            propensity=own["propensity"].astype(np.float32, copy=False),
            repeatable=own["repeatable"].astype(bool, copy=False),
            item_interval=own["item_interval"].astype(np.float32, copy=False),
            global_share=float(own["global_share"][0]),
        )


def customer_repeats(history: OrderHistory, cfg: NextPurchaseConfig) -> tuple[np.ndarray, ...]:
    """Per (customer, item) bought in ``history``, sorted by customer then item: (customer, item, count of
    distinct orders, last purchase time, TIFU weight, own repurchase interval in days). A customer's rows depend
    on its own lines only, so on a part holding whole customers they are that part's rows of the whole history."""
    ev = purchase_events(history)
    start = group_starts(ev["customer"], ev["item"])
    group = np.cumsum(start) - 1
    n_groups = int(start.sum())
    first_pos = np.flatnonzero(start)
    last_pos = np.concatenate([first_pos[1:], [len(start)]]) - 1
    count = np.bincount(group, minlength=n_groups)
    first_at, last_at = ev["at"][first_pos], ev["at"][last_pos]
    weight = np.bincount(group, weights=order_weight(history, ev, cfg), minlength=n_groups)
    repeats = count >= 2
    own = np.where(repeats, (last_at - first_at) / DAY / np.maximum(count - 1, 1), 0.0)
    own = np.where(repeats, np.maximum(own, cfg.min_interval_days), 0.0)
    return ev["customer"][first_pos], ev["item"][first_pos], count, last_at, weight, own


def item_repeats(
    n_items: int, group_i: np.ndarray, repeats: np.ndarray, own: np.ndarray, cfg: NextPurchaseConfig
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Per item, from its (customer, item) groups: (propensity float32, global share, repeatable, population
    interval float32)."""
    buyers = np.bincount(group_i, minlength=n_items).astype(np.float64)
    repeaters = np.bincount(group_i[repeats], minlength=n_items).astype(np.float64)
    global_share = repeaters.sum() / max(buyers.sum(), 1.0)
    shrink = cfg.propensity_shrinkage
    propensity = (repeaters + shrink * global_share) / np.maximum(buyers + shrink, 1e-12)
    median = grouped_median(group_i[repeats], own[repeats], n_items)
    overall = float(np.median(own[repeats])) if repeats.any() else cfg.default_interval_days
    repeatable = (repeaters >= cfg.min_repeaters) & (propensity >= cfg.min_repeat_share)
    item_interval = np.where(np.isnan(median), overall, median).astype(np.float32)
    return propensity.astype(np.float32), max(float(global_share), 1e-6), repeatable, item_interval
