"""Publishing a registered model version from the command line, shared by ``recs publish``, ``recs demo``,
``recs promote`` and ``recs rollback``: the Redis to publish to (``redis_url``), ``publish_from_registry``
(fetch the bundle through training.tracking, then ``serving.publish`` with progress bars), and the exit
codes of the commands that publish.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from serving.embedded_redis import shared_embedded_redis
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from serving.publish import PublishReport

EXIT_NO_MODEL = 3  # no registered model (version) to publish, promote or roll back to
EXIT_BAD_MODEL = 4  # a model artifact is missing, damaged or tampered: nothing written
PUBLISH_K = 100  # candidates kept per customer and item (recs publish --k)
GRACE_SECONDS = 3600  # how long the previous version stays readable (recs publish --grace-seconds)


@contextlib.contextmanager
def redis_url(settings: TrainingSettings) -> Iterator[str]:
    """``RECS_REDIS_URL`` when set, else the embedded server under ``RECS_HOME/redis`` (one node: refused when
    ``RECS_REDIS_CLUSTER`` is true)."""
    from serving.settings import ServingSettings

    configured = os.environ.get("RECS_REDIS_URL")
    if configured:
        yield configured
        return
    if ServingSettings().redis_cluster:
        raise typer.BadParameter("RECS_REDIS_CLUSTER=true needs RECS_REDIS_URL, a node of the cluster")
    with shared_embedded_redis(settings.home / "redis") as url:
        yield url


def publish_from_registry(
    console: Console,
    settings: TrainingSettings,
    url: str,
    model_uri: str | None,
    k: int,
    grace_seconds: int,
    *,
    activate: bool = True,
) -> PublishReport:
    """Publish the registered version ``model_uri`` (default: ``@champion``); with ``activate`` off, write it
    without making it the active version (an experiment's challenger)."""
    from serving.cache import connect_sync
    from serving.publish import publish_bundle
    from training import tracking

    uri = model_uri or f"models:/{settings.model_name}@{tracking.CHAMPION}"
    with console.status(f"fetching {uri} from {settings.resolved_tracking_uri}"):
        client = tracking.connect(settings)
        try:
            name, version = tracking.resolve_model_version(client, uri)
        except LookupError as exc:
            console.print(f"[red]error:[/red] {exc}. Train one first: recs train --orders PATH --promote")
            raise typer.Exit(EXIT_NO_MODEL) from exc
        with tempfile.TemporaryDirectory(prefix="recs-publish-") as tmp:
            bundle = tracking.download_bundle(client, uri, Path(tmp))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    totals = {
        "for_you": len(bundle.customers),
        "next_purchase": len(bundle.customers),
        "complements": len(bundle.items),
        "similar": len(bundle.items),
    }
    redis_client = connect_sync(url)
    try:
        with Progress(*columns, console=console) as progress:
            tasks = {name_: progress.add_task(name_, total=total) for name_, total in totals.items()}

            def on_progress(surface: str, done: int) -> None:
                if surface in tasks:
                    progress.update(tasks[surface], completed=done)

            report = publish_bundle(
                bundle,
                redis_client,
                model_name=name,
                model_version=version,
                k=k,
                grace_seconds=grace_seconds,
                progress=on_progress,
                activate=activate,
            )
    finally:
        redis_client.close()
    return report
