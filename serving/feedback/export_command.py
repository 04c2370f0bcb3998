"""``recs events``: the event log's commands; ``recs events export --out DIR [--since ...]`` (the rules are in
``serving.feedback.export`` and ``docs/feedback.md``).

``events_app(redis_url)`` builds the typer group; ``serving.cli`` passes its ``redis_url`` helper
(``RECS_REDIS_URL``, else the embedded server), so that one declaration says where Redis is, and this module
needs nothing from ``training``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from serving.cache import keys_of

if TYPE_CHECKING:
    from redis import Redis

    from serving.feedback.export import ExportReport, Plan

RedisUrl = Callable[[], contextlib.AbstractContextManager[str]]  # yields the URL while Redis is needed
EXIT_FAILED = 1
PAGE_SIZE = 20_000  # log entries read per XRANGE
SHOWN_FILES = 10  # part files listed after an export
PROGRESS_FROM = 100_000  # log entries to read from which a progress bar is shown


def events_app(redis_url: RedisUrl) -> typer.Typer:
    """The ``recs events`` group, reaching Redis through ``redis_url``."""
    app = typer.Typer(no_args_is_help=True, help="The event log (the Redis stream recs:log).")

    @app.command("export")
    def export_command(
        out: Annotated[Path, typer.Option("--out", help="The dataset directory (created if missing).")],
        since: Annotated[
            str | None,
            typer.Option(help="Only events at or after this time: ISO date (UTC), ISO date-time or Unix seconds."),
        ] = None,
        page_size: Annotated[int, typer.Option(min=1, max=1_000_000, help="Log entries read per round trip.")] = (
            PAGE_SIZE
        ),
    ) -> None:
        """Append the event log to Parquet under DIR, exactly once: one new part file per run and day
        (date=YYYY-MM-DD/part-<first stream id>.parquet, the day of the event's time in UTC; files are never
        rewritten), one row per event and item, then a checkpoint, so that a re-run exports only what was
        logged since. Events before --since are skipped for good (the checkpoint moves past them)."""
        from serving.cache import RedisUnavailable, connect_sync
        from serving.feedback.export import START, ExportError, export_lock, parse_since, plan_export

        console = Console(soft_wrap=True)
        try:
            since_at = None if since is None else parse_since(since)
            with redis_url() as url, export_lock(out):
                client = connect_sync(url)
                try:
                    plan = plan_export(client, out)
                    if plan.gap:
                        console.print(f"[yellow]warning:[/yellow] {plan.gap}")
                    report = _run(console, client, out, plan, since_at, page_size)
                finally:
                    client.close()
        except ExportError as exc:
            console.print(f"[red]error:[/red] {exc}. Nothing was exported.")
            raise typer.Exit(EXIT_FAILED) from exc
        except RedisUnavailable as exc:
            console.print(f"[red]error:[/red] Redis did not answer ({exc}). Nothing was exported.")
            raise typer.Exit(EXIT_FAILED) from exc
        if report.removed_uncommitted:
            console.print(f"removed {report.removed_uncommitted} uncommitted part(s) of an interrupted export")
        if report.events_read == 0:
            since_id = plan.after if plan.after not in (None, START) else "the start"
            console.print(f"nothing new in the event log since {since_id}")
            return
        skipped = report.events_read - report.events
        console.print(
            f"exported {report.events:,} events ({report.rows:,} rows) into {len(report.files or [])} file(s) "
            f"under {out}, log entries {report.first_id} to {report.last_id}"
            + (f"; {skipped:,} events before --since skipped" if skipped else "")
        )
        files = report.files or []
        for path in files[:SHOWN_FILES]:
            console.print(f"  {path.relative_to(out)}", markup=False, highlight=False)
        if len(files) > SHOWN_FILES:
            console.print(f"  and {len(files) - SHOWN_FILES} more")

    return app


def _run(console: Console, client: Redis, out: Path, plan: Plan, since: int | None, page_size: int) -> ExportReport:
    """``export_log`` with a progress bar over the stream ids' milliseconds when the log is large."""
    from serving.feedback.export import export_log

    if plan.end is None or plan.first_available is None or client.xlen(keys_of(client).log) < PROGRESS_FROM:
        return export_log(client, out, plan, since=since, page_size=page_size)
    start_ms = max(_ms(plan.after or "0-0"), _ms(plan.first_available))
    columns = (
        TextColumn("exporting"),
        BarColumn(),
        TextColumn("{task.fields[entries]:,} entries"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("export", total=max(1, _ms(plan.end) - start_ms), entries=0)
        read = 0

        def on_page(last_id: str, entries: int) -> None:
            nonlocal read
            read += entries
            progress.update(task, completed=_ms(last_id) - start_ms, entries=read)

        return export_log(client, out, plan, since=since, page_size=page_size, on_page=on_page)


def _ms(stream_id: str) -> int:
    from serving.feedback.export import stream_key

    return stream_key(stream_id)[0]
