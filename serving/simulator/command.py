"""``recs simulate``: simulated shoppers of a generated shop against a running service, with their own ledger.

The shop is regenerated in memory from ``--shop-customers`` and ``--shop-seed`` (by default ``recs demo``'s),
so its customers and items are those the service's model was trained on. Exit code 0 when every call
succeeded and every event was accepted, 1 otherwise (the report lists the problems) or when the service does
not answer at all.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from recommender.synthetic import DEMO_CUSTOMERS, DEMO_SEED, Shop, ShopConfig
from serving.simulator.run import RunOptions, RunResult, ServiceUnreachableError, simulate
from serving.simulator.storefront import Tally

EXIT_PROBLEMS = 1


def simulate_command(
    url: Annotated[str, typer.Option(help="The service's base URL, e.g. http://127.0.0.1:8000")],
    shoppers: Annotated[int, typer.Option(min=1, max=10_000, help="Shoppers visiting concurrently.")] = 50,
    minutes: Annotated[float, typer.Option(min=0.0, help="How long the shoppers keep visiting.")] = 1.0,
    seed: Annotated[int, typer.Option(min=0, help="Seeds who shops and every draw of their behaviour.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print only the ledger, as JSON, on stdout.")] = False,
    api_key: Annotated[
        str | None, typer.Option(help="Sent as X-API-Key (a key of the service's RECS_API_KEYS).")
    ] = None,
    write_key: Annotated[
        str | None, typer.Option(help="X-API-Key for events (RECS_EVENT_API_KEYS); default: --api-key.")
    ] = None,
    shop_customers: Annotated[
        int, typer.Option(min=1, help="Customers of the generated shop the service was trained on.")
    ] = DEMO_CUSTOMERS,
    shop_seed: Annotated[
        int, typer.Option(min=0, help="Seed of the generated shop the service was trained on.")
    ] = DEMO_SEED,
    guest_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of shoppers who are guests.")] = 0.2,
    guest_tag: Annotated[
        str | None,
        typer.Option(
            help="Names the guests guest-<TAG>-<number> (default: a new tag per run). With the same --seed, a run "
            "with the same tag brings back the same guests with the same tastes (returning shoppers).",
        ),
    ] = None,
    attribution_window_seconds: Annotated[
        int | None,
        typer.Option(min=1, help="The service's RECS_ATTRIBUTION_WINDOW_SECONDS; default: read from GET /v1/kpis."),
    ] = None,
) -> None:
    """Simulated shoppers browse, click and buy on the service's lists, send every event back, and keep a
    ledger of what they were shown, clicked and bought (it equals GET /v1/kpis on a fresh store)."""
    from recommender.synthetic import generate_shop
    from serving.simulator.report import print_report, report_json

    console = Console(stderr=json_output, quiet=json_output)
    with console.status(f"generating the shop ({shop_customers:,} customers, seed {shop_seed})"):
        shop = generate_shop(ShopConfig(customers=shop_customers, seed=shop_seed))
    options = RunOptions(
        url=url,
        shoppers=shoppers,
        seconds=minutes * 60.0,
        seed=seed,
        guest_share=guest_share,
        api_key=api_key,
        write_key=write_key,
        attribution_window_seconds=attribution_window_seconds,
        guest_tag=guest_tag,
    )
    try:
        result = run_with_progress(shop, options, console, progress=not json_output)
    except ServiceUnreachableError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_PROBLEMS) from exc
    if json_output:
        print(json.dumps(report_json(result)))
    else:
        print_report(console, result)
    if result.problems.total():
        raise typer.Exit(EXIT_PROBLEMS)


def run_with_progress(shop: Shop, options: RunOptions, console: Console, *, progress: bool = True) -> RunResult:
    """Run the simulation (its own event loop) with a progress bar on ``console`` (none with ``progress=False``)."""
    if not progress:
        return asyncio.run(simulate(shop, options))
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), TextColumn("{task.fields[tally]}"))
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{options.shoppers} shoppers", total=max(options.seconds, 0.001), tally="")

        def on_progress(elapsed: float, tally: Tally) -> None:
            bar.update(
                task,
                completed=min(elapsed, options.seconds),
                tally=f"{tally.visits:,} visits, {tally.events_accepted:,} events, {tally.purchase_lines:,} purchases",
            )

        return asyncio.run(simulate(shop, options, on_progress))


def simulate_in_background(console: Console, shop: Shop, options: RunOptions) -> threading.Thread:
    """``recs demo``'s short run: the simulation in a daemon thread (the server keeps the foreground), then its
    table and where to look."""

    def work() -> None:
        from serving.simulator.report import print_report

        try:
            result = run_with_progress(shop, options, console)
        except ServiceUnreachableError as exc:
            console.print(f"simulation skipped: {exc}", markup=False)
            return
        print_report(console, result)
        console.print(
            f"journey KPIs: the dashboard at {options.url}/dashboard, the JSON at {options.url}/v1/kpis",
            soft_wrap=True,
        )

    thread = threading.Thread(target=work, name="recs-demo-simulation", daemon=True)
    thread.start()
    return thread
