"""The search loop of ``recs tune``: trials over the search space (``training.search_space``), each fitted
and scored on splits made once, within a budget; the best config put together per objective.

What both samplers share lives here (objectives, trials, the budget, the evaluation, the best config); the
hand-written sampler is ``run_trials`` (``recs tune --sampler hand``). The default sampler is Optuna's TPE,
``training.search_optuna``, with the same starting trials and budget (docs/benchmarks.md compares them).

Trial 0 is always the starting config, and trial 1 the defaults when the start is not them (a
``best_config.json`` from an earlier search, or ``--config``), so the best config never scores below the
starting point nor below the defaults on the search's split. After them, half of the trials draw every
parameter afresh (random search), the other half move a few parameters of the best config so far by a small
step (local refinement). The search stops when
the next trial would not finish within the time budget (the mean trial time so far is the estimate) or
after the trial cap (``Budget``).

Validation (the default): the search never sees the orders that ``recs train`` reports on. It drops each
customer's last order first, and tunes on what is left, whose own last orders (each customer's
second-to-last) are the search's targets; so ``recs train``'s numbers after a search are not selected on.
Without validation it tunes on the last orders themselves (more recent signal, optimistic reported numbers).

Per-trial evaluation: the same protocols, metrics and MLflow names as ``training.pipeline.evaluate``
(``next_purchase.ndcg_at_10``, ``for_you.precision_at_10``, ``complements.hit_rate_at_5``...), but
cheaper: the splits are made once (each customer's last order held out, ``split_last_order``; complement
anchors after the pipeline's time cutoff) and the baselines are measured once, on the parent run. A
trial fits the bundle on the split's training side (``ModelBundle.fit``, so the models are wired exactly
as ``recs train`` wires them) and complements on the history before the cutoff. Popular and similar
items are not tuned (no metric reads them); nor is the "for you" blend (``for_you``), whose best depends
on the ALS config of its own trial.
Complements are always scored within the starting config's window, so that a trial with a longer
window does not win by counting more follow-up purchases.

The best config is put together per objective (``OBJECTIVES``): the ``collaborative`` and
``next_purchase`` sections of the trial with the best ``next_purchase.ndcg_at_10`` (the promotion
metric), the ``complements`` section of the trial with the best ``complements.hit_rate_at_5``. The two
groups are fitted independently of each other, so the combination scores what each part scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recommender.bundle import BundleConfig, ModelBundle
from recommender.errors import RecommenderError
from recommender.evaluation import split_last_order
from recommender.history import OrderHistory
from training.pipeline import (
    EvaluationData,
    EvaluationReport,
    prepare_evaluation,
    score_baselines,
    score_models,
)
from training.protocol import COMPLEMENTS_K
from training.search_space import SearchSpace, apply_values, check_space, local_values, sample_values

LOCAL_SHARE = 0.5  # after trial 0, this share of trials perturbs the best config so far instead of sampling afresh


# objectives -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    """``metric`` picks the best trial for ``sections`` of the config; ``tasks`` are the metric prefixes
    those sections drive (the parent run shows them from that trial)."""

    metric: str
    sections: tuple[str, ...]
    tasks: tuple[str, ...]


OBJECTIVES: tuple[Objective, ...] = (
    Objective("next_purchase.ndcg_at_10", ("collaborative", "next_purchase"), ("next_purchase", "for_you")),
    Objective(f"complements.hit_rate_at_{COMPLEMENTS_K}", ("complements",), ("complements",)),
)


# evaluation --------------------------------------------------------------------------------------------
SearchData = EvaluationData  # the splits every trial is scored on, made once (training.pipeline)


def search_history(history: OrderHistory, validation: bool) -> OrderHistory:
    """What the search splits: with ``validation``, ``history`` without each customer's last order (the
    orders ``training.pipeline.evaluate`` scores); else ``history`` itself."""
    return split_last_order(history).train if validation else history


def prepare(history: OrderHistory, base: BundleConfig) -> SearchData:
    """Split once, exactly as ``recs train`` does (``training.pipeline.prepare_evaluation``)."""
    return prepare_evaluation(history, base)


def baseline_metrics(data: SearchData) -> dict[str, float]:
    """The pipeline's baselines on the search's splits, named as in ``recs train``."""
    report = EvaluationReport()
    score_baselines(data, report)
    return report.metrics


def evaluate_trial(data: SearchData, config: BundleConfig) -> dict[str, float]:
    """Fit the models for ``config`` on the search's splits and score them as ``recs train`` does.

    Complements are scored on the starting config's window (``data``), so a longer window cannot win by
    counting more hits."""
    report = EvaluationReport()
    bundle = ModelBundle.fit(data.split.train, config)  # the models wired exactly as ``recs train`` wires them
    score_models(data, bundle, config, report)
    return report.metrics


# the search ---------------------------------------------------------------------------------------------
@dataclass
class Trial:
    """One evaluated config. ``values``: what was sampled (empty for trial 0, the starting config);
    ``error``: why it failed (then ``metrics`` is empty)."""

    number: int
    values: dict[str, Any]
    config: BundleConfig
    metrics: dict[str, float] = field(default_factory=dict)
    # "start" (trial 0), "defaults" (trial 1 when the start is not the defaults), "random" (a fresh draw) or
    # "local" (a step from the best so far)
    strategy: str = "start"
    seconds: float = 0.0
    error: str | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class Budget:
    """Stop after ``max_trials`` trials (None: no limit), or when the next trial would end after ``seconds``."""

    seconds: float
    max_trials: int | None = None

    def allows(self, done: list[Trial], elapsed: float) -> bool:
        if not done:
            return True  # the starting config is always evaluated
        if self.max_trials is not None and len(done) >= self.max_trials:
            return False
        mean = sum(t.seconds for t in done) / len(done)
        return elapsed + mean <= self.seconds


TrialHook = Callable[[Trial], None]
Evaluator = Callable[[SearchData, BundleConfig], dict[str, float]]


def run_trials(
    data: SearchData,
    base: BundleConfig,
    space: SearchSpace,
    budget: Budget,
    rng: np.random.Generator,
    on_trial: TrialHook | None = None,
    evaluator: Evaluator = evaluate_trial,
) -> list[Trial]:
    """Trial 0 is ``base``; when ``base`` is not the defaults (a ``best_config.json`` or ``--config``), trial 1
    is the defaults, so that the best config is never below the defaults on the search's split. Each later
    trial is ``base`` with either a fresh draw from ``space`` or, with probability ``LOCAL_SHARE`` once some
    trial succeeded, a small step from the best config so far (``compose_best``; ``local_values``). A trial
    whose fit fails with a ``RecommenderError`` is recorded with its error and the search goes on."""
    check_space(space, base)
    trials: list[Trial] = []
    starts = 1 if base == BundleConfig() else 2  # the starting config, and the defaults when they differ
    t0 = time.perf_counter()
    while len(trials) < starts or budget.allows(trials, time.perf_counter() - t0):
        if len(trials) == 1 and starts == 2:
            trial = Trial(number=1, values={}, config=BundleConfig(), strategy="defaults")
        else:
            values, strategy = _next_values(base, space, trials, rng)
            trial = Trial(number=len(trials), values=values, config=apply_values(base, values), strategy=strategy)
        record_trial(trial, data, evaluator, time.perf_counter(), trials, on_trial)
    return trials


def record_trial(
    trial: Trial,
    data: SearchData,
    evaluator: Evaluator,
    started: float,
    trials: list[Trial],
    on_trial: TrialHook | None,
) -> None:
    """Evaluate ``trial`` (unless it already failed), a ``RecommenderError`` recorded as its error; time it
    from ``started``; append it to ``trials`` and tell ``on_trial``. Both searches run their trials so."""
    if trial.error is None:
        try:
            trial.metrics = evaluator(data, trial.config)
        except RecommenderError as exc:
            trial.error = f"{type(exc).__name__}: {exc}"
    trial.seconds = time.perf_counter() - started
    trials.append(trial)
    if on_trial is not None:
        on_trial(trial)


def _next_values(
    base: BundleConfig, space: SearchSpace, trials: list[Trial], rng: np.random.Generator
) -> tuple[dict[str, Any], str]:
    if not trials:
        return {}, "start"
    winners = best_trials(trials)
    if winners and rng.random() < LOCAL_SHARE:
        return local_values(space, compose_best(base, winners)[0], rng), "local"
    return sample_values(space, rng), "random"


def best_trials(trials: list[Trial], objectives: tuple[Objective, ...] = OBJECTIVES) -> dict[str, Trial]:
    """Per objective metric, the trial with its highest value (ties: the earlier trial); objectives no
    trial measured are left out."""
    best: dict[str, Trial] = {}
    for objective in objectives:
        scored = [t for t in trials if np.isfinite(t.metrics.get(objective.metric, np.nan))]
        if scored:
            best[objective.metric] = max(scored, key=lambda t: (t.metrics[objective.metric], -t.number))
    return best


def compose_best(
    base: BundleConfig, winners: Mapping[str, Trial], objectives: tuple[Objective, ...] = OBJECTIVES
) -> tuple[BundleConfig, dict[str, float]]:
    """``base`` with each objective's sections from its winning trial, and the metrics that config scored
    (each task's metrics from the trial its sections came from)."""
    update: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    for objective in objectives:
        winner = winners.get(objective.metric)
        if winner is None:
            continue
        for section in objective.sections:
            update[section] = getattr(winner.config, section)
        prefixes = tuple(f"{task}." for task in objective.tasks)
        metrics.update({k: v for k, v in winner.metrics.items() if k.startswith(prefixes)})
    return base.model_copy(update=update), metrics


@dataclass
class SearchResult:
    """A finished search: its trials, the best config and the metrics it scored, the winning trial per
    objective, the baselines, the MLflow parent run, and where the best config was written."""

    trials: list[Trial]
    best: BundleConfig
    metrics: dict[str, float]
    winners: dict[str, Trial]
    baselines: dict[str, float]
    parent_run_id: str
    best_config_path: Path
