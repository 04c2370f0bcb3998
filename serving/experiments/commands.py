"""``recs experiment start/status/stop``: a challenger on live traffic next to the champion, its numbers, and
its end (promotion when it won).

``start`` publishes the challenger's lists as a version that is not active, then stores the experiment
(``store.start``: refused while another one runs) and points the registry's ``challenger`` alias at it.
``status`` prints each variant's numbers from the per-customer counters (``report``). ``stop`` records the
result on both versions in MLflow, ends the experiment and, with ``--promote-if-better`` and a challenger
that won at ``--alpha``, makes the challenger's already published version active in the same transaction
and moves ``champion`` to it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from serving.experiments.config import EXPERIMENT_SURFACES, VARIANTS, Experiment
from serving.experiments.report import DEFAULT_ALPHA
from serving.registry_publish import EXIT_BAD_MODEL, EXIT_NO_MODEL, GRACE_SECONDS, PUBLISH_K, redis_url
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from serving.cache import SyncRedis

EXIT_CONFLICT = 5  # another experiment runs, or none does
DEFAULT_SHARE = 0.2
DEFAULT_SURFACES = ("for_you", "next_purchase")

app = typer.Typer(no_args_is_help=True, help="Champion/challenger experiments on live traffic.")


def _fail(console: Console, message: str, code: int) -> typer.Exit:
    console.print(f"error: {message}", markup=False)
    return typer.Exit(code)


@app.command("start")
def start_command(
    challenger: Annotated[
        str, typer.Option(help="The challenger: models:/NAME/VERSION, or a version number of RECS_MODEL_NAME.")
    ],
    share: Annotated[float, typer.Option(min=0.01, max=0.99, help="The challenger's share of customers.")] = (
        DEFAULT_SHARE
    ),
    surfaces: Annotated[
        list[str] | None,
        typer.Option(help=f"Surfaces in the experiment (repeat the option): {', '.join(EXPERIMENT_SURFACES)}."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The experiment's name (default: challenger-v<VERSION>-<time>).")
    ] = None,
) -> None:
    """Serve a registered version to a share of customers next to @champion (one experiment at a time)."""
    from recommender.errors import ModelFileError
    from serving.cache import connect_sync
    from serving.experiments import store
    from serving.registry_publish import publish_from_registry
    from training import tracking

    console = Console(soft_wrap=True)
    settings = TrainingSettings()
    client = tracking.connect(settings)
    uri = challenger if challenger.startswith("models:/") else f"models:/{settings.model_name}/{challenger.strip()}"
    try:
        model_name, version = tracking.resolve_model_version(client, uri)
    except LookupError as exc:
        raise _fail(console, f"{exc}. Nothing started.", EXIT_NO_MODEL) from exc
    champion = tracking.current_champion(client, model_name)
    if champion is None:
        raise _fail(console, f"model {model_name!r} has no @champion to compare with. Nothing started.", EXIT_NO_MODEL)
    if champion == version:
        raise _fail(console, f"version {version} is @champion already: nothing to compare.", EXIT_CONFLICT)
    started_at = int(time.time())
    try:
        definition = Experiment(
            name=name or f"challenger-v{version}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started_at))}",
            model_name=model_name,
            challenger_model_version=version,
            challenger_version="(not yet published)",
            champion_model_version=champion,
            share=share,
            surfaces=tuple(surfaces or DEFAULT_SURFACES),
            started_at=started_at,
        )
    except ValueError as exc:
        raise _fail(console, f"{exc}", 2) from exc
    with redis_url(settings) as url:
        redis_client = connect_sync(url)
        try:
            running = store.read_experiment(redis_client)
            if running is not None:
                raise _fail(
                    console,
                    f"experiment {running.name!r} is running: one experiment at a time (recs experiment stop ends it)",
                    EXIT_CONFLICT,
                )
            if store.active_version(redis_client) is None:
                raise _fail(console, "nothing is published: recs publish the champion first.", EXIT_NO_MODEL)
            try:
                report = publish_from_registry(
                    console, settings, url, f"models:/{model_name}/{version}", PUBLISH_K, GRACE_SECONDS, activate=False
                )
            except ModelFileError as exc:
                raise _fail(console, f"{exc}. Nothing started.", EXIT_BAD_MODEL) from exc
            definition = definition.model_copy(update={"challenger_version": report.version})
            try:
                store.start(redis_client, definition)
            except store.ExperimentRunningError as exc:
                store.expire_unused(redis_client, report.version, GRACE_SECONDS)
                raise _fail(console, str(exc), EXIT_CONFLICT) from exc
        finally:
            redis_client.close()
    tracking.mark_challenger(client, model_name, version, champion, definition.name, started_at)
    console.print(
        f"experiment {definition.name}: challenger version {version} (published {report.version}) for "
        f"{share:.0%} of customers on {', '.join(definition.surfaces)}; champion version {champion} for the rest",
        markup=False,
    )
    console.print("recs experiment status shows the numbers; recs experiment stop ends it", markup=False)


@contextlib.contextmanager
def running_experiment(console: Console, settings: TrainingSettings) -> Iterator[tuple[SyncRedis, Experiment]]:
    """(a Redis client, the running experiment) while the block runs; exit code 5 when none runs."""
    from serving.cache import connect_sync
    from serving.experiments import store

    with redis_url(settings) as url:
        redis_client = connect_sync(url)
        try:
            try:
                experiment = store.running(redis_client)
            except store.NoExperimentError as exc:
                raise _fail(console, str(exc), EXIT_CONFLICT) from exc
            yield redis_client, experiment
        finally:
            redis_client.close()


def current_report(redis_client: SyncRedis, experiment: Experiment, alpha: float, *, running: bool) -> dict[str, Any]:
    from serving.experiments import store
    from serving.experiments.report import experiment_report

    champion_version = experiment.champion_model_version
    counters = {variant: store.counters(redis_client, experiment.name, variant) for variant in VARIANTS}
    return experiment_report(
        experiment,
        counters["champion"],
        counters["challenger"],
        champion_model_version=champion_version,
        alpha=alpha,
        running=running,
    )


@app.command("status")
def status_command(
    json_output: Annotated[bool, typer.Option("--json", help="Print the status as JSON only.")] = False,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, help="Significance level for the winner.")] = (
        DEFAULT_ALPHA
    ),
) -> None:
    """Each variant's customers, impressions, CTR, conversion and revenue per thousand impressions (95%
    intervals), the p-value of the difference in conversion, and the winner at --alpha (if any)."""
    console = Console(soft_wrap=True)
    with running_experiment(console, TrainingSettings()) as (redis_client, experiment):
        report = current_report(redis_client, experiment, alpha, running=True)
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    print_report(console, report)


def _number(value: float | None, interval: list[float] | None, digits: int) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return text if interval is None else f"{text} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def print_report(console: Console, report: dict[str, Any]) -> None:
    table = Table(title=f"experiment {report['name']} ({', '.join(report['surfaces'])}; 95% intervals)")
    for column in ("variant", "version", "customers", "impressions", "CTR", "conversion", "revenue / 1000 imp."):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in report["variants"]:
        table.add_row(
            row["variant"],
            row["model_version"],
            f"{row['customers']:,}",
            f"{row['impressions']:,}",
            _number(row["ctr"], row["ctr_ci95"], 4),
            _number(row["conversion_rate"], row["conversion_rate_ci95"], 4),
            _number(row["revenue_per_mille"], row["revenue_per_mille_ci95"], 2),
        )
    console.print(table)
    p = report["p_value"]
    console.print(f"test: {report['test']}", markup=False)
    console.print(
        f"p-value {'-' if p is None else f'{p:.3g}'}; winner at alpha {report['alpha']}: "
        f"{report['winner'] or 'none yet'}",
        markup=False,
    )
    srm = report["sample_ratio_p_value"]
    if srm is not None and srm < 0.001:
        console.print(
            f"warning: the split is off ({srm:.2g} p-value of the customers' shares against {report['share']}): "
            "do not trust the comparison",
            markup=False,
        )


@app.command("stop")
def stop_command(
    promote_if_better: Annotated[
        bool,
        typer.Option(
            "--promote-if-better",
            help="When the challenger won at --alpha: make it @champion and serve its lists to everyone now.",
        ),
    ] = False,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, help="Significance level for the winner.")] = (
        DEFAULT_ALPHA
    ),
    json_output: Annotated[bool, typer.Option("--json", help="Print the final status as JSON only.")] = False,
) -> None:
    """End the experiment: record the result on both versions in MLflow (tags and metric histories), remove
    @challenger, and with --promote-if-better promote a challenger that won."""
    from serving.experiments import store
    from serving.experiments.report import hourly_history
    from serving.feedback.store import HOUR
    from serving.settings import ServingSettings
    from training import tracking

    console = Console(soft_wrap=True, stderr=json_output)
    settings = TrainingSettings()
    kpi_ttl = ServingSettings().kpi_retention_days * 86400
    now = time.time()
    with running_experiment(console, settings) as (redis_client, experiment):
        report = current_report(redis_client, experiment, alpha, running=False)
        hours = list(range(experiment.started_at // HOUR, int(now) // HOUR + 1))
        history = hourly_history(experiment, hours, store.read_hours_sync(redis_client, hours), now)
        promote = promote_if_better and report["winner"] == "challenger"
        replaced = store.stop(redis_client, experiment, promote=promote, grace_seconds=GRACE_SECONDS)
        store.expire_counters(redis_client, experiment.name, VARIANTS, kpi_ttl)
    client = tracking.connect(settings)
    winner = report["winner"]
    outcomes = []
    for row in report["variants"]:
        final = {
            k: float(row[k])
            for k in ("impressions", "ctr", "conversion_rate", "revenue_per_mille")
            if row[k] is not None
        }
        result = "inconclusive" if winner is None else ("won" if winner == row["variant"] else "lost")
        points = [*history[row["variant"]], (int(now * 1000), final)]
        outcomes.append(tracking.VariantOutcome(row["variant"], row["model_version"], result, points))
    tracking.record_outcome(
        client,
        experiment.model_name,
        experiment.name,
        outcomes,
        p_value=report["p_value"],
        winner=winner,
        ended_at=int(now),
    )
    tracking.clear_challenger(client, experiment.model_name)
    if promote:
        rates = {row["variant"]: row["conversion_rate"] for row in report["variants"]}
        reason = (
            f"won experiment {experiment.name}: conversion {rates['challenger']:.4f} vs {rates['champion']:.4f}, "
            f"p={report['p_value']:.3g}"
        )
        move = tracking.plan_promotion(client, experiment.model_name, experiment.challenger_model_version, reason)
        tracking.move_champion(client, move)
    if json_output:
        typer.echo(json.dumps({**report, "promoted": promote}, indent=2))
        return
    print_report(console, report)
    if promote:
        console.print(
            f"{move.describe()}; now serving its lists ({experiment.challenger_version}) to everyone "
            f"(replacing {replaced or 'nothing'})",
            markup=False,
        )
    elif promote_if_better:
        console.print(
            f"not promoted: the challenger did not win at alpha {alpha}; champion stays version "
            f"{experiment.champion_model_version}",
            markup=False,
        )
    console.print(
        f"experiment {experiment.name} stopped; the result is recorded on both versions in MLflow", markup=False
    )
