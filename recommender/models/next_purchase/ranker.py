"""Learned second stage of next purchase: gradient-boosted trees that re-order each customer's candidates.

The next-purchase model's own scores come from a hand-set formula (the docstring of the package
``recommender.models.next_purchase``). With ``RankerConfig.rounds > 0`` the model also learns, from the
shop's own history, how to weigh the signals behind that formula: each customer's last order in the fitted
history is held out, a copy of the model without the ranker is fitted on the rest, its top ``candidates``
items per customer are described by the features in ``FEATURES``, labelled by whether the held-out order
holds them, and LightGBM (binary log-loss) learns their odds. Recommending then re-orders the model's top
``candidates`` by those odds.

On Ta-Feng (ranker trained on each customer's third-to-last basket, scored on the second-to-last, never
the test baskets) it lifted R@10 / NDCG@10 / R@20 from .1311 / .1113 / .1708 to .1322 / .1129 / .1722.

This module holds the config, the feature names, the per-item and per-customer history statistics the
features need, and the LightGBM training and prediction. The booster is saved as LightGBM's own text
format in a ``uint8`` array (no pickle). lightgbm is imported on first use only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from recommender.base import ModelConfig, Ranked
from recommender.distinct import unique_values
from recommender.errors import ModelFileError
from recommender.history import DAY, OrderHistory

if TYPE_CHECKING:
    import lightgbm

FEATURES: tuple[str, ...] = (
    "score",  # the formula's score
    "rank",  # its position in the customer's candidates (0 = first)
    "score_share",  # score / the customer's best score
    "orders_with_item",  # distinct orders of the customer holding the item (0: never bought)
    "personal_weight",  # the TIFU personal vector's entry
    "days_since_item",  # days since the customer last bought it (-1: never)
    "interval_days",  # the customer's shrunk repurchase interval for it
    "due_ratio",  # days since / interval (-1: never bought)
    "propensity",  # the item's shrunk repurchase share
    "neighbour_score",  # the neighbours' mean vector entry
    "transition_score",  # the transition list entry (0 when transitions are off)
    "item_buyers",  # distinct customers who bought the item
    "item_lines_14_days",  # its order lines in the history's last 14 days
    "item_lines_30_days",  # ... last 30 days
    "item_lines",  # ... all
    "customer_orders",  # the customer's orders
    "days_since_order",  # days from the customer's last order to the moment asked for
    "customer_items",  # distinct items the customer bought
    "explore_factor",  # the customer's new-item odds factor (1 when off)
)


class RankerConfig(ModelConfig):
    """The learned re-ordering of next-purchase candidates (``rounds`` 0: off, the formula's order)."""

    rounds: int = Field(default=0, ge=0)  # boosting rounds; 0 turns the ranker off
    candidates: int = Field(default=50, ge=1)  # the formula's top items re-ordered per customer
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    leaves: int = Field(default=31, ge=2)
    min_leaf: int = Field(default=100, ge=1)  # fewest training pairs in a leaf
    # customers whose held-out order it learns from, a seeded sample (0: all): bounds the cost on large shops
    max_customers: int = Field(default=20_000, ge=0)
    seed: int = 0


@dataclass(frozen=True)
class HistoryStats:
    """What the features need from the fitted history besides the model's own arrays.

    ``items`` (n_items x 4, float32): buyers, lines in the last 14 days, last 30 days, all lines;
    ``customers`` (n_customers x 2, float64): orders, time of the last order in days.
    """

    items: np.ndarray
    customers: np.ndarray

    @classmethod
    def of(cls, history: OrderHistory) -> HistoryStats:
        n_items, n_customers = history.n_items, history.n_customers
        end = history.end_time
        pairs = unique_values(history.customer.astype(np.int64) * max(n_items, 1) + history.item)
        buyers = np.bincount(pairs % max(n_items, 1), minlength=n_items)
        recent14 = np.bincount(history.item[history.ordered_at >= end - 14 * DAY], minlength=n_items)
        recent30 = np.bincount(history.item[history.ordered_at >= end - 30 * DAY], minlength=n_items)
        lines = np.bincount(history.item, minlength=n_items)
        table = history.orders_table()
        orders = np.bincount(table["customer"], minlength=n_customers).astype(np.float64)
        last = np.full(n_customers, -np.inf)
        np.maximum.at(last, table["customer"], table["ordered_at"].astype(np.float64))
        last_days = np.where(np.isfinite(last), last / DAY, 0.0)
        items = np.column_stack([buyers, recent14, recent30, lines]).astype(np.float32)
        return cls(items=items.reshape(n_items, 4), customers=np.column_stack([orders, last_days]).reshape(-1, 2))

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {prefix + "item_stats": self.items, prefix + "customer_stats": self.customers}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], prefix: str, n_customers: int, n_items: int) -> HistoryStats:
        items, customers = arrays.get(prefix + "item_stats"), arrays.get(prefix + "customer_stats")
        if items is None or customers is None:
            raise ModelFileError(f"next_purchase model file lacks the ranker's arrays ({prefix}item_stats, ...)")
        if items.shape != (n_items, 4) or customers.shape != (n_customers, 2):
            raise ModelFileError("next_purchase model file: the ranker's statistics do not match the model's shape")
        return cls(items=items.astype(np.float32), customers=customers.astype(np.float64))


def train_booster(features: np.ndarray, labels: np.ndarray, config: RankerConfig) -> lightgbm.Booster:
    """LightGBM binary classifier of (candidate features -> bought in the held-out order), deterministic."""
    import lightgbm

    params: dict[str, Any] = {
        "objective": "binary",
        "learning_rate": config.learning_rate,
        "num_leaves": config.leaves,
        "min_data_in_leaf": config.min_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    data = lightgbm.Dataset(features, labels.astype(np.float32), feature_name=list(FEATURES), free_raw_data=True)
    return lightgbm.train(params, data, num_boost_round=config.rounds)


def below_reordered(
    head_items: np.ndarray, head_scores: np.ndarray, formula: Ranked, n: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The re-ordered first ``n`` of each row, then the formula's items ``n .. k - 1`` in the formula's order,
    scored below the row's last re-ordered score (in proportion to their formula scores)."""
    tail_items = formula.items[:, n:k]
    last = np.where(np.isfinite(head_scores), head_scores, np.inf).min(axis=1, initial=np.inf)
    anchor = formula.scores[:, n - 1 : n].astype(np.float64)
    ratio = np.where(anchor > 0, formula.scores[:, n:k] / np.where(anchor > 0, anchor, 1.0), 0.0)
    below = np.where(np.isfinite(last), last, 0.0)[:, None] * np.clip(ratio, 0, 1)
    tail_scores = np.where(tail_items >= 0, below, -np.inf)
    items = np.hstack([head_items, tail_items]).astype(np.int32)
    return items, np.hstack([head_scores, tail_scores]).astype(np.float32)


def booster_to_array(booster: lightgbm.Booster) -> np.ndarray:
    """LightGBM's text model as bytes in a ``uint8`` array (what ``np.savez`` stores without pickle)."""
    return np.frombuffer(booster.model_to_string().encode("utf-8"), dtype=np.uint8).copy()


def booster_from_array(array: np.ndarray) -> lightgbm.Booster:
    """The booster back from ``booster_to_array``; a ``ModelFileError`` when it is not one of ours."""
    import lightgbm

    try:
        booster = lightgbm.Booster(model_str=np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, lightgbm.basic.LightGBMError) as exc:
        raise ModelFileError(f"next_purchase model file: the ranker's model cannot be read ({exc})") from exc
    if booster.num_feature() != len(FEATURES):
        raise ModelFileError(
            f"next_purchase model file: the ranker expects {booster.num_feature()} features, this code has "
            f"{len(FEATURES)}"
        )
    return booster


def reorder(
    rows: np.ndarray, items: np.ndarray, odds: np.ndarray, n_rows: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` candidates per row by learned odds (ties: lower item first); -1 / -inf padding.

    ``rows`` ascend; returns (items int32 (n_rows, k), odds float32 (n_rows, k)).
    """
    out_items = np.full((n_rows, k), -1, dtype=np.int32)
    out_scores = np.full((n_rows, k), -np.inf, dtype=np.float32)
    if len(rows) == 0 or k == 0:
        return out_items, out_scores
    order = np.lexsort((items, -odds, rows))
    rows, items, odds = rows[order], items[order], odds[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    position = np.arange(len(rows)) - starts[rows]
    keep = position < k
    out_items[rows[keep], position[keep]] = items[keep]
    out_scores[rows[keep], position[keep]] = odds[keep]
    return out_items, out_scores
