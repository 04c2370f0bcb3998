"""``recs promote VERSION`` and ``recs rollback``: move ``champion`` by hand, then publish the new champion.

The move and its history (tags on the model version, how far rollback goes) are training.tracking's
(``aliases``); this module adds the publish step and turns the registry's errors into exit codes: 3
(``EXIT_NO_MODEL``) for an unknown version, no champion or nothing to roll back to, 4 (``EXIT_BAD_MODEL``)
when the new champion's artifacts are refused.

With publish on, the version is published first and ``champion`` moves only once it is live: a publish that
fails (a damaged artifact) leaves both the alias and the active version as they were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from serving.registry_publish import (
    EXIT_BAD_MODEL,
    EXIT_NO_MODEL,
    GRACE_SECONDS,
    PUBLISH_K,
    publish_from_registry,
    redis_url,
)
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from training.tracking import ChampionMove

PUBLISH_HELP = "Publish the new champion to Redis before moving the alias (--no-publish: move the alias only)."


def promote_command(
    version: Annotated[str, typer.Argument(help="The registered model version to make @champion.")],
    reason: Annotated[str | None, typer.Option(help="Why, recorded on the version (recs.promotion_reason).")] = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish/--no-publish",
            help=PUBLISH_HELP + " On by default: what serves should be @champion, and a later recs rollback "
            "returns to what was serving.",
        ),
    ] = True,
) -> None:
    """Make a chosen version @champion (reason logged as a tag) and publish it; prints what changed."""
    from training import tracking

    console = Console()
    settings = TrainingSettings()
    client = tracking.connect(settings)
    try:
        move = tracking.plan_promotion(client, settings.model_name, version, reason or "promoted by hand")
    except tracking.UnknownVersionError as exc:
        console.print(f"[red]error:[/red] {exc}. Nothing changed.")
        raise typer.Exit(EXIT_NO_MODEL) from exc
    if not move.changed:
        console.print(f"{move.describe()} (recs publish republishes it)", markup=False)
        return
    _apply(console, settings, move, publish)


def rollback_command(
    reason: Annotated[
        str | None,
        typer.Option(
            help="Why: recs.rollback_reason on the version returned to, recs.demotion_reason on the one left."
        ),
    ] = None,
    publish: Annotated[bool, typer.Option("--publish/--no-publish", help=PUBLISH_HELP)] = True,
) -> None:
    """Return @champion to the version it was promoted from and republish it; prints what changed.

    Each rollback undoes one promotion: a second one returns to the champion before that, back to the first."""
    from training import tracking

    console = Console()
    settings = TrainingSettings()
    client = tracking.connect(settings)
    try:
        move = tracking.plan_rollback(client, settings.model_name, reason or "rolled back by hand")
    except (tracking.NoChampionError, tracking.NothingToRollBackError) as exc:
        console.print(f"[red]error:[/red] {exc}. Nothing changed.")
        raise typer.Exit(EXIT_NO_MODEL) from exc
    _apply(console, settings, move, publish)


def _apply(console: Console, settings: TrainingSettings, move: ChampionMove, publish: bool) -> None:
    """Publish ``move.version`` (when asked), then move the alias; print the move, then the published version."""
    from recommender.errors import ModelFileError
    from training import tracking

    report = None
    if publish:
        uri = f"models:/{move.model_name}/{move.version}"
        try:
            with redis_url(settings) as url:
                report = publish_from_registry(console, settings, url, uri, PUBLISH_K, GRACE_SECONDS)
        except ModelFileError as exc:
            console.print(
                f"error: {exc}. Nothing changed: @champion stays version {move.previous}, the active version keeps "
                "serving.",
                markup=False,
            )
            raise typer.Exit(EXIT_BAD_MODEL) from exc
    tracking.move_champion(tracking.connect(settings), move)
    console.print(move.describe(), markup=False)
    if report is None:
        console.print(f"not published: run recs publish to serve version {move.version}", markup=False)
        return
    console.print(
        f"published version {report.version} (model version {move.version}; previous: "
        f"{report.previous_version or 'none'})",
        markup=False,
    )
