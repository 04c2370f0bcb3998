"""The Optuna search of ``recs tune``: the same space, objectives, budget and starting trials as the
hand-written search (``training.search.run_trials``), with Optuna's TPE sampler choosing the next config.

One multi-objective study maximises ``OBJECTIVES`` (``next_purchase.ndcg_at_10`` and
``complements.hit_rate_at_5``) together; the best config is still put together per objective from the
trials (``training.search.best_trials``, ``compose_best``). Trial 0 is the starting config and trial 1 the
defaults when the start is not them, both enqueued (``Study.enqueue_trial``) so that TPE learns from them
too; both always run, whatever the budget, so the best config never scores below the defaults on the
search's split. A start value outside the space (a choice it does not list, a float beyond its range) is
not suggested: that trial is still exactly the start, Optuna only records the values that lie in the space.

Each parameter of ``training.search_space`` maps to one ``trial.suggest_*`` (``suggest``): ``LogUniform``
to a log-scale float, ``Uniform`` to a float, ``Choice`` to a categorical. The config uses the suggested
values as they are (not rounded), so what Optuna records and what the trial fitted are the same numbers.

The budget (``training.search.Budget``) is checked after every trial: the study stops when the next trial
would not finish in time (the mean trial time so far is the estimate) or at the trial cap. A trial whose fit
fails with a ``RecommenderError`` is recorded with its error and is a failed Optuna trial; the search goes
on. MLflow stays out of this module: ``recs tune``'s ``on_trial`` logs each trial as a nested run, as for the
hand-written search.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna

from recommender.bundle import BundleConfig
from recommender.errors import RecommenderError
from training.search import (
    OBJECTIVES,
    Budget,
    Evaluator,
    SearchData,
    Trial,
    TrialHook,
    evaluate_trial,
    record_trial,
)
from training.search_space import Choice, LogUniform, Param, SearchSpace, apply_values, check_space, current_values

StudyCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def suggest(trial: optuna.Trial, path: str, param: Param) -> Any:
    """The value of ``param`` at ``path`` for this trial (an enqueued trial gets its enqueued value)."""
    if isinstance(param, Choice):
        return trial.suggest_categorical(path, list(param.values))
    if isinstance(param, LogUniform):
        return trial.suggest_float(path, param.low, param.high, log=True)
    return trial.suggest_float(path, param.low, param.high)


def in_space(param: Param, value: Any) -> bool:
    """Can Optuna record ``value`` for ``param`` (a listed choice, a float within the range)?"""
    if isinstance(param, Choice):
        return value in param.values
    return isinstance(value, int | float) and param.low <= float(value) <= param.high


def sampler(seed: int) -> optuna.samplers.BaseSampler:
    """TPE over the joint space (multivariate), seeded: the same seed proposes the same configs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def run_optuna_trials(
    data: SearchData,
    base: BundleConfig,
    space: SearchSpace,
    budget: Budget,
    seed: int,
    on_trial: TrialHook | None = None,
    evaluator: Evaluator = evaluate_trial,
    callbacks: Sequence[StudyCallback] = (),
) -> list[Trial]:
    """Trial 0 is ``base``, trial 1 the defaults when ``base`` is not them, then TPE's proposals, until the
    budget runs out. ``on_trial`` sees each trial once evaluated; ``callbacks`` are Optuna's, called after
    each trial is told."""
    check_space(space, base)
    starts = [base] if base == BundleConfig() else [base, BundleConfig()]
    trials: list[Trial] = []
    optuna.logging.set_verbosity(logging.ERROR)  # a failed trial is recorded on the Trial
    study = optuna.create_study(directions=["maximize"] * len(OBJECTIVES), sampler=sampler(seed))
    for config in starts:
        values = current_values(space, config)
        study.enqueue_trial({path: v for path, v in values.items() if in_space(space[path], v)})
    t0 = time.perf_counter()

    def objective(ot: optuna.Trial) -> tuple[float, ...]:
        started = time.perf_counter()
        if ot.number < len(starts):
            config = starts[ot.number]
            fixed = current_values(space, config)
            for path, param in space.items():
                if in_space(param, fixed[path]):
                    suggest(ot, path, param)
            trial = Trial(ot.number, {}, config, strategy="start" if ot.number == 0 else "defaults")
        else:
            values = {path: suggest(ot, path, param) for path, param in space.items()}
            trial = Trial(ot.number, values, base, strategy="tpe")
        if trial.strategy == "tpe":
            try:
                trial.config = apply_values(base, trial.values)
            except RecommenderError as exc:
                trial.error = f"{type(exc).__name__}: {exc}"
        record_trial(trial, data, evaluator, started, trials, on_trial)
        if trial.error is not None:
            return tuple(float("nan") for _ in OBJECTIVES)  # a failed Optuna trial
        # an objective the data cannot measure (no complement anchors) counts as 0, the worst score
        return tuple(trial.metrics.get(o.metric, 0.0) for o in OBJECTIVES)

    def stop_when_spent(study: optuna.Study, _frozen: optuna.trial.FrozenTrial) -> None:
        if len(trials) >= len(starts) and not budget.allows(trials, time.perf_counter() - t0):
            study.stop()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, callbacks=[*callbacks, stop_when_spent], gc_after_trial=False)
    return trials
