"""The hyperparameters of the next purchase model (the formula they enter is in the package docstring)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recommender.base import ModelConfig
from recommender.models.collaborative import CollaborativeConfig
from recommender.models.next_purchase.ranker import RankerConfig
from recommender.models.next_purchase.tifu import Similarity


class NextPurchaseConfig(ModelConfig):
    """Hyperparameters of the next purchase model (see the package docstring for the formula)."""

    recency_decay: float = Field(default=0.9, gt=0, le=1)
    recency_unit: Literal["orders", "days"] = "orders"
    propensity_shrinkage: float = Field(default=5.0, ge=0)
    min_repeat_share: float = Field(default=0.05, ge=0, le=1)
    min_repeaters: int = Field(default=1, ge=0)  # repeat candidates: items that this many customers rebought
    interval_shrinkage: float = Field(default=1.0, ge=0)
    min_interval_days: float = Field(default=1.0, gt=0)
    default_interval_days: float = Field(default=30.0, gt=0)
    due_floor: float = Field(default=0.8, ge=0, le=1)
    early_width: float = Field(default=0.5, gt=0)
    late_width: float = Field(default=1.0, gt=0)
    groups: int = Field(default=1, ge=1)
    group_decay: float = Field(default=1.0, gt=0, le=1)
    propensity_power: float = Field(default=0.5, ge=0)
    neighbours: int = Field(default=100, ge=0)  # 300 until issue 26: see the package docstring
    own_weight: float = Field(default=0.1, ge=0, le=1)
    similarity: Similarity = "euclidean"
    neighbour_items: int = Field(default=100, ge=1)
    # neighbours are searched among this many most active customers: n x pool work instead of n x n
    neighbour_pool: int = Field(default=20_000, ge=1)
    explore_weight: float = Field(default=0.0, ge=0)
    neighbour_explore_scale: float = Field(default=1.0, ge=0)  # > 1 favours new items from the neighbours
    # what customers bought in the order after one holding the items of this customer's last order (0: off)
    transition_weight: float = Field(default=0.0, ge=0)
    transition_shrinkage: float = Field(default=10.0, ge=0)
    # new items scaled per customer by (their new-item odds / everyone's) ** this (0: off)
    explore_by_customer: float = Field(default=0.0, ge=0)
    explore_by_customer_prior: float = Field(default=20.0, ge=0)  # later purchases of everyone's share added
    damp_owned_categories: bool = True  # explore: a tent buyer gets no second tent (see recommender.substitutes)
    collaborative: CollaborativeConfig = Field(default_factory=CollaborativeConfig)
    # a learned re-ordering of the top candidates, trained on each customer's last order (rounds 0: off)
    ranker: RankerConfig = Field(default_factory=RankerConfig)
