"""``recs tune``: a time-bounded random search over model hyperparameters; every trial is an MLflow child run.

The search loads and validates the orders like ``recs train`` (``training.pipeline``), splits once, then
samples configs from a search space over ``BundleConfig`` fields (``DEFAULT_SPACE``; dotted paths such as
``collaborative.factors``): half of the trials draw every parameter afresh (random search), the other half
move a few parameters of the best config so far by a small step (local refinement). It evaluates each one,
and stops when the next trial would not finish within the time budget (``--minutes``; the mean trial time so
far is the estimate) or after ``--trials`` trials.
Trial 0 is always the starting config (``--config``, else ``RECS_HOME/best_config.json`` when present,
else the defaults), so the saved config never scores below the starting point on the search's split.

Validation (the default): the search never sees the orders that ``recs train`` reports on. It drops each
customer's last order first, and tunes on what is left, whose own last orders (each customer's
second-to-last) are the search's targets; so ``recs train``'s numbers after a search are not selected on.
``--no-validation`` tunes on the last orders themselves (more recent signal, optimistic reported numbers).

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

MLflow: one parent run (tag ``recs.kind=tune``) holds the baselines, the best config's params, its
metrics (those of the trial each part came from), ``best.<objective>`` and ``best_trial.<objective>``,
and ``best_config.json``; one nested child run per trial holds that trial's full config as params, its
metrics and the sampled values (tag ``recs.sampled``). The best config is written to
``TrainingSettings().best_config_path``, which the next ``recs train`` reads.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from recommender.bundle import BundleConfig, ModelBundle
from recommender.errors import DataError, RecommenderError, TooManyRejectsError
from recommender.evaluation import (
    NothingToEvaluateError,
    split_last_order,
)
from recommender.history import OrderHistory
from training.config_file import load_bundle_config
from training.exit_codes import EXIT_BAD_DATA
from training.pipeline import (
    EvaluationData,
    EvaluationReport,
    check_load,
    prepare_evaluation,
    score_baselines,
    score_models,
)
from training.protocol import COMPLEMENTS_K
from training.settings import TrainingSettings

ROUND_DIGITS = 4  # sampled floats keep 4 significant digits: readable params, nothing lost in practice
LOCAL_SHARE = 0.5  # after trial 0, this share of trials perturbs the best config so far instead of sampling afresh
LOCAL_PARAM_SHARE = 0.3  # a local trial moves each parameter with this probability (at least one)
LOCAL_LOG_SD = 0.5  # log-scale step of a local move on a LogUniform parameter
LOCAL_SD_SHARE = 0.15  # step of a local move on a Uniform parameter, as a share of its range


class SearchSpaceError(RecommenderError, ValueError):
    """A search-space path names no ``BundleConfig`` field, or its values fail the field's validation."""


# the search space ------------------------------------------------------------------------------------
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
    strategy: str = "start"  # "start" (trial 0), "random" (a fresh draw) or "local" (a step from the best so far)
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
    """Trial 0 is ``base``; each later trial is ``base`` with either a fresh draw from ``space`` or, with
    probability ``LOCAL_SHARE`` once some trial succeeded, a small step from the best config so far
    (``compose_best``; ``local_values``). A trial whose fit fails with a ``RecommenderError`` is recorded
    with its error and the search goes on."""
    check_space(space, base)
    trials: list[Trial] = []
    t0 = time.perf_counter()
    while budget.allows(trials, time.perf_counter() - t0):
        values, strategy = _next_values(base, space, trials, rng)
        trial = Trial(number=len(trials), values=values, config=apply_values(base, values), strategy=strategy)
        started = time.perf_counter()
        try:
            trial.metrics = evaluator(data, trial.config)
        except RecommenderError as exc:
            trial.error = f"{type(exc).__name__}: {exc}"
        trial.seconds = time.perf_counter() - started
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
    return trials


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


# MLflow --------------------------------------------------------------------------------------------------
@contextmanager
def parent_run(settings: TrainingSettings, tags: Mapping[str, str]) -> Iterator[str]:
    """Open the search's parent run in the configured store; yields its run id."""
    import mlflow

    from training import tracking

    client = tracking.connect(settings)
    experiment = client.get_experiment_by_name(settings.experiment)
    assert experiment is not None  # connect() created it
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name="tune", tags=dict(tags)) as run:
        yield run.info.run_id


def log_trial_run(trial: Trial) -> str:
    """One nested child run under the active parent: the trial's full config, metrics, sampled values."""
    import mlflow

    from training.tracking import flatten_params

    parent = mlflow.active_run()
    experiment_id = parent.info.experiment_id if parent is not None else None
    run = mlflow.start_run(experiment_id=experiment_id, run_name=f"trial-{trial.number:03d}", nested=True)
    mlflow.log_params(flatten_params(trial.config.model_dump(mode="json")))
    mlflow.set_tags(
        {
            "recs.kind": "tune-trial",
            "recs.trial": str(trial.number),
            "recs.strategy": trial.strategy,
            "recs.sampled": json.dumps(trial.values),
        }
    )
    mlflow.log_metrics({**trial.metrics, "seconds.trial": trial.seconds})
    if trial.error is not None:
        mlflow.set_tag("recs.error", trial.error[:5000])
    mlflow.end_run(status="FAILED" if trial.error is not None else "FINISHED")
    return run.info.run_id


def log_best_on_parent(
    best: BundleConfig,
    metrics: Mapping[str, float],
    winners: Mapping[str, Trial],
    baselines: Mapping[str, float],
    trials: list[Trial],
) -> None:
    """On the active parent run: the best config (params and ``best_config.json``), its metrics, the
    baselines, ``best.<objective>``, ``best_trial.<objective>`` and the search's counts."""
    import mlflow

    from training.tracking import flatten_params

    mlflow.log_params(flatten_params(best.model_dump(mode="json")))
    summary = {
        "search.trials": float(len(trials)),
        "search.failed_trials": float(sum(t.error is not None for t in trials)),
        "search.seconds": float(sum(t.seconds for t in trials)),
    }
    for metric, trial in winners.items():
        summary[f"best.{metric}"] = trial.metrics[metric]
        summary[f"best_trial.{metric}"] = float(trial.number)
    mlflow.log_metrics({**baselines, **metrics, **summary})
    mlflow.log_text(best.model_dump_json(indent=2), "best_config.json")


# the command ---------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    trials: list[Trial]
    best: BundleConfig
    metrics: dict[str, float]
    winners: dict[str, Trial]
    baselines: dict[str, float]
    parent_run_id: str
    best_config_path: Path


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
    rng = np.random.default_rng(seed)
    run_tags = {"recs.kind": "tune", "recs.seed": str(seed), "recs.validation": str(validation).lower(), **(tags or {})}
    with parent_run(settings, run_tags) as parent_id:

        def record(trial: Trial) -> None:
            trial.run_id = log_trial_run(trial)
            if on_trial is not None:
                on_trial(trial)

        trials = run_trials(data, base, space, budget, rng, on_trial=record)
        winners = best_trials(trials)
        best, metrics = compose_best(base, winners)
        log_best_on_parent(best, metrics, winners, baselines, trials)
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
        with _trial_progress(console, budget) as on_trial:
            result = tune(
                loaded.history,
                base,
                settings,
                budget,
                seed,
                on_trial=on_trial,
                tags={"orders": str(orders)},
                validation=validation,
            )
    except TooManyRejectsError as exc:
        console.print(f"[red]error:[/red] {exc}. Rejected rows and reasons: {rejects_path}")
        raise typer.Exit(EXIT_BAD_DATA) from exc
    except DataError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_DATA) from exc
    console.print(_results_table(result))
    console.print(
        f"MLflow parent run {result.parent_run_id} ({len(result.trials)} trials) at {settings.resolved_tracking_uri}"
    )
    where = "each customer's second-to-last order (validation)" if validation else "each customer's last order"
    console.print(f"tuned on {where}; baselines on the same split are on the parent run")
    console.print(f"best config written to {result.best_config_path}; the next `recs train` uses it")


PROGRESS_METRIC = OBJECTIVES[0].metric


@contextmanager
def _trial_progress(console: Console, budget: Budget) -> Iterator[TrialHook]:
    """A rich progress bar over the trial cap (or the time budget): trial number and best so far."""
    by_trials = budget.max_trials is not None
    total = float(budget.max_trials) if by_trials else max(budget.seconds, 1e-9)
    columns = (
        TextColumn("trial {task.fields[trial]}"),
        BarColumn(),
        TextColumn("best " + PROGRESS_METRIC.replace("_at_", "@") + " {task.fields[best]}"),
        TimeElapsedColumn(),
    )
    t0 = time.perf_counter()
    best = -math.inf
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("tune", total=total, trial="-", best="-")

        def on_trial(trial: Trial) -> None:
            nonlocal best
            best = max(best, trial.metrics.get(PROGRESS_METRIC, -math.inf))
            done = trial.number + 1 if by_trials else min(time.perf_counter() - t0, total)
            shown = f"{best:.4f}" if np.isfinite(best) else "-"
            progress.update(task, completed=done, trial=str(trial.number), best=shown)

        yield on_trial
        progress.update(task, completed=total)


def _results_table(result: SearchResult) -> Table:
    """The best trials by the main objective, with the GP-TopFreq baseline for scale."""
    metric = PROGRESS_METRIC
    table = Table(title=f"tune: trials by {metric}", title_justify="left")
    for name in ("trial", "next_purchase ndcg@10", "recall@10", "recall@20", f"complements hit@{COMPLEMENTS_K}", "s"):
        table.add_column(name, justify="right")
    ranked = sorted(result.trials, key=lambda t: -t.metrics.get(metric, -math.inf))
    for trial in ranked[:5]:
        m = trial.metrics
        cells = [m.get(k, math.nan) for k in (metric, "next_purchase.recall_at_10", "next_purchase.recall_at_20")]
        hit = m.get(f"complements.hit_rate_at_{COMPLEMENTS_K}", math.nan)
        label = str(trial.number) + (" (start)" if trial.number == 0 else "") + (" failed" if trial.error else "")
        table.add_row(label, *(f"{v:.4f}" for v in cells), f"{hit:.4f}", f"{trial.seconds:.1f}")
    b = result.baselines
    gp = [
        b.get(f"next_purchase.baseline.gp_topfreq.{k}", math.nan)
        for k in ("ndcg_at_10", "recall_at_10", "recall_at_20")
    ]
    sym = b.get(f"complements.baseline.symmetric_cooccurrence.hit_rate_at_{COMPLEMENTS_K}", math.nan)
    table.add_row("gp_topfreq / sym. co-occ.", *(f"{v:.4f}" for v in gp), f"{sym:.4f}", "")
    return table
