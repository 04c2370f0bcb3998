"""``recs generate`` and ``recs train``: the training side's command functions (``recs tune`` is in
training.tune). The ``recs`` command is assembled from them one floor up, with the publish and serve
commands; nothing in this package imports that floor. What ``recs train`` prints is in training.train_report.

Library errors become exit codes in the command functions (these, and training.tune's) and the config loader they
share (training.config_file), nowhere deeper: bad input data exits with 2 (``EXIT_BAD_DATA``) and a message
that says what to fix, after the rejects file is written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from recommender.bundle import BundleConfig
from recommender.data import LoadResult, fingerprint
from recommender.errors import DataError, TooManyRejectsError
from training.config_file import load_bundle_config
from training.engine import LOCAL, Engine, EngineName
from training.exit_codes import EXIT_BAD_DATA, EXIT_NO_ENGINE
from training.pipeline import TrainingOutcome, rescore, train
from training.promotion import PROMOTION_METRIC
from training.self_tune import Candidate
from training.settings import TrainingSettings
from training.train_report import metrics_markdown, metrics_tables, print_registered, small_evaluation_warning
from training.tuning_report import candidate_line, tuning_table

if TYPE_CHECKING:
    from training.tracking import Evidence, MlflowClient, RegisteredRun

FINAL_FIT = "final fit"  # the prefix of the final fit's step names (training.pipeline.train)


def generate(
    out: Annotated[Path, typer.Option("--out", help="Directory for orders.csv and catalog.csv.")],
    customers: Annotated[int, typer.Option(min=10, help="Number of customers.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same shop.")] = 7,
) -> None:
    """Write a realistic synthetic order history and catalog (planted complements, repeat cycles, noise)."""
    from recommender.synthetic import generate as generate_shop

    console = Console()
    t0 = time.perf_counter()
    with console.status(f"generating a shop with {customers} customers"):
        paths = generate_shop(out, customers=customers, seed=seed)
    for name, path in paths.items():
        console.print(f"wrote {name}: {path}")
    console.print(f"done in {time.perf_counter() - t0:.1f}s")


def train_command(
    orders: Annotated[Path, typer.Option("--orders", help="Order lines, CSV or Parquet.")],
    catalog: Annotated[Path | None, typer.Option("--catalog", help="Optional catalog, CSV or Parquet.")] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="An exported event directory (recs events export --out): views and adds to cart weigh in the "
            "for-you models (config section events), purchases not in --orders become order lines.",
        ),
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name.")] = None,
    metrics_json: Annotated[Path | None, typer.Option("--metrics-json", help="Also write the metrics here.")] = None,
    promote: Annotated[bool, typer.Option("--promote", help="Move @champion if better.")] = False,
    max_reject_ratio: Annotated[float, typer.Option(min=0.0, max=1.0, help="Stop when more rows are bad.")] = 0.05,
    rejects: Annotated[Path | None, typer.Option(help="Where to write rejected rows (default: RECS_HOME).")] = None,
    config: Annotated[Path | None, typer.Option(help="Model config JSON.")] = None,
    eval_customers: Annotated[
        int | None,
        typer.Option(min=0, help="Customers the evaluation scores, a seeded sample (0: all; RECS_EVAL_CUSTOMERS)."),
    ] = None,
    tune: Annotated[
        bool | None,
        typer.Option(
            "--tune/--no-tune",
            help="Pick next purchase's and complements' configs on validation data (default: on; RECS_TUNE).",
        ),
    ] = None,
    tune_budget: Annotated[
        float | None,
        typer.Option(min=0.0, help="Seconds the tuning may take (default auto: grows with the data; RECS_TUNE_BUDGET)"),
    ] = None,
    engine: Annotated[
        EngineName,
        typer.Option(
            help="Where the heavy steps run: local (this process) or spark (reading, ALS and next purchase's "
            "neighbours on Apache Spark, docs/spark.md; needs the spark extra and Java).",
        ),
    ] = EngineName.local,
    spark_master: Annotated[
        str, typer.Option("--spark-master", help="Spark master URL for --engine spark (a cluster's, or local[N]).")
    ] = "local[2]",
) -> None:
    """Train every model, evaluate on a time-ordered split against baselines, log to MLflow and register.

    By default the next-purchase and complements configs are first picked on validation data carved from the
    orders (each customer's second-to-last order, a window before the evaluation's cutoff), within a time
    budget; every candidate is an MLflow child run. --no-tune keeps the given config as it is."""
    console = Console()
    settings = TrainingSettings()
    updates: dict[str, object] = {} if tune is None else {"tune": tune}
    if experiment:
        updates["experiment"] = experiment
    if eval_customers is not None:
        updates["eval_customers"] = eval_customers
    if tune_budget is not None:
        updates["tune_budget_seconds"] = tune_budget
    train_and_register(
        console,
        settings.model_copy(update=updates),
        orders,
        catalog,
        promote=promote,
        metrics_json=metrics_json,
        max_reject_ratio=max_reject_ratio,
        rejects=rejects,
        config=config,
        events=events,
        engine=engine.value,
        spark_master=spark_master,
    )


@contextmanager
def _engine(console: Console, name: str, spark_master: str) -> Iterator[Engine]:
    """The named engine, running for the block (Spark: a session on ``spark_master``, stopped after)."""
    if name == EngineName.local.value:
        with LOCAL.running():
            yield LOCAL
        return
    from training.spark import SparkUnavailableError, spark_engine, spark_session

    with ExitStack() as stack:
        try:
            with console.status(f"starting Spark on {spark_master}"):
                session = stack.enter_context(spark_session(spark_master))
        except SparkUnavailableError as exc:
            console.print(f"[red]error:[/red] --engine spark: {exc}")
            raise typer.Exit(EXIT_NO_ENGINE) from exc
        spark = spark_engine(session)
        with spark.running():
            yield spark


def train_and_register(
    console: Console,
    settings: TrainingSettings,
    orders: Path,
    catalog: Path | None,
    *,
    promote: bool = False,
    metrics_json: Path | None = None,
    max_reject_ratio: float = 0.05,
    rejects: Path | None = None,
    config: Path | None = None,
    events: Path | None = None,
    engine: str = "local",
    spark_master: str = "local[2]",
) -> None:
    """``recs train`` (also the demo's training step): exits 2 with a message on bad input data, 6 when
    ``engine`` is spark and Spark cannot start.

    MLflow is imported and connected in a background thread while the models fit (it takes seconds and
    mostly waits on imports and the sqlite store, while fitting mostly runs in numpy, scipy and implicit);
    it starts only once the data passed its checks, so bad input never touches the store.
    """
    bundle_config = load_bundle_config(config, settings, console)
    settings.home.mkdir(parents=True, exist_ok=True)
    rejects_path = rejects or settings.home / "rejects" / f"{orders.stem}-rejects.csv"
    rejects_path.parent.mkdir(parents=True, exist_ok=True)

    with (
        _engine(console, engine, spark_master) as chosen,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow-connect") as pool,
    ):
        connecting: list[Future[MlflowClient]] = []
        printing: list[Future[dict[str, str]]] = []

        def on_loaded(result: LoadResult) -> None:
            connecting.append(pool.submit(_connect_tracking, settings))
            printing.append(pool.submit(fingerprint, result.history))  # beside the fits, not after them

        outcome = _run_with_progress(
            console, orders, catalog, bundle_config, max_reject_ratio, rejects_path, on_loaded, settings, events, chosen
        )
        for line in outcome.load.summary.lines():
            console.print(line)
        if outcome.tuning is not None:
            console.print(tuning_table(outcome.tuning))
        for table in metrics_tables(outcome.report):
            console.print(table)
        if outcome.report.metrics.get(PROMOTION_METRIC) is None:
            console.print(
                f"[yellow]warning[/yellow]: next purchase could not be evaluated ({PROMOTION_METRIC} is missing): "
                "no customer has an order after the time split with history before it. The data are too small "
                "to evaluate, and --promote will not promote this version.",
                highlight=False,
            )
        if (warning := small_evaluation_warning(outcome.report, settings.min_eval_customers)) is not None:
            console.print(warning, highlight=False)

        t0 = time.perf_counter()
        client = connecting[0].result() if connecting else _connect_tracking(settings)
        data_print = printing[0].result() if printing else fingerprint(outcome.load.history)
        evidence = _promotion_evidence(console, client, settings, outcome) if promote else None
        with console.status("logging to MLflow and registering the model"):
            registered = _log_training(
                client, settings, outcome, (orders, catalog, events), rejects_path, promote, evidence, data_print
            )
        mlflow_seconds = time.perf_counter() - t0

    if metrics_json:  # first: nothing printed after training may keep it from being written
        payload = {
            "metrics": outcome.report.metrics,
            "rows": outcome.report.rows,
            "data": {**_data_metrics(outcome), **data_print},
            "seconds": {**outcome.seconds, "mlflow": mlflow_seconds},
            "run_id": registered.run_id,
            "model_name": registered.model_name,
            "version": registered.version,
            "promoted": registered.promoted,
            "promotion": registered.promotion_reason,
            "tuning": outcome.tuning.summary() if outcome.tuning is not None else None,
        }
        metrics_json.parent.mkdir(parents=True, exist_ok=True)
        metrics_json.write_text(json.dumps(payload, indent=2))
    print_registered(console, settings, registered, promote)
    if metrics_json:
        console.print(f"metrics written to {metrics_json}")


def _connect_tracking(settings: TrainingSettings) -> MlflowClient:
    """Import MLflow (through ``training.tracking``, the one mlflow importer) and connect to the store."""
    from training import tracking

    return tracking.connect(settings)


def _promotion_evidence(
    console: Console, client: MlflowClient, settings: TrainingSettings, outcome: TrainingOutcome
) -> Evidence:
    """The champion's config refitted and scored on this run's evaluation split, next to this run's number."""
    from training import tracking

    report = outcome.report
    scored = int(report.counts.get("next_purchase_customers", 0))
    champion = tracking.champion_config(client, settings.model_name)
    value = None
    if champion is not None and report.data is not None and scored >= settings.min_eval_customers:
        version, config = champion
        with console.status(f"scoring champion version {version}'s config on this run's evaluation"):
            value = rescore(report.data, config).metrics.get(PROMOTION_METRIC)
    return tracking.Evidence(report.metrics.get(PROMOTION_METRIC), value, scored, settings.min_eval_customers)


def _log_training(
    client: MlflowClient,
    settings: TrainingSettings,
    outcome: TrainingOutcome,
    inputs: tuple[Path, Path | None, Path | None],
    rejects_path: Path,
    promote: bool,
    evidence: Evidence | None,
    data_print: dict[str, str],
) -> RegisteredRun:
    from training import tracking

    orders, catalog, events = inputs
    tuning = outcome.tuning
    texts = {
        "evaluation/metrics_table.md": metrics_markdown(outcome.report),
        "evaluation/metrics.json": json.dumps(outcome.report.rows, indent=2),
        tracking.CONFIG_ARTIFACT: outcome.config.model_dump_json(indent=2),
    }
    promotion_metrics: dict[str, float] = {}
    if evidence is not None:
        promotion_metrics["promotion.scored_customers"] = float(evidence.scored_customers)
        if evidence.champion_value is not None:
            promotion_metrics[f"promotion.champion.{PROMOTION_METRIC}"] = evidence.champion_value
    tune_params: dict[str, object] = {"enabled": tuning is not None}
    tune_metrics: dict[str, float] = {}
    if tuning is not None:
        texts["tuning/candidates.json"] = json.dumps(tuning.summary(), indent=2)
        tune_params["budget_seconds"] = round(tuning.budget_seconds, 1)
        tune_metrics = {"tune.candidates": float(len(tuning.candidates)), "tune.seconds": tuning.seconds}
    registered = tracking.log_training(
        client,
        settings,
        params={
            **outcome.config.model_dump(mode="json"),
            "evaluation": {"max_customers": outcome.eval_customers},
            "tune": tune_params,
        },
        metrics={
            **outcome.report.metrics,
            **_data_metrics(outcome),
            **_timing_metrics(outcome),
            **tune_metrics,
            **promotion_metrics,
        },
        bundle=outcome.bundle,
        artifacts={"data": rejects_path},
        texts=texts,
        tags={
            "orders": str(orders),
            "catalog": str(catalog or ""),
            "events": str(events or ""),
            "engine": outcome.engine,
            **{f"data.{key}": value for key, value in data_print.items()},
        },
        promote=promote,
        evidence=evidence,
    )
    if tuning is not None:
        tracking.log_candidates(client, settings, registered.run_id, tuning)
    return registered


def _run_with_progress(
    console: Console,
    orders: Path,
    catalog: Path | None,
    config: BundleConfig,
    max_reject_ratio: float,
    rejects_path: Path,
    on_loaded: Callable[[LoadResult], None] | None,
    settings: TrainingSettings,
    events: Path | None = None,
    engine: Engine = LOCAL,
) -> TrainingOutcome:
    """``training.pipeline.train`` with progress; bad input data prints what to fix and exits 2."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        # the final fit reports its steps from its own thread, alongside the evaluation's: one line each
        current: dict[str, int] = {}

        def on_step(name: str) -> None:
            stream = FINAL_FIT if name.startswith(FINAL_FIT) else "main"
            if stream in current:
                progress.update(current[stream], completed=1, total=1)
            current[stream] = progress.add_task(name, total=None)

        def on_candidate(candidate: Candidate) -> None:
            progress.console.print(f"  tuning {candidate_line(candidate)}")

        try:
            outcome = train(
                orders,
                catalog,
                config,
                max_reject_ratio,
                rejects_path,
                on_step=on_step,
                on_loaded=on_loaded,
                eval_customers=settings.eval_customers,
                tune=settings.tune,
                tune_budget=settings.tune_budget_seconds,
                on_candidate=on_candidate,
                events=events,
                engine=engine,
            )
        except TooManyRejectsError as exc:
            console.print(f"[red]error:[/red] {exc}. Rejected rows and reasons: {rejects_path}")
            console.print("Fix the input, or raise --max-reject-ratio to accept it.")
            raise typer.Exit(EXIT_BAD_DATA) from exc
        except DataError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(EXIT_BAD_DATA) from exc
        for task in current.values():
            progress.update(task, completed=1, total=1)
    return outcome


def _data_metrics(outcome: TrainingOutcome) -> dict[str, float]:
    s = outcome.load.summary
    h = outcome.load.history
    events = s.events.metrics() if s.events is not None else {}
    return {
        **{f"data.{name}": float(value) for name, value in events.items()},
        "data.signals": float(len(h.signals)),
        "data.rows_in": s.rows_in,
        "data.rows_kept": s.rows_kept,
        "data.rows_rejected": s.rows_rejected,
        "data.customers": h.n_customers,
        "data.items": h.n_items,
        "data.orders": h.n_orders,
    }


def _timing_metrics(outcome: TrainingOutcome) -> dict[str, float]:
    return {f"seconds.{name}": value for name, value in outcome.seconds.items()}
