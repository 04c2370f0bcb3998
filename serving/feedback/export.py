"""The event log (``recs:log``) exported to Parquet, exactly once: ``recs events export --out DIR``.

Layout of ``DIR`` (a Hive-style partitioned dataset: polars, pyarrow, DuckDB and Spark read it as one table,
with ``date`` as a column)::

    DIR/_checkpoint.json                        {"last_id": the last stream id exported, "updated_at": ...}
                                                ("0-0" once the first run has started)
    DIR/date=2026-12-07/part-<first id>.parquet one file per run and day: the run's events of that day

The day is the UTC date of the event's ``at`` (its time, which the storefront may give). Parquet files
cannot be appended to, so each run adds a new part file to each day it has events for, named by the stream
id of its first event of that day; an existing committed file is never rewritten.

Exactly once: a run reads the log after the checkpoint (``XRANGE (last_id``) up to the last entry present
when it started, in pages, so memory stays bounded by a page. Each day's rows go to a temporary file
(``.part-<id>.parquet.tmp``); once every page is read, the files are fsynced and renamed into place, and only
then is the checkpoint replaced (temporary file, fsync, rename). A run that stops before the renames leaves
only temporary files; one that stops between the renames and the checkpoint leaves parts whose first id is
after the checkpoint. Both are uncommitted, and the next run deletes them before it exports the same events
again: the committed parts hold each logged event once. A reader can still deduplicate on
(``stream_id``, ``position``). The first run writes the checkpoint ``0-0`` before anything else, so parts
without a checkpoint mean that it was deleted by hand: the export refuses to run rather than guess.

One row per event and item (the order-line shape): ``stream_id``, ``customer_id``, ``type``, ``at`` (UTC
timestamp, seconds), ``item_id``, ``position`` (1-based, in the event's ``item_ids``), ``recommendation_id``,
and for purchases ``order_id``, ``quantity``, ``price`` (unit) and ``line_cents``; null where the event has
none. The client is a synchronous Redis client (``serving.cache.connect_sync``); this module never imports
redis.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow.parquet as pq

from recommender.data.events import EVENT_ROW_SCHEMA
from serving.cache import keys_of
from serving.times import unix_seconds

if TYPE_CHECKING:
    from redis import Redis

CHECKPOINT = "_checkpoint.json"
LOCK = "_export.lock"
START = "0-0"  # the checkpoint before anything is exported (every entry's id is after it)
EVENT_SCHEMA = {  # the stored event (serving.feedback.ingest.stored_event); other fields are ignored
    "customer_id": pl.String,
    "type": pl.String,
    "item_ids": pl.List(pl.String),
    "at": pl.Int64,
    "recommendation_id": pl.String,
    "order_id": pl.String,
    "quantity": pl.Int64,
    "prices": pl.List(pl.Float64),
    "line_cents": pl.List(pl.Int64),
}


class ExportError(Exception):
    """The export cannot run as asked (nothing was committed)."""


class CheckpointError(ExportError):
    """``_checkpoint.json`` is unreadable: delete it only to export the whole log again."""


class ExportBusyError(ExportError):
    """Another export holds the directory's lock."""


def stream_key(stream_id: str) -> tuple[int, int]:
    """A stream id ``<ms>-<seq>`` as a pair that orders like Redis does."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def parse_since(text: str) -> int:
    """``--since``: Unix seconds, an ISO date (midnight UTC) or an ISO date-time (UTC unless it says)."""
    try:
        return int(unix_seconds(text.strip()))
    except ValueError as exc:
        raise ExportError(f"--since {text!r} is neither Unix seconds nor an ISO date or date-time") from exc


@dataclass(frozen=True)
class Plan:
    """What a run will read: the entries after ``after`` (None: the whole log) up to ``end`` (None: nothing)."""

    after: str | None
    end: str | None
    first_available: str | None  # the log's oldest entry now
    gap: str | None  # why events after the checkpoint may be missing from the log (trimmed), else None


@dataclass
class ExportReport:
    """What a run exported."""

    events_read: int = 0
    events: int = 0  # exported (at or after --since)
    rows: int = 0
    files: list[Path] | None = None
    first_id: str | None = None  # the first and last entries read
    last_id: str | None = None
    removed_uncommitted: int = 0  # parts left by an interrupted run, deleted before exporting


def read_checkpoint(out: Path) -> str | None:
    """The last stream id committed in ``out``; None before the first export."""
    path = out / CHECKPOINT
    if not path.exists():
        return None
    try:
        last = json.loads(path.read_text())["last_id"]
        stream_key(last)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} is unreadable ({exc})") from exc
    return str(last)


@contextlib.contextmanager
def export_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for a run (one export per directory at a time)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ExportBusyError(f"another export is writing to {out}") from exc
        yield


def plan_export(client: Redis, out: Path) -> Plan:
    """The checkpoint, the log's bounds now, and whether events were trimmed before they were exported."""
    after = read_checkpoint(out)
    last = client.xrevrange(keys_of(client).log, "+", "-", count=1)
    if not last:
        return Plan(after, None, None, None)
    end = last[0][0].decode()
    first = client.xrange(keys_of(client).log, "-", "+", count=1)[0][0].decode()
    gap = None
    if after not in (None, START) and stream_key(first) > stream_key(after):
        deleted = client.xinfo_stream(keys_of(client).log).get("max-deleted-entry-id")  # Redis 7; absent before
        deleted_id = deleted.decode() if isinstance(deleted, bytes) else deleted
        if deleted_id is None or stream_key(deleted_id) > stream_key(after):
            maybe = "" if deleted_id else "may have "
            gap = (
                f"the log now starts at {first}, after the checkpoint {after}: events between them {maybe}"
                "been trimmed from the log before they were exported"
            )
    if after is not None and stream_key(end) <= stream_key(after):
        end = None
    return Plan(after, end, first, gap)


def remove_uncommitted(out: Path, after: str) -> int:
    """Delete what an interrupted run left: temporary files, and parts whose first id is after the checkpoint.
    Returns how many parts were deleted."""
    removed = 0
    for day in out.glob("date=*"):
        for tmp in day.glob(".part-*.tmp"):
            tmp.unlink()
        for part in day.glob("part-*.parquet"):
            if stream_key(part.name.removeprefix("part-").removesuffix(".parquet")) > stream_key(after):
                part.unlink()
                removed += 1
    return removed


def event_rows(ids: list[str], raws: list[bytes], since: int | None) -> pl.DataFrame:
    """Log entries (their ids and JSON) as rows, one per event and item, with their ``date``."""
    events = pl.read_ndjson(io.BytesIO(b"\n".join(raws)), schema=EVENT_SCHEMA)
    events = events.with_columns(stream_id=pl.Series(ids, dtype=pl.String))
    if since is not None:
        events = events.filter(pl.col("at") >= since)
    index = pl.col("position") - 1
    return (
        events.with_columns(position=pl.int_ranges(1, pl.col("item_ids").list.len() + 1, dtype=pl.Int32))
        .explode(["item_ids", "position"])
        .select(
            "stream_id",
            "customer_id",
            "type",
            pl.from_epoch("at", "s").dt.replace_time_zone("UTC").alias("at"),
            pl.col("item_ids").alias("item_id"),
            "position",
            "recommendation_id",
            "order_id",
            pl.col("quantity").cast(pl.Int32),
            pl.col("prices").list.get(index, null_on_oob=True).alias("price"),
            pl.col("line_cents").list.get(index, null_on_oob=True).alias("line_cents"),
            pl.from_epoch("at", "s").dt.date().alias("date"),
        )
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _DayParts:
    """The run's open part file per day, written a page at a time, committed together."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.open: dict[dt.date, tuple[pq.ParquetWriter, Path, Path]] = {}

    def write(self, rows: pl.DataFrame) -> None:
        for (day,), part in rows.partition_by("date", as_dict=True, maintain_order=True).items():
            if day not in self.open:
                folder = self.out / f"date={day.isoformat()}"
                folder.mkdir(parents=True, exist_ok=True)
                name = f"part-{part['stream_id'][0]}.parquet"
                tmp = folder / f".{name}.tmp"
                self.open[day] = (pq.ParquetWriter(tmp, EVENT_ROW_SCHEMA), tmp, folder / name)
            table = part.drop("date").to_arrow().cast(EVENT_ROW_SCHEMA)
            self.open[day][0].write_table(table)

    def commit(self) -> list[Path]:
        """Close, fsync and rename every part into place; their folders are fsynced too."""
        for writer, tmp, _ in self.open.values():
            writer.close()
            _fsync(tmp)
        for _, tmp, final in self.open.values():
            tmp.rename(final)
        for folder in {final.parent for _, _, final in self.open.values()}:
            _fsync(folder)
        return sorted(final for _, _, final in self.open.values())

    def abandon(self) -> None:
        for writer, tmp, _ in self.open.values():
            with contextlib.suppress(Exception):
                writer.close()
            tmp.unlink(missing_ok=True)


def write_checkpoint(out: Path, last_id: str) -> None:
    """Replace the checkpoint atomically and durably (temporary file, fsync, rename, fsync of ``out``)."""
    tmp = out / f".{CHECKPOINT}.tmp"
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with tmp.open("w") as handle:
        json.dump({"last_id": last_id, "updated_at": stamp}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.rename(out / CHECKPOINT)
    _fsync(out)


def export_log(
    client: Redis,
    out: Path,
    plan: Plan,
    *,
    page_size: int,
    since: int | None = None,
    on_page: Callable[[str, int], None] | None = None,
) -> ExportReport:
    """Export the entries that ``plan`` names (call under ``export_lock``); ``on_page(last id, entries)``
    after each page. Events before ``since`` (Unix seconds) are read and skipped: the checkpoint moves past
    them, so a later run does not export them either."""
    after = plan.after
    if after is None:  # the first run marks the directory before writing anything (see the module docstring)
        if next(out.glob("date=*/part-*.parquet"), None) is not None:
            raise CheckpointError(
                f"{out} holds parts but no {CHECKPOINT}: restore it, or export into an empty directory"
            )
        after = START
        write_checkpoint(out, after)
    report = ExportReport(removed_uncommitted=remove_uncommitted(out, after), files=[])
    if plan.end is None:
        return report
    parts = _DayParts(out)
    start = f"({after}"
    try:
        while True:
            log_key = keys_of(client).log
            page: list[tuple[bytes, dict[bytes, Any]]] = client.xrange(log_key, start, plan.end, count=page_size)
            if not page:
                break
            ids = [entry_id.decode() for entry_id, _ in page]
            rows = event_rows(ids, [fields[b"e"] for _, fields in page], since)
            parts.write(rows)
            report.events_read += len(ids)
            report.events += rows["stream_id"].n_unique()
            report.rows += rows.height
            report.first_id = report.first_id or ids[0]
            report.last_id = ids[-1]
            if on_page is not None:
                on_page(ids[-1], len(ids))
            if ids[-1] == plan.end:
                break
            start = f"({ids[-1]}"
        report.files = parts.commit()
    except BaseException:
        parts.abandon()
        raise
    if report.last_id is not None:
        write_checkpoint(out, report.last_id)
    return report
