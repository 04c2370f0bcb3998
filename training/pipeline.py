"""The offline job without its tracking: load -> split by time -> fit -> evaluate against baselines -> refit.

``evaluate`` follows the protocols of docs/quality.md: each customer's last order is the target for next purchase
(Recall/NDCG/PHR at 10 and 20, repeat/explore split, against G-, P- and GP-TopFreq) and for "for you"
(the new items of that order, already-bought excluded, against MostPop); complements are fitted on the
history before a time cutoff and scored on purchases after it (HitRate/Precision within the window,
against popularity-in-window and symmetric co-occurrence). MLflow logging lives in ``training.tracking``.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.bundle import BundleConfig, ModelBundle
from recommender.data import LoadResult, check_reject_ratio, check_usable, load_orders, write_rejects
from recommender.evaluation import (
    ComplementEvents,
    NextBasketSplit,
    NothingToEvaluateError,
    basket_metrics,
    complement_events,
    complement_metrics,
    g_topfreq,
    gp_topfreq,
    most_pop,
    order_counts,
    p_topfreq,
    popularity_in_window,
    sample_customers,
    split_by_time,
    split_last_order,
    symmetric_cooccurrence,
    topn_metrics,
)
from recommender.history import OrderHistory
from recommender.models.complements import ComplementsModel
from training.engine import LOCAL, Engine
from training.protocol import (
    COMPLEMENTS_K,
    EVALUATION_CUSTOMERS,
    FOR_YOU_K,
    NEXT_PURCHASE_KS,
    complements_cutoff,
)
from training.self_tune import CandidateHook, TuneOutcome, self_tune

StepHook = Callable[[str], None]
EVALUATED_MODELS = ("collaborative", "for_you", "next_purchase")  # what ``score_models`` scores
# what each task's rows were measured on: task -> (its count in ``EvaluationReport.counts``, what it counts)
MEASURED_ON: dict[str, tuple[str, str]] = {
    "next_purchase": ("next_purchase_customers", "customers"),
    "for_you": ("for_you_customers", "customers"),
    "complements": ("complement_anchors", "anchors"),
}
T = TypeVar("T")


@dataclass
class EvaluationReport:
    """Metrics of our models and the baselines measured in the same run.

    ``rows``: one dict per (task, method) with its metrics; ``metrics``: the same flattened into MLflow
    names: ``<task>.<metric>`` for ours, ``<task>.baseline.<method>.<metric>`` for baselines, and ``counts``
    (what each task was measured on, see ``MEASURED_ON``, and the customers eligible) as ``eval.<count>``.
    """

    rows: list[dict[str, object]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    data: EvaluationData | None = field(default=None, repr=False)  # the splits scored (None: nothing to score)

    def add(self, task: str, method: str, values: dict[str, float], ours: bool) -> None:
        """Record one method's metrics; counts (``n_*``) go to ``counts``, undefined (NaN) values are dropped."""
        kept = {key: value for key, value in values.items() if not key.startswith("n_") and np.isfinite(value)}
        self.rows.append({"task": task, "method": method, "ours": ours, **kept})

    @property
    def metrics(self) -> dict[str, float]:
        flat: dict[str, float] = {}
        for row in self.rows:
            prefix = f"{row['task']}." if row["ours"] else f"{row['task']}.baseline.{row['method']}."
            for key, value in row.items():
                if key not in ("task", "method", "ours"):
                    flat[prefix + key] = float(value)  # type: ignore[arg-type]
        for key, value in self.counts.items():
            flat[f"eval.{key}"] = float(value)
        return flat

    def metric(self, name: str) -> float:
        return self.metrics[name]

    def measured_on(self, task: str) -> tuple[int, str] | None:
        """How many customers (complements: anchors) ``task`` was measured on, and which; None: not counted."""
        key, unit = MEASURED_ON.get(task, ("", ""))
        return (self.counts[key], unit) if key in self.counts else None


@dataclass
class TrainingOutcome:
    load: LoadResult
    config: BundleConfig
    report: EvaluationReport
    bundle: ModelBundle
    seconds: dict[str, float]
    eval_customers: int = EVALUATION_CUSTOMERS
    tuning: TuneOutcome | None = None  # None: ``recs train --no-tune``
    engine: str = LOCAL.name  # where the heavy steps ran (``recs train --engine``)


def check_load(result: LoadResult, max_reject_ratio: float) -> None:
    check_reject_ratio(result.summary, max_reject_ratio)
    check_usable(result)


@dataclass(frozen=True)
class EvaluationData:
    """The time-ordered splits every task is scored on, made once (``recs train`` and each ``recs tune`` trial)."""

    split: NextBasketSplit
    bought: sp.csr_matrix  # the evaluated customers' training purchases
    for_you_customers: np.ndarray  # evaluated customers whose last order holds new items
    for_you_targets: sp.csr_matrix  # those new items
    complements_before: OrderHistory  # history before the complements cutoff
    complements_events: ComplementEvents
    complements_window_days: int

    @property
    def has_complement_anchors(self) -> bool:
        return self.complements_before.n_lines > 0 and len(self.complements_events.anchor_items) > 0

    eligible_customers: int = 0  # customers with two or more orders, before sampling

    def counts(self) -> dict[str, int]:
        return {
            "eligible_customers": self.eligible_customers,
            "next_purchase_customers": len(self.split.customers),
            "for_you_customers": len(self.for_you_customers),
            "complement_anchors": len(self.complements_events.anchor_items) if self.has_complement_anchors else 0,
        }


def prepare_evaluation(
    history: OrderHistory, config: BundleConfig, max_customers: int = EVALUATION_CUSTOMERS
) -> EvaluationData:
    """Split once: each customer's last order (next purchase, for you; at most ``max_customers`` of them
    scored, see ``sample_customers``) and a time cutoff (complements).

    Raises ``NothingToEvaluateError`` (a ``DataError``) when no customer has two orders.
    """
    full = split_last_order(history)
    split = sample_customers(full, max_customers)
    bought = split.history_items()
    new_items = (split.targets - split.targets.multiply(bought)).tocsr()
    new_items.eliminate_zeros()
    has_new = np.diff(new_items.indptr) > 0
    window = config.complements.window_days
    cutoff = complements_cutoff(history, window)
    before, _after = split_by_time(history, cutoff)
    return EvaluationData(
        split=split,
        bought=bought,
        for_you_customers=split.customers[has_new],
        for_you_targets=new_items[has_new],
        complements_before=before,
        complements_events=complement_events(history, cutoff, window),
        complements_window_days=window,
        eligible_customers=len(full.customers),
    )


def fit_evaluated_models(history: OrderHistory, config: BundleConfig, on_step: StepHook | None = None) -> ModelBundle:
    """A bundle of just the models ``score_models`` scores (``EVALUATED_MODELS``), wired as ``ModelBundle.fit``
    wires them.

    Popular, similar items and complements are left out: nothing scores them on the split (complements are
    scored from a model fitted before the time cutoff), and similar items alone cost as much as ALS on a large
    shop. Next purchase's neighbour lists are computed for the scored customers only (``complete=False``).
    """
    return ModelBundle.fit(history, config, on_step, only=EVALUATED_MODELS, complete=False)


def score_models(
    data: EvaluationData,
    bundle: ModelBundle,
    config: BundleConfig,
    report: EvaluationReport,
    on_step: StepHook | None = None,
) -> None:
    """Our rows: ``bundle`` (fitted on ``data.split.train``) and complements fitted before the cutoff."""
    step = on_step or (lambda _name: None)
    split = data.split
    step("evaluation: next purchase")
    ranked = bundle.models["next_purchase"].recommend(split.customers, max(NEXT_PURCHASE_KS), now=split.at)
    report.add(
        "next_purchase", "ours", basket_metrics(ranked.items, split.targets, data.bought, NEXT_PURCHASE_KS), True
    )
    step("evaluation: for you")
    if len(data.for_you_customers):
        customers, targets = data.for_you_customers, data.for_you_targets
        ranked = bundle.surface_model("for_you").recommend(customers, FOR_YOU_K)
        report.add("for_you", "ours", topn_metrics(ranked.items, targets, FOR_YOU_K), True)
        if "for_you" in bundle.models:  # the blend answers: show what ALS alone would
            ranked = bundle.models["collaborative"].recommend(customers, FOR_YOU_K)
            report.add("for_you", "als_alone", topn_metrics(ranked.items, targets, FOR_YOU_K), False)
    step("evaluation: complements")
    if data.has_complement_anchors:
        model = ComplementsModel(config.complements).fit(data.complements_before)
        ranked = model.recommend(np.arange(split.train.n_items), COMPLEMENTS_K)
        events = data.complements_events
        report.add(
            "complements",
            "ours",
            complement_metrics(events.anchor_items, events.followups, ranked, COMPLEMENTS_K),
            True,
        )


def score_baselines(data: EvaluationData, report: EvaluationReport) -> None:
    """The baselines' rows on the same splits: G-, P-, GP-TopFreq; MostPop; popularity-in-window and
    symmetric co-occurrence (in the complements' window)."""
    split, kmax = data.split, max(NEXT_PURCHASE_KS)
    counts = order_counts(split.train)
    own = p_topfreq(split.train, split.customers, kmax)
    filled = Ranked(own.items.copy(), own.scores.copy())  # GP-TopFreq fills P-TopFreq's lists in place
    for name, ranked in (
        ("g_topfreq", g_topfreq(split.train, split.customers, kmax, counts)),
        ("p_topfreq", own),
        ("gp_topfreq", gp_topfreq(split.train, split.customers, kmax, filled, counts)),
    ):
        report.add(
            "next_purchase", name, basket_metrics(ranked.items, split.targets, data.bought, NEXT_PURCHASE_KS), False
        )
    if len(data.for_you_customers):
        ranked = most_pop(split.train, data.for_you_customers, FOR_YOU_K, exclude_bought=True)
        report.add("for_you", "most_pop", topn_metrics(ranked.items, data.for_you_targets, FOR_YOU_K), False)
    if data.has_complement_anchors:
        events, window = data.complements_events, data.complements_window_days
        anchors = np.unique(events.anchor_items)  # only the anchors' lists are scored: only they are counted
        for name, ranked in (
            ("popularity_in_window", popularity_in_window(data.complements_before, window, COMPLEMENTS_K)),
            ("symmetric_cooccurrence", symmetric_cooccurrence(data.complements_before, window, COMPLEMENTS_K, anchors)),
        ):
            report.add(
                "complements",
                name,
                complement_metrics(events.anchor_items, events.followups, ranked, COMPLEMENTS_K),
                False,
            )


def evaluate(
    history: OrderHistory,
    config: BundleConfig,
    on_step: StepHook | None = None,
    max_customers: int = EVALUATION_CUSTOMERS,
) -> EvaluationReport:
    """Fit on the training side of the time-ordered splits and score every task against its baselines."""
    step = on_step or (lambda _name: None)
    report = EvaluationReport()
    try:
        data = prepare_evaluation(history, config, max_customers)
    except NothingToEvaluateError:
        step("evaluation skipped: no customer has two orders")
        report.counts.update(dict.fromkeys(("eligible_customers", *(key for key, _ in MEASURED_ON.values())), 0))
        return report
    report.counts.update(data.counts())
    report.data = data
    bundle = fit_evaluated_models(data.split.train, config, on_step=lambda name: step(f"evaluation fit: {name}"))
    score_models(data, bundle, config, report, on_step=step)
    score_baselines(data, report)
    return report


def rescore(data: EvaluationData, config: BundleConfig, on_step: StepHook | None = None) -> EvaluationReport:
    """``config``'s models fitted on the training side of ``data`` and scored on its targets: another version's
    config measured on exactly this run's evaluation (promotion compares on it)."""
    report = EvaluationReport(counts=data.counts(), data=data)
    bundle = fit_evaluated_models(data.split.train, config, on_step=on_step)
    score_models(data, bundle, config, report, on_step=on_step)
    return report


def _in_background(function: Callable[..., T], *args: object) -> Callable[[], T]:
    """Start ``function(*args)`` in a daemon thread; the returned call waits for its value (or raises its error).

    A daemon thread, so that Ctrl+C or an error in the main thread ends the job at once instead of waiting
    for a fit nobody will use.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # handed to the waiting thread as is
            outcome["error"] = exc

    context = contextvars.copy_context()  # the caller's engine (e.g. ``factorized_by``) holds in the thread too
    thread = threading.Thread(target=context.run, args=(run,), name="final-fit", daemon=True)
    thread.start()

    def wait() -> T:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return wait


def _timed(function: Callable[..., T], *args: object) -> tuple[T, float]:
    """``function(*args)`` and the seconds it took."""
    t0 = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - t0


def train(
    orders: Path,
    catalog: Path | None = None,
    config: BundleConfig | None = None,
    max_reject_ratio: float = 0.05,
    rejects_path: Path | None = None,
    on_step: StepHook | None = None,
    on_loaded: Callable[[LoadResult], None] | None = None,
    eval_customers: int = EVALUATION_CUSTOMERS,
    tune: bool = True,
    tune_budget: float | None = None,
    on_candidate: CandidateHook | None = None,
    events: Path | None = None,
    engine: Engine = LOCAL,
) -> TrainingOutcome:
    """Load, validate, pick the tuned surfaces' configs on validation data (``training.self_tune``; ``tune``
    False keeps ``config``), then evaluate on the time-ordered splits while every model is refitted on all the
    data with the picked config.

    ``events``: an exported event directory (``recommender.data.events``): its purchases join the order lines,
    its views and adds to cart become the history's browsing signals, weighted by ``config.events``. Every
    split keeps to time: the evaluation's training side drops each scored customer's signals from the time of
    their held-out order on (``split_last_order``), the complements' side those after its cutoff.

    ``eval_customers`` caps the customers scored (``sample_customers``; 0: everyone); ``tune_budget`` is the
    tuning's time budget in seconds (None: auto); ``on_candidate`` hears of every tuning candidate.

    ``on_loaded`` is called once the data passed its checks, before any fitting (the CLI starts connecting
    to MLflow then, in the background, so that the store is ready when the models are).

    ``engine`` reads the files and fits ALS (``training.engine``); every other step is the same for all engines.
    """
    with engine.running():  # every ALS fit of the job (tuning, evaluation, final fit) runs on the engine
        cfg = config or BundleConfig()
        step = on_step or (lambda _name: None)
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        step("load and validate")
        result = load_orders(
            orders, catalog_path=catalog, events_path=events, event_weights=cfg.events, reader=engine.reader
        )
        if rejects_path is not None:
            write_rejects(result, rejects_path)
        check_load(result, max_reject_ratio)
        seconds["load"] = time.perf_counter() - t0
        if on_loaded is not None:
            on_loaded(result)

        tuning = None
        if tune:
            step("tuning on validation data")
            tuning = self_tune(result.history, cfg, tune_budget, on_candidate, max_customers=eval_customers)
            cfg, seconds["tune"] = tuning.config, tuning.seconds

        # evaluation and the final fit are independent and mostly run in numpy, scipy and implicit, which
        # release the GIL: the final fit runs in a second thread, so a 2-core machine is not half idle
        t0 = time.perf_counter()
        final = _in_background(_timed, ModelBundle.fit, result.history, cfg, lambda name: step(f"final fit: {name}"))
        report, seconds["evaluate"] = _timed(evaluate, result.history, cfg, step, eval_customers)
        bundle, seconds["fit"] = final()
        seconds["evaluate_and_fit"] = time.perf_counter() - t0
        return TrainingOutcome(
            load=result,
            config=cfg,
            report=report,
            bundle=bundle,
            seconds=seconds,
            eval_customers=eval_customers,
            tuning=tuning,
            engine=engine.name,
        )
