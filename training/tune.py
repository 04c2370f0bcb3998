"""``recs tune``: a time-bounded search over model hyperparameters; every trial is an MLflow child run.

The command loads and validates the orders like ``recs train`` (``training.pipeline``), then runs the
search over a space of ``BundleConfig`` fields (``training.search_space``) until the
time budget (``--minutes``) or ``--trials`` runs out. Trial 0 is always the starting config (``--config``,
else ``RECS_HOME/best_config.json`` when present, else the defaults: ``training.config_file``).
``--no-validation`` tunes on each customer's last order instead of the second-to-last.

The search (``--sampler``): ``tpe``, the default, is Optuna's TPE (``training.search_optuna``); ``hand`` is
the hand-written random + local search (``training.search``). Both have the same space, objectives, budget
and starting trials; docs/benchmarks.md compares them (``python -m benchmarks.search_compare``).

MLflow (``training.tracking``): one parent run with the baselines and the best config, one nested child
run per trial, the same for both samplers (optuna-integration's ``MLflowCallback`` is not used: it is
deprecated since Optuna 4.9 and goes in 6.0). The best config is written to
``TrainingSettings().best_config_path``, which the next ``recs train`` reads. What the command prints is in
``training.search_report``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from recommender.bundle import BundleConfig
from recommender.errors import DataError, TooManyRejectsError
from recommender.evaluation import NothingToEvaluateError
from recommender.history import OrderHistory
from training.config_file import load_bundle_config
from training.exit_codes import EXIT_BAD_DATA
from training.pipeline import check_load
from training.search import (
    Budget,
    SearchResult,
    Trial,
    TrialHook,
    baseline_metrics,
    best_trials,
    compose_best,
    prepare,
    run_trials,
    search_history,
)
from training.search_report import against_defaults, results_table, trial_progress
from training.search_space import DEFAULT_SPACE, SearchSpace
from training.settings import TrainingSettings


class Sampler(StrEnum):
    """How the search picks the next config."""

    tpe = "tpe"  # Optuna's TPE (training.search_optuna)
    hand = "hand"  # the hand-written random + local search (training.search)


SAMPLERS = tuple(s.value for s in Sampler)
DEFAULT_SAMPLER = Sampler.tpe.value


def tune(
    history: OrderHistory,
    base: BundleConfig,
    settings: TrainingSettings,
    budget: Budget,
    seed: int,
    space: SearchSpace = DEFAULT_SPACE,
    on_trial: TrialHook | None = None,
    tags: Mapping[str, str] | None = None,
    validation: bool = True,
    sampler: str = DEFAULT_SAMPLER,
) -> SearchResult:
    """Split once, run the trials as MLflow child runs, log the best on the parent, write best_config.json.

    ``NothingToEvaluateError`` (a ``DataError``) when no customer has enough orders to hold one out (three
    with ``validation``: one for ``recs train``, one for the search, one to learn from)."""
    try:
        data = prepare(search_history(history, validation), base)
    except NothingToEvaluateError as exc:
        hint = " (with validation a customer needs three orders; --no-validation needs two)" if validation else ""
        raise NothingToEvaluateError(f"nothing to tune on: {exc}{hint}") from exc
    baselines = baseline_metrics(data)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}: one of {', '.join(SAMPLERS)}")
    from training import tracking  # mlflow loads here, once the data can be searched

    run_tags = {
        "recs.kind": "tune",
        "recs.seed": str(seed),
        "recs.validation": str(validation).lower(),
        "recs.sampler": sampler,
        **(tags or {}),
    }
    with tracking.parent_run(settings, run_tags) as parent_id:

        def record(trial: Trial) -> None:
            trial.run_id = tracking.log_trial_run(trial)
            if on_trial is not None:
                on_trial(trial)

        if sampler == "tpe":
            from training.search_optuna import run_optuna_trials  # optuna loads only for the search

            trials = run_optuna_trials(data, base, space, budget, seed, on_trial=record)
        else:
            trials = run_trials(data, base, space, budget, np.random.default_rng(seed), on_trial=record)
        winners = best_trials(trials)
        best, metrics = compose_best(base, winners)
        tracking.log_best_on_parent(best, metrics, winners, baselines, trials)
    path = settings.best_config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(best.model_dump_json(indent=2))
    return SearchResult(trials, best, metrics, winners, baselines, parent_id, path)


def tune_command(
    orders: Annotated[Path, typer.Option("--orders", help="Order lines, CSV or Parquet.")],
    catalog: Annotated[Path | None, typer.Option("--catalog", help="Optional catalog, CSV or Parquet.")] = None,
    minutes: Annotated[float, typer.Option(min=0.0, help="Time budget: no trial starts that would end later.")] = 10.0,
    trials: Annotated[int | None, typer.Option(min=1, help="Stop after this many trials (default: time only).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the search: the same seed samples the same configs.")] = 0,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="Starting config JSON (default: RECS_HOME/best_config.json when present).")
    ] = None,
    max_reject_ratio: Annotated[float, typer.Option(min=0.0, max=1.0, help="Stop when more rows are bad.")] = 0.05,
    validation: Annotated[
        bool,
        typer.Option(help="Tune on each customer's second-to-last order, never on the last (what recs train reports)."),
    ] = True,
    sampler: Annotated[
        Sampler,
        typer.Option(help="tpe: Optuna's TPE; hand: the hand-written random + local search (docs/benchmarks.md)."),
    ] = Sampler.tpe,
) -> None:
    """Search model hyperparameters within a time budget; trials are MLflow child runs; the best config is
    saved where the next ``recs train`` reads it."""
    from recommender.data import load_orders, write_rejects

    console = Console()
    settings = TrainingSettings()
    if experiment:
        settings = settings.model_copy(update={"experiment": experiment})
    base = load_bundle_config(config, settings, console)
    rejects_path = settings.home / "rejects" / f"{orders.stem}-rejects.csv"
    rejects_path.parent.mkdir(parents=True, exist_ok=True)
    budget = Budget(seconds=minutes * 60.0, max_trials=trials)
    try:
        with console.status("loading and validating orders"):
            loaded = load_orders(orders, catalog_path=catalog)
            write_rejects(loaded, rejects_path)
            check_load(loaded, max_reject_ratio)
        for line in loaded.summary.lines():
            console.print(line)
        with trial_progress(console, budget) as on_trial:
            result = tune(
                loaded.history,
                base,
                settings,
                budget,
                seed,
                on_trial=on_trial,
                tags={"orders": str(orders)},
                validation=validation,
                sampler=sampler.value,
            )
    except TooManyRejectsError as exc:
        console.print(f"[red]error:[/red] {exc}. Rejected rows and reasons: {rejects_path}")
        raise typer.Exit(EXIT_BAD_DATA) from exc
    except DataError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_DATA) from exc
    console.print(results_table(result))
    console.print(against_defaults(result), highlight=False)
    console.print(
        f"MLflow parent run {result.parent_run_id} ({len(result.trials)} trials) at {settings.resolved_tracking_uri}"
    )
    where = "each customer's second-to-last order (validation)" if validation else "each customer's last order"
    console.print(f"tuned on {where}; baselines on the same split are on the parent run")
    console.print(f"best config written to {result.best_config_path}; the next `recs train` uses it")
