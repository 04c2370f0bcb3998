"""``recs train`` tunes itself: each tuned surface's config is picked on validation data carved from the
training data, within a time budget, before the evaluation and the final fit use it.

What is tuned, and on what (never on what ``recs train`` then reports):

- next purchase: the candidates of ``NEXT_PURCHASE_CANDIDATES`` (and the learned ranker on top of the best
  of them, ``RANKER``) are fitted on the history without each customer's last two orders and scored, by
  NDCG@10, on each customer's second-to-last order (at most ``EVALUATION_CUSTOMERS`` of them, a seeded
  sample). The evaluation then scores the last orders;
- complements: the candidates of ``COMPLEMENTS_CANDIDATES`` are fitted on the history before a validation
  window that ends at the evaluation's cutoff (``training.pipeline.complements_cutoff`` applied to the
  history before that cutoff) and scored by HitRate@5 on the purchases in the window. The evaluation's
  anchors all come after the cutoff.

For you, popular and similar items are not tuned. Candidates are overrides of the starting config's section
(the defaults, or ``--config`` / ``best_config.json``); the starting config is always trial 0 of each
surface, and the defaults' section the next trial when the start is not the defaults, so the pick never
scores below the start nor below the defaults on validation. Candidates fitted on the same history that differ
only in how the signals are weighed share the next-purchase neighbour lists
(``NextPurchaseModel.reuse_neighbours``).

The budget: trials run in ``_order`` (next purchase's start, complements' start, then the most promising
first) while the next one's estimated time fits what is left. ``auto`` gives ``AUTO_BUDGET_TRIALS`` times
the first trial's time (at least ``MIN_AUTO_BUDGET_SECONDS``): the first trial fits next purchase on almost
all the data, so the budget grows with the data and with the machine's speed. With it, ``recs train`` took
1.7-2.3x its untuned time on the measured shops (docs/benchmarks.md). ``recs tune`` searches wider.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from recommender.bundle import BundleConfig
from recommender.errors import RecommenderError
from recommender.evaluation import (
    ComplementEvents,
    NextBasketSplit,
    NothingToEvaluateError,
    basket_metrics,
    complement_events,
    complement_hits,
    complement_metrics,
    ndcg_per_customer,
    sample_customers,
    split_by_time,
    split_last_order,
)
from recommender.history import OrderHistory
from recommender.models.collaborative import CollaborativeModel
from recommender.models.complements import ComplementsModel
from recommender.models.next_purchase import NextPurchaseModel
from training.protocol import COMPLEMENTS_K, EVALUATION_CUSTOMERS, NEXT_PURCHASE_KS, complements_cutoff

NEXT_PURCHASE_METRIC = "next_purchase.ndcg_at_10"
COMPLEMENTS_METRIC = f"complements.hit_rate_at_{COMPLEMENTS_K}"
# next purchase, overrides of the starting section; the defaults first (their validation numbers on three
# shops are in recommender.models.next_purchase's docstring)
SPARSE_CATALOG: dict[str, Any] = {  # most items have too few buyers to show a repeat yet (Ta-Feng)
    "neighbour_explore_scale": 1.5,
    "min_repeat_share": 0.0,
    "min_repeaters": 0,
    "transition_weight": 0.1,
    "explore_by_customer": 0.5,
}
NEXT_PURCHASE_CANDIDATES: tuple[dict[str, Any], ...] = (
    {},
    SPARSE_CATALOG,
    {"own_weight": 0.3, "due_floor": 0.3},  # strong personal repeat cycles (the generated shop)
    {"own_weight": 0.05},
)
# the learned re-ordering of the top 50, tried on top of the best candidate so far (re-ordering the top 100 as
# well scored the same on validation, +.0001 NDCG@10 on the Complete Journey and -.0007 on Ta-Feng, and cost
# twice as much in every later fit)
RANKER: dict[str, Any] = {"ranker": {"rounds": 100}}
# the ranker's trial: an inner fit, an outer fit and LightGBM, estimated as this many times the trial of the
# candidate it goes on top of, plus RANKER_EXTRA_SECONDS (measured: 12.2 s on 4.4 s for Ta-Feng, 3.3 s on 1.9 s
# for the Complete Journey)
RANKER_COST = 2.5
RANKER_EXTRA_SECONDS = 1.0
COMPLEMENTS_CANDIDATES: tuple[dict[str, Any], ...] = (
    {},
    {"category_shrinkage": 1000.0},  # the anchor's category says little about what follows it
    {"shrinkage": 150.0, "category_shrinkage": 1000.0},
    {"shrinkage": 20.0},
    {"popularity_exponent": 0.25},
    {"half_life_days": 30.0},
    {"half_life_days": 365.0},
)
GAIN_Z = 2.0  # a candidate replaces the start only when its paired validation gain exceeds this many SEs
AUTO_BUDGET_TRIALS = 6.0
MIN_AUTO_BUDGET_SECONDS = 25.0
TUNED_SURFACES = ("next_purchase", "complements")
# the candidate that is the defaults' section (tried when the start is not the defaults: a best_config.json)
USE_DEFAULTS: dict[str, Any] = {"defaults": True}


@dataclass
class Candidate:
    """One evaluated config of one surface: ``overrides`` of the starting section, the full ``config`` they
    give, the validation ``metrics`` (MLflow names, as ``recs tune``'s), seconds, or why it failed."""

    number: int
    surface: str
    overrides: dict[str, Any]
    config: BundleConfig
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    rows: np.ndarray | None = field(default=None, repr=False)  # the objective per customer / per anchor

    @property
    def label(self) -> str:
        if self.overrides is USE_DEFAULTS:
            return "defaults"
        return json.dumps(self.overrides, sort_keys=True) if self.overrides else "start"


@dataclass
class TuneOutcome:
    """The picked config, every candidate, the budget, and per surface why it was not tuned (if it was not)."""

    config: BundleConfig
    candidates: list[Candidate]
    budget_seconds: float
    seconds: float
    skipped: dict[str, str]
    clusters: dict[str, np.ndarray] = field(default_factory=dict)  # per surface: the customer of each row

    def picked(self, surface: str) -> Candidate | None:
        """The surface's pick: the candidate with the best validation metric among those whose gain over the
        start (trial 0 of the surface) is significant (``significant_gain``); else the start itself."""
        return pick(self.candidates, surface, self.clusters.get(surface))

    def summary(self) -> dict[str, Any]:
        """What the metrics file and the MLflow run keep of the tuning."""
        return {
            "budget_seconds": self.budget_seconds,
            "seconds": self.seconds,
            "skipped": self.skipped,
            "picked": {s: (b.overrides if (b := self.picked(s)) else None) for s in TUNED_SURFACES},
            "candidates": [
                {"surface": c.surface, "overrides": c.overrides, "metrics": c.metrics, "seconds": c.seconds,
                 "error": c.error}
                for c in self.candidates
            ],
        }  # fmt: skip


# validation data ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NextPurchaseValidation:
    split: NextBasketSplit  # second-to-last orders as targets, scored customers sampled

    @classmethod
    def carve(cls, history: OrderHistory, max_customers: int = EVALUATION_CUSTOMERS) -> NextPurchaseValidation:
        """Each customer's last order dropped (what ``recs train`` reports), then the next-to-last held out."""
        return cls(sample_customers(split_last_order(split_last_order(history).train), max_customers))


@dataclass(frozen=True)
class ComplementsValidation:
    before: OrderHistory  # what the candidates are fitted on
    events: ComplementEvents  # the anchors of the validation window, all before the evaluation's cutoff

    @classmethod
    def carve(cls, history: OrderHistory, window_days: int) -> ComplementsValidation:
        seen, _ = split_by_time(history, complements_cutoff(history, window_days))
        cutoff = complements_cutoff(seen, window_days)
        before, _ = split_by_time(seen, cutoff)
        return cls(before, complement_events(seen, cutoff, window_days))


# scoring one candidate -----------------------------------------------------------------------------------
def score_next_purchase(
    data: NextPurchaseValidation, config: BundleConfig, reference: NextPurchaseModel | None
) -> tuple[dict[str, float], np.ndarray, NextPurchaseModel]:
    """Fit next purchase as ``ModelBundle.fit`` wires it (ALS only when its explore part is on) and score it:
    the metrics, NDCG@10 per customer, the model. ``reference``'s neighbour lists are reused when they are
    this config's too."""
    split = data.split
    np_cfg = config.next_purchase.model_copy(update={"collaborative": config.collaborative})
    als = CollaborativeModel(config.collaborative).fit(split.train) if np_cfg.explore_weight > 0 else None
    model = NextPurchaseModel(np_cfg, collaborative=als).fit(split.train)
    if reference is not None:
        model.reuse_neighbours(reference)
    ranked = model.recommend(split.customers, max(NEXT_PURCHASE_KS), now=split.at)
    values = basket_metrics(ranked.items, split.targets, split.history_items(), NEXT_PURCHASE_KS)
    return _named("next_purchase", values), ndcg_per_customer(ranked.items, split.targets, 10), model


def score_complements(data: ComplementsValidation, config: BundleConfig) -> tuple[dict[str, float], np.ndarray]:
    """Fit complements before the validation window; the metrics (HitRate@k within the starting config's
    window) and the hit (0/1) per anchor."""
    model = ComplementsModel(config.complements).fit(data.before)
    ranked = model.recommend(np.arange(data.before.n_items), COMPLEMENTS_K)
    events = data.events
    values = complement_metrics(events.anchor_items, events.followups, ranked, COMPLEMENTS_K)
    hits = complement_hits(events.anchor_items, events.followups, ranked, COMPLEMENTS_K) > 0
    return _named("complements", values), hits.astype(np.float64)


def significant_gain(rows: np.ndarray, start: np.ndarray, clusters: np.ndarray | None, z: float = GAIN_Z) -> bool:
    """Is the mean of ``rows - start`` (paired, row by row) above ``z`` standard errors? With ``clusters``
    (a customer per row) the standard error is the clustered one: one customer's anchors move together."""
    diff = rows - start
    valid = np.isfinite(diff)
    diff = diff[valid]
    if len(diff) < 2:
        return False
    if clusters is None:
        units = diff
    else:
        _, group = np.unique(clusters[valid], return_inverse=True)
        units = np.bincount(group, weights=diff)  # per customer: the sum of its rows' differences
    se = np.sqrt(len(units)) * units.std(ddof=1) / len(diff)
    return bool(diff.mean() > z * se)


def pick(candidates: list[Candidate], surface: str, clusters: np.ndarray | None = None) -> Candidate | None:
    """See ``TuneOutcome.picked``."""
    metric = NEXT_PURCHASE_METRIC if surface == "next_purchase" else COMPLEMENTS_METRIC
    scored = [c for c in candidates if c.surface == surface and c.rows is not None and metric in c.metrics]
    if not scored:
        return None
    start = scored[0]
    assert start.rows is not None
    better = [c for c in scored[1:] if significant_gain(c.rows, start.rows, clusters)]  # type: ignore[arg-type]
    chosen = max([start, *better], key=lambda c: (c.metrics[metric], -c.number))
    defaults = next((c for c in scored if getattr(c.config, surface) == getattr(BundleConfig(), surface)), None)
    if defaults is not None and defaults.metrics[metric] > chosen.metrics[metric]:
        return defaults  # never a pick below the defaults on validation
    return chosen


def _named(task: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{task}.{key}": float(value) for key, value in values.items() if np.isfinite(value)}


def with_overrides(base: BundleConfig, surface: str, overrides: dict[str, Any]) -> BundleConfig:
    """``base`` with ``overrides`` merged into one section (nested sections too), validated."""
    section: BaseModel = getattr(base, surface)
    merged = _merge(section.model_dump(), overrides)
    return base.model_copy(update={surface: type(section).model_validate(merged)})


def _merge(into: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(into)
    for key, value in overrides.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# the search ----------------------------------------------------------------------------------------------
CandidateHook = Callable[[Candidate], None]
Scorer = Callable[[BundleConfig], tuple[dict[str, float], np.ndarray]]  # (metrics, objective per row)


@dataclass
class _Search:
    base: BundleConfig
    budget: float | None  # None: auto, set after the first trial
    on_candidate: CandidateHook | None
    started: float = field(default_factory=time.perf_counter)
    candidates: list[Candidate] = field(default_factory=list)
    estimates: dict[str, float] = field(default_factory=dict)  # seconds of the last plain trial per surface

    def remaining(self) -> float:
        return (self.budget if self.budget is not None else np.inf) - (time.perf_counter() - self.started)

    def affords(self, estimate: float) -> bool:
        return not self.candidates or estimate <= self.remaining()

    def run(self, surface: str, overrides: dict[str, Any], score: Scorer) -> None:
        try:
            if overrides is USE_DEFAULTS:
                config = self.base.model_copy(update={surface: getattr(BundleConfig(), surface)})
            else:
                config = with_overrides(self.base, surface, overrides)
        except ValidationError as exc:
            raise RecommenderError(f"self-tuning candidate {overrides} is not a valid {surface} config") from exc
        candidate = Candidate(len(self.candidates), surface, overrides, config)
        t0 = time.perf_counter()
        try:
            candidate.metrics, candidate.rows = score(config)
        except RecommenderError as exc:
            candidate.error = f"{type(exc).__name__}: {exc}"
        candidate.seconds = time.perf_counter() - t0
        self.candidates.append(candidate)
        if self.on_candidate is not None:
            self.on_candidate(candidate)


def self_tune(
    history: OrderHistory,
    base: BundleConfig,
    budget_seconds: float | None = None,
    on_candidate: CandidateHook | None = None,
    max_customers: int = EVALUATION_CUSTOMERS,
) -> TuneOutcome:
    """Pick next purchase's and complements' configs on validation data (see the module docstring).

    ``budget_seconds`` None: auto. The outcome's ``config`` is ``base`` with each surface's best section.
    """
    search = _Search(base, budget_seconds, on_candidate)
    skipped: dict[str, str] = {}
    try:
        np_data: NextPurchaseValidation | None = NextPurchaseValidation.carve(history, max_customers)
    except NothingToEvaluateError:
        np_data, skipped["next_purchase"] = None, "no customer has three orders (one to report, one to tune on)"
    cp_data: ComplementsValidation | None = ComplementsValidation.carve(history, base.complements.window_days)
    if cp_data.before.n_lines == 0 or cp_data.events.n_anchors == 0:
        cp_data, skipped["complements"] = None, "no purchase in the validation window before the evaluation's"
    models: dict[str, NextPurchaseModel] = {}

    def next_purchase(config: BundleConfig) -> tuple[dict[str, float], np.ndarray]:
        assert np_data is not None
        metrics, rows, model = score_next_purchase(np_data, config, models.get("first"))
        models.setdefault("first", model)
        return metrics, rows

    def complements(config: BundleConfig) -> tuple[dict[str, float], np.ndarray]:
        assert cp_data is not None
        return score_complements(cp_data, config)

    for surface, overrides, estimate in _order(search, np_data is not None, cp_data is not None):
        needed = overrides is USE_DEFAULTS  # the defaults are always measured when the start is not them
        if not needed and not search.affords(estimate if estimate is not None else search.estimates.get(surface, 0.0)):
            continue
        search.run(surface, overrides, next_purchase if surface == "next_purchase" else complements)
        done = search.candidates[-1]
        if search.budget is None:  # auto: calibrated on the first trial
            search.budget = max(MIN_AUTO_BUDGET_SECONDS, AUTO_BUDGET_TRIALS * done.seconds)
        if estimate is None:  # a plain trial: the next one of its surface is expected to take as long
            search.estimates[surface] = done.seconds
    clusters = {"complements": cp_data.events.customers} if cp_data is not None else {}
    outcome = TuneOutcome(base, search.candidates, float(search.budget or 0.0), 0.0, skipped, clusters)
    update = {s: getattr(best.config, s) for s in TUNED_SURFACES if (best := outcome.picked(s)) is not None}
    outcome.config = base.model_copy(update=update)
    outcome.seconds = time.perf_counter() - search.started
    return outcome


def _order(
    search: _Search, next_purchase: bool, complements: bool
) -> Iterator[tuple[str, dict[str, Any], float | None]]:
    """(surface, overrides, estimated seconds or None: as the surface's last plain trial) in the order they are
    tried; the ranker goes on top of the best next-purchase candidate found before it."""
    np_rest = list(NEXT_PURCHASE_CANDIDATES[1:])
    cp_rest = list(COMPLEMENTS_CANDIDATES[1:])
    defaults = BundleConfig()
    if next_purchase:
        yield "next_purchase", NEXT_PURCHASE_CANDIDATES[0], None
        if search.base.next_purchase != defaults.next_purchase:
            yield "next_purchase", USE_DEFAULTS, None
    if complements:
        yield "complements", COMPLEMENTS_CANDIDATES[0], None
        if search.base.complements != defaults.complements:
            yield "complements", USE_DEFAULTS, None
    if next_purchase and np_rest:
        yield "next_purchase", np_rest.pop(0), None
    best = pick(search.candidates, "next_purchase") if next_purchase else None
    if best is not None:  # the ranker has made the largest validation gains (Ta-Feng, Complete Journey)
        yield "next_purchase", _merge(best.overrides, RANKER), RANKER_COST * best.seconds + RANKER_EXTRA_SECONDS
    yield from (("complements", overrides, None) for overrides in cp_rest if complements)
    yield from (("next_purchase", overrides, None) for overrides in np_rest if next_purchase)
