"""The search space of ``recs tune``: parameters over ``BundleConfig`` fields by dotted path.

A space maps paths such as ``collaborative.factors`` to a ``LogUniform``, ``Uniform`` or ``Choice``
(``DEFAULT_SPACE``). A random trial draws every parameter afresh (``sample_values``); a local trial moves a
few parameters of the best config so far by a small step (``local_values``, ``perturb``). ``apply_values``
puts values into a config, validated as the model validates it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from recommender.bundle import BundleConfig
from recommender.errors import RecommenderError

ROUND_DIGITS = 4  # sampled floats keep 4 significant digits: readable params, nothing lost in practice
LOCAL_PARAM_SHARE = 0.3  # a local trial moves each parameter with this probability (at least one)
LOCAL_LOG_SD = 0.5  # log-scale step of a local move on a LogUniform parameter
LOCAL_SD_SHARE = 0.15  # step of a local move on a Uniform parameter, as a share of its range


class SearchSpaceError(RecommenderError, ValueError):
    """A search-space path names no ``BundleConfig`` field, or its values fail the field's validation."""


def _round(value: float) -> float:
    return float(f"{value:.{ROUND_DIGITS}g}")


def _reflect(x: float, low: float, high: float) -> float:
    """``x`` mirrored at the bounds until it lies in ``[low, high]``."""
    width = high - low
    if width <= 0:
        return low
    t = (x - low) % (2 * width)
    return low + (t if t <= width else 2 * width - t)


@dataclass(frozen=True)
class LogUniform:
    """A float drawn uniformly on a log scale between ``low`` and ``high`` (both > 0)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return _round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def extremes(self) -> tuple[float, ...]:
        return (self.low, self.high)

    def perturb(self, value: float, rng: np.random.Generator) -> float:
        """``value`` times ``exp(N(0, LOCAL_LOG_SD))``, reflected back into range."""
        lo, hi = math.log(self.low), math.log(self.high)
        start = math.log(min(max(float(value), self.low), self.high))
        return _round(math.exp(_reflect(start + rng.normal(0.0, LOCAL_LOG_SD), lo, hi)))


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly between ``low`` and ``high``."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return _round(rng.uniform(self.low, self.high))

    def extremes(self) -> tuple[float, ...]:
        return (self.low, self.high)

    def perturb(self, value: float, rng: np.random.Generator) -> float:
        """``value`` plus ``N(0, LOCAL_SD_SHARE * (high - low))``, reflected back into range."""
        start = min(max(float(value), self.low), self.high)
        return _round(_reflect(start + rng.normal(0.0, LOCAL_SD_SHARE * (self.high - self.low)), self.low, self.high))


@dataclass(frozen=True)
class Choice:
    """One of ``values``, each equally likely."""

    values: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def extremes(self) -> tuple[Any, ...]:
        return self.values

    def perturb(self, value: Any, rng: np.random.Generator) -> Any:
        """A neighbour of ``value`` in ``values`` (ordered where order means something; inward at an end)."""
        if value not in self.values or len(self.values) == 1:
            return self.sample(rng)
        at = self.values.index(value)
        step = 1 if at == 0 else -1 if at == len(self.values) - 1 else (1 if rng.random() < 0.5 else -1)
        return self.values[at + step]


Param = LogUniform | Uniform | Choice
SearchSpace = Mapping[str, Param]

# Ranges around the defaults, wide enough to hold the values reported for Ta-Feng and the generated shop.
DEFAULT_SPACE: dict[str, Param] = {
    # ALS: for you, and the explore part of next purchase
    "collaborative.factors": Choice((16, 32, 64, 128)),
    "collaborative.regularization": LogUniform(0.01, 100.0),
    "collaborative.iterations": Choice((10, 15, 25)),
    "collaborative.alpha": LogUniform(0.1, 10.0),
    "collaborative.weighting": Choice(("bm25", "alpha", "none")),
    "collaborative.bm25_k1": LogUniform(1.0, 200.0),
    "collaborative.bm25_b": Uniform(0.0, 1.0),
    # next purchase: repeat frequency, due-ness, explore share
    "next_purchase.recency_decay": Uniform(0.5, 1.0),
    "next_purchase.propensity_shrinkage": LogUniform(0.5, 50.0),
    "next_purchase.min_repeat_share": Uniform(0.0, 0.2),
    "next_purchase.interval_shrinkage": LogUniform(0.1, 10.0),
    "next_purchase.due_floor": Uniform(0.0, 1.0),
    "next_purchase.early_width": LogUniform(0.2, 2.0),
    "next_purchase.late_width": LogUniform(0.3, 3.0),
    "next_purchase.explore_weight": Choice((0.0, 0.02, 0.05, 0.1, 0.2, 0.5)),
    # next purchase: TIFU-KNN groups and neighbours (tuned TIFU on Ta-Feng: own weight ~.05, 100-300 neighbours)
    "next_purchase.groups": Choice((1, 2, 3, 5, 7)),
    "next_purchase.group_decay": Uniform(0.5, 1.0),
    "next_purchase.neighbours": Choice((0, 50, 100, 300, 600)),
    "next_purchase.own_weight": LogUniform(0.02, 1.0),
    "next_purchase.similarity": Choice(("cosine", "euclidean")),
    "next_purchase.neighbour_items": Choice((50, 100, 200)),
    "next_purchase.neighbour_explore_scale": Choice((0.5, 1.0, 1.5, 2.0)),
    # next purchase: repeat gate, transitions from consecutive orders, new items by customer (Ta-Feng: 0, .1, .5)
    "next_purchase.min_repeaters": Choice((0, 1, 2)),
    "next_purchase.transition_weight": Choice((0.0, 0.05, 0.1, 0.2)),
    "next_purchase.explore_by_customer": Choice((0.0, 0.25, 0.5, 1.0)),
    # next purchase: the learned re-ordering of the top candidates (Ta-Feng: 100 rounds)
    "next_purchase.ranker.rounds": Choice((0, 100)),
    # complements
    "complements.window_days": Choice((7, 14, 21, 30)),
    "complements.half_life_days": LogUniform(14.0, 365.0),
    "complements.shrinkage": LogUniform(5.0, 300.0),
    "complements.category_shrinkage": LogUniform(5.0, 1000.0),
    "complements.popularity_exponent": Uniform(0.0, 1.0),
    "complements.min_direction": Uniform(0.0, 0.4),
}


def apply_values(base: BundleConfig, values: Mapping[str, Any]) -> BundleConfig:
    """``base`` with the dotted-path ``values`` set; ``SearchSpaceError`` for an unknown path or bad value."""
    data = base.model_dump(mode="json")
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise SearchSpaceError(f"search space path {path!r} is not a field of BundleConfig")
        node[leaf] = value
    try:
        return BundleConfig.model_validate(data)
    except ValidationError as exc:
        raise SearchSpaceError(f"search space values {dict(values)} are not a valid BundleConfig: {exc}") from exc


def sample_values(space: SearchSpace, rng: np.random.Generator) -> dict[str, Any]:
    """One draw of every parameter of ``space`` (in the space's order, so a seed gives the same draws)."""
    return {path: param.sample(rng) for path, param in space.items()}


def current_values(space: SearchSpace, config: BundleConfig) -> dict[str, Any]:
    """The value of every path of ``space`` in ``config``."""
    data = config.model_dump(mode="json")
    out: dict[str, Any] = {}
    for path in space:
        node: Any = data
        for key in path.split("."):
            node = node[key]
        out[path] = node
    return out


def local_values(space: SearchSpace, config: BundleConfig, rng: np.random.Generator) -> dict[str, Any]:
    """``config``'s values of ``space`` with a few of them (each with ``LOCAL_PARAM_SHARE``, at least one)
    moved a small step (``perturb``)."""
    values = current_values(space, config)
    paths = list(space)
    moved = rng.random(len(paths)) < LOCAL_PARAM_SHARE
    moved[int(rng.integers(len(paths)))] = True
    for path, move in zip(paths, moved, strict=True):
        if move:
            values[path] = space[path].perturb(values[path], rng)
    return values


def check_space(space: SearchSpace, base: BundleConfig) -> None:
    """Raise ``SearchSpaceError`` unless every path exists and every range end / choice validates."""
    for path, param in space.items():
        for value in param.extremes():
            apply_values(base, {path: value})
