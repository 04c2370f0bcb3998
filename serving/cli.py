"""The ``recs`` command, assembled here: ``generate`` and ``train`` from training.cli, ``tune`` from
training.tune, ``simulate`` from serving.simulator, ``promote`` and ``rollback`` from
serving.champion_commands, ``catalog push`` from serving.catalog_command, and the serving side's own
``publish``, ``serve`` and ``demo`` (publishing a registered version: serving.registry_publish). The console
script is ``recs = "serving.launch:main"`` (the allocator's settings, then ``main`` here); training never
imports serving.

With ``RECS_REDIS_URL`` unset, each serving command uses the project's embedded Redis server (its data under
``RECS_HOME/redis``, shared between commands, reused when one is already running). The registered model
comes from MLflow through ``training.tracking``; this package never imports mlflow itself.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from recommender.synthetic import DEMO_CUSTOMERS, DEMO_SEED
from serving.catalog_command import app as catalog_app
from serving.champion_commands import promote_command, rollback_command
from serving.experiments.commands import app as experiment_app
from serving.feedback.export_command import events_app
from serving.registry_publish import EXIT_BAD_MODEL, GRACE_SECONDS, PUBLISH_K, publish_from_registry, redis_url
from serving.rules_commands import rules_app
from serving.servers import DEFAULT_SERVER, Server, serve_environment
from serving.servers import run_server as run_servers
from serving.simulator.command import simulate_command
from training.cli import generate, train_and_register, train_command
from training.settings import TrainingSettings
from training.tune import tune_command

if TYPE_CHECKING:
    from recommender.synthetic import Shop

DEMO_SHOPPERS = 40  # the demo's short simulation


def publish_command(
    model_uri: Annotated[
        str | None, typer.Option("--model-uri", help="Default: models:/<RECS_MODEL_NAME>@champion")
    ] = None,
    k: Annotated[int, typer.Option(min=1, max=1000, help="Candidates kept per customer and item.")] = PUBLISH_K,
    grace_seconds: Annotated[int, typer.Option(min=1, help="How long the previous version stays readable.")] = (
        GRACE_SECONDS
    ),
) -> None:
    """Precompute every list from a registered model into Redis, then switch the active version atomically."""
    from recommender.errors import ModelFileError

    console = Console()
    settings = TrainingSettings()
    try:
        with redis_url(settings) as url:
            report = publish_from_registry(console, settings, url, model_uri, k, grace_seconds)
    except ModelFileError as exc:  # missing, damaged or tampered artifact: refused before any Redis write
        console.print(f"error: {exc}. Nothing was written; the active version keeps serving.", markup=False)
        raise typer.Exit(EXIT_BAD_MODEL) from exc
    console.print(
        f"published version {report.version} in {report.seconds:.1f}s "
        f"(previous: {report.previous_version or 'none'}): "
        + ", ".join(f"{n:,} {surface}" for surface, n in report.counts.items())
    )


class LogLevel(StrEnum):
    """uvicorn's levels, without ``trace`` (it logs every request's headers, API keys included)."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    log_level: Annotated[LogLevel, typer.Option(help="Server log level.")] = LogLevel.warning,
    access_log: Annotated[
        bool, typer.Option(help="Log one line per request (method, path, status; never headers or API keys).")
    ] = False,
    server: Annotated[Server, typer.Option(help="The ASGI server (make bench-serve compares them).")] = DEFAULT_SERVER,
) -> None:
    """Run the v1 HTTP API (OpenAPI at /docs)."""
    settings = TrainingSettings()
    with redis_url(settings) as url:
        run_server(url, host, port, workers, Console(), server=server, log_level=log_level.value, access_log=access_log)


def run_server(
    url: str,
    host: str,
    port: int,
    workers: int,
    console: Console,
    *,
    server: Server = DEFAULT_SERVER,
    log_level: str = "warning",
    access_log: bool = False,
    after_ready: Callable[[], None] | None = None,
) -> None:
    """Serve the app (``serving.servers``); "serving on http://HOST:PORT" is printed once the port accepts
    connections, then ``after_ready`` is called (it must return at once).

    With several workers the workers load the app on their own, so the line is printed once the socket is
    bound, before the workers have loaded the app (``/readyz`` says when they answer).
    """
    many = f" with {workers} workers" if workers > 1 else ""
    line = f"serving on http://{host}:{port}{many} (docs: /docs); Ctrl+C stops"

    def on_ready() -> None:
        console.print(line, soft_wrap=True)
        if after_ready is not None:
            after_ready()

    settings = TrainingSettings()
    serve_environment(url, settings.model_name, str(settings.home / "event-spool"))
    run_servers(host, port, workers, on_ready, server=server, log_level=log_level, access_log=access_log)


def demo_command(
    customers: Annotated[int, typer.Option(min=100, help="Customers in the generated shop.")] = DEMO_CUSTOMERS,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    serve: Annotated[bool, typer.Option(help="Serve after publishing (--no-serve stops there).")] = True,
    simulate_seconds: Annotated[
        float,
        typer.Option(min=0.0, help="Simulated shoppers once the server is up, so the KPIs are not empty (0: none)."),
    ] = 20.0,
) -> None:
    """The main job on embedded defaults: generate a shop, train, publish, then serve on 127.0.0.1 (simulated
    shoppers visit for a short while once it is up, in the background, so the journey KPIs are not empty)."""
    from recommender.synthetic import ShopConfig, generate_shop, write_shop

    console = Console()
    settings = TrainingSettings()
    shop_dir = settings.home / "demo-shop"
    t0 = time.perf_counter()
    with console.status(f"generating a shop with {customers:,} customers into {shop_dir}"):
        shop = generate_shop(ShopConfig(customers=customers, seed=DEMO_SEED))
        paths = write_shop(shop, shop_dir)
    console.print(f"[bold]1/4 generated[/bold] {paths['orders']} and {paths['catalog']}")
    console.print("[bold]2/4 training[/bold] (evaluation on the time split, then MLflow)")
    train_and_register(console, settings, paths["orders"], paths["catalog"], promote=True)
    with redis_url(settings) as url:
        console.print("[bold]3/4 publishing[/bold] to Redis")
        report = publish_from_registry(console, settings, url, None, PUBLISH_K, GRACE_SECONDS)
        console.print(
            f"published version {report.version}: "
            + ", ".join(f"{n:,} {surface}" for surface, n in report.counts.items())
        )
        console.print(f"ready in {time.perf_counter() - t0:.0f}s")
        print_examples(console, paths, port)
        if serve:
            console.print("[bold]4/4 starting the server[/bold]")
            after_ready = None
            if simulate_seconds > 0:
                after_ready = demo_simulation(console, shop, port, simulate_seconds)
            run_server(url, "127.0.0.1", port, 1, console, after_ready=after_ready)


def demo_simulation(console: Console, shop: Shop, port: int, seconds: float) -> Callable[[], None]:
    """What the demo calls once the server is up: simulated shoppers in the background (the service's keys)."""
    from serving.settings import ServingSettings
    from serving.simulator.command import simulate_in_background
    from serving.simulator.run import RunOptions

    serving = ServingSettings()
    options = RunOptions(
        url=f"http://127.0.0.1:{port}",
        shoppers=DEMO_SHOPPERS,
        seconds=seconds,
        api_key=next(iter(serving.read_keys), None),
        write_key=next(iter(serving.write_keys), None),
    )

    def start() -> None:
        console.print(f"simulating {DEMO_SHOPPERS} shoppers for {seconds:.0f}s (recs simulate)")
        simulate_in_background(console, shop, options)

    return start


def print_examples(console: Console, paths: dict[str, Path], port: int) -> None:
    """Ready-to-paste curl commands: a tent buyer's lists, the tent's complements, a purchase event."""
    import polars as pl

    orders = pl.read_csv(paths["orders"], columns=["customer_id", "item_id"])
    tent = "tent-2p-explorer"
    buyers = orders.filter(pl.col("item_id") == tent)["customer_id"].unique().sort()
    customer = str(buyers[0]) if len(buyers) else str(orders["customer_id"][0])
    never = orders.filter(~pl.col("customer_id").is_in(buyers))["customer_id"].unique().sort()
    newcomer = str(never[0]) if len(never) else customer
    base = f"http://127.0.0.1:{port}"
    lines = [
        "# a tent buyer's lists",
        f"curl -s '{base}/v1/users/{customer}/recommendations?k=5'",
        f"curl -s '{base}/v1/users/{customer}/next-purchase?k=5'",
        "# what goes with the tent (sleeping bags, never another tent)",
        f"curl -s '{base}/v1/items/{tent}/complements?k=5'",
        "# a customer buys a tent: the next answer drops it and offers what goes with it",
        f"curl -s '{base}/v1/users/{newcomer}/recommendations?k=5'",
        f"curl -s -X POST '{base}/v1/events' -H 'content-type: application/json' "
        f'-d \'{{"customer_id": "{newcomer}", "type": "purchase", "item_ids": ["{tent}"]}}\'',
        f"curl -s '{base}/v1/users/{newcomer}/recommendations?k=5'",
        "# popular, similar items, cart complements, an unknown customer (marked fallback)",
        f"curl -s '{base}/v1/popular?k=5&category=Coffee'",
        f"curl -s '{base}/v1/items/{tent}/similar?k=5'",
        f"curl -s -X POST '{base}/v1/cart/complements' -H 'content-type: application/json' "
        f'-d \'{{"item_ids": ["{tent}"], "k": 5}}\'',
        f"curl -s '{base}/v1/users/nobody-knows-me/recommendations?k=5'",
    ]
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def build_app() -> typer.Typer:
    """``recs``: training's commands (generate, train, tune), then serving's (publish, promote, rollback, serve,
    demo, simulate, events, experiment, rules)."""
    app = typer.Typer(
        add_completion=False, no_args_is_help=True, help="Train, evaluate and serve storefront recommendations."
    )
    app.command("generate")(generate)
    app.command("train")(train_command)
    app.command("tune")(tune_command)
    app.command("publish")(publish_command)
    app.command("promote")(promote_command)
    app.command("rollback")(rollback_command)
    app.command("serve")(serve_command)
    app.command("demo")(demo_command)
    app.command("simulate")(simulate_command)
    app.add_typer(events_app(lambda: redis_url(TrainingSettings())), name="events")
    app.add_typer(experiment_app, name="experiment")
    app.add_typer(rules_app(lambda: redis_url(TrainingSettings())), name="rules")
    app.add_typer(catalog_app, name="catalog")
    return app


def main() -> None:
    try:
        build_app()()
    finally:
        # what is left at exit (a bundle, MLflow's and rich's objects) is frozen out of the interpreter's
        # last garbage collections: they reclaim nothing the OS does not, and took 0.8 s after a 2M publish
        gc.freeze()


if __name__ == "__main__":
    main()
