"""Every model passes the shared contract suite (``tests/recommender/contract.py``).

To add a model: import it and add one ``"name": (ModelClass, ModelConfig(...))`` entry to ``MODELS``
(a small, fast config).
"""

from __future__ import annotations

import pytest

from recommender.base import ModelConfig, Recommender
from recommender.models.blend import BlendConfig, BlendModel
from recommender.models.collaborative import CollaborativeConfig, CollaborativeModel
from recommender.models.complements import ComplementsConfig, ComplementsModel
from recommender.models.ease import EaseConfig, EaseModel
from recommender.models.next_purchase import NextPurchaseConfig, NextPurchaseModel, RankerConfig
from recommender.models.popular import PopularConfig, PopularModel
from recommender.models.similar import SimilarConfig, SimilarItemsModel
from tests.recommender.contract import ModelContract

MODELS: dict[str, tuple[type[Recommender], ModelConfig]] = {
    "popular": (PopularModel, PopularConfig(half_life_days=14)),
    "popular-exclude-bought": (PopularModel, PopularConfig(exclude_bought=True)),
    "collaborative": (CollaborativeModel, CollaborativeConfig(factors=8, iterations=3)),
    "als-alpha-weighting": (CollaborativeModel, CollaborativeConfig(factors=8, iterations=3, weighting="alpha")),
    "similar": (SimilarItemsModel, SimilarConfig(neighbours=12)),
    "similar-same-category": (SimilarItemsModel, SimilarConfig(neighbours=12, same_category_only=True)),
    # the random contract shop is sparse in time: a wider window and support 1
    "complements": (ComplementsModel, ComplementsConfig(window_days=30, min_support=1)),
    "next_purchase": (
        NextPurchaseModel,
        NextPurchaseConfig(collaborative=CollaborativeConfig(factors=8, iterations=3)),
    ),
    # transitions, explore by customer and the learned re-ordering on
    "next_purchase-ranker": (
        NextPurchaseModel,
        NextPurchaseConfig(
            transition_weight=0.1, explore_by_customer=0.5, ranker=RankerConfig(rounds=10, min_leaf=5, candidates=20)
        ),
    ),
    "ease": (EaseModel, EaseConfig(regularization=10.0)),
    "ease_als_blend": (
        BlendModel,
        BlendConfig(ease=EaseConfig(regularization=10.0), collaborative=CollaborativeConfig(factors=8, iterations=3)),
    ),
}


@pytest.fixture(params=list(MODELS.values()), ids=list(MODELS))
def model_case(request: pytest.FixtureRequest) -> tuple[type[Recommender], ModelConfig]:
    return request.param


@pytest.fixture
def model_class(model_case: tuple[type[Recommender], ModelConfig]) -> type[Recommender]:
    return model_case[0]


@pytest.fixture
def config(model_case: tuple[type[Recommender], ModelConfig]) -> ModelConfig:
    return model_case[1]


class TestContract(ModelContract):
    """The contract, once per entry of ``MODELS``."""
