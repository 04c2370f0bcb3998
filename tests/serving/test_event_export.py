"""``recs events export`` against a real Redis: events posted through the app land in Parquet exactly once
(a re-run exports nothing, new events go to new part files, the union of the parts equals the log), ``--since``,
an export interrupted between its files and its checkpoint, trimmed events, and a checkpoint deleted by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import redis
from typer.testing import CliRunner, Result

from serving.cache import keys_of
from serving.cli import build_app
from serving.feedback.export import CHECKPOINT, ExportError, export_lock, parse_since
from serving.feedback.store import LOG_KEY
from tests.serving.conftest import serve

DAY1 = int(dt.datetime(2026, 12, 6, 23, 59, 59, tzinfo=dt.UTC).timestamp())
DAY2 = DAY1 + 1  # 2026-12-07 00:00:00 UTC


def export(url: str, out: Path, *args: str) -> Result:
    result = CliRunner().invoke(
        build_app(), ["events", "export", "--out", str(out), *args], env={"RECS_REDIS_URL": url}
    )
    assert result.exit_code == 0, result.output
    return result


def expected_rows(client: redis.Redis) -> list[tuple[Any, ...]]:
    """The log's rows, built by hand from the stream: one per event and item."""
    rows = []
    for entry_id, fields in client.xrange(keys_of(client).log):
        e = json.loads(fields[b"e"])
        for i, item in enumerate(e["item_ids"]):
            purchase = e["type"] == "purchase"
            rows.append(
                (
                    entry_id.decode(),
                    i + 1,
                    item,
                    e["customer_id"],
                    e["type"],
                    dt.datetime.fromtimestamp(e["at"], dt.UTC).date(),
                    e.get("recommendation_id"),
                    e.get("order_id"),
                    e["quantity"] if purchase else None,
                    float(e["prices"][i]) if purchase else None,
                    e["line_cents"][i] if purchase else None,
                )
            )
    return sorted(rows)


def exported_rows(out: Path) -> list[tuple[Any, ...]]:
    """Every committed part, read as one Hive-partitioned dataset."""
    frame = pl.scan_parquet(out / "date=*" / "*.parquet", hive_partitioning=True).collect()
    assert (frame["at"].dt.date() == frame["date"]).all()  # the day is the event's time, UTC
    columns = ["stream_id", "position", "item_id", "customer_id", "type", "date", "recommendation_id"]
    columns += ["order_id", "quantity", "price", "line_cents"]
    return sorted(frame.select(columns).iter_rows())


def parts(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("date=*/*"))}


async def post(client: httpx.AsyncClient, *events: dict[str, Any]) -> None:
    response = await client.post("/v1/events/batch", json={"events": list(events)})
    assert response.status_code == 202, response.text


def shopping(customer: str, at: int) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": customer,
            "type": "impression",
            "item_ids": ["a", "b", "c"],
            "recommendation_id": "r1",
            "timestamp": at,
        },
        {"customer_id": customer, "type": "view", "item_ids": ["b"], "timestamp": at},
        {"customer_id": customer, "type": "add_to_cart", "item_ids": ["b", "c"], "timestamp": at},
        {
            "customer_id": customer,
            "type": "purchase",
            "item_ids": ["b", "c"],
            "order_id": f"o-{customer}",
            "quantity": 3,
            "price": 2.5,
            "timestamp": at,
        },
        {"customer_id": customer, "type": "purchase", "item_ids": ["d"], "timestamp": at},  # no price: 0
    ]


pytestmark = pytest.mark.anyio


async def test_each_event_is_exported_once_and_new_events_go_to_new_parts(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    out = tmp_path / "events"
    async with serve(redis_url) as client:
        await post(client, *shopping("c-1", DAY1), *shopping("c-2", DAY2))
        first = export(redis_url, out)
        assert "exported 10 events (18 rows) into 2 file(s)" in first.output
        assert exported_rows(out) == expected_rows(redis_client)
        assert [p.split("/")[0] for p in parts(out)] == ["date=2026-12-06", "date=2026-12-07"]
        before = parts(out)

        again = export(redis_url, out)
        assert "nothing new in the event log" in again.output
        assert parts(out) == before

        await post(client, *shopping("c-3", DAY2))
        third = export(redis_url, out)
    assert "exported 5 events (9 rows) into 1 file(s)" in third.output
    after = parts(out)
    assert {name: after[name] for name in before} == before  # committed parts are never rewritten
    assert len(after) == len(before) + 1  # a new part for DAY2
    assert exported_rows(out) == expected_rows(redis_client)  # the union equals the log: none twice, none missing
    checkpoint = json.loads((out / CHECKPOINT).read_text())
    assert checkpoint["last_id"] == redis_client.xrevrange(keys_of(redis_client).log, count=1)[0][0].decode()


def log_events(client: redis.Redis, customer: str, at: int, n: int) -> None:
    """``n`` views written to the log as the store's script writes them."""
    for i in range(n):
        event = {"customer_id": customer, "type": "view", "item_ids": [f"i{i}", "x"], "at": at + i}
        client.xadd(LOG_KEY, {"e": json.dumps(event)})


def test_since_exports_only_events_at_or_after_it_and_moves_the_checkpoint(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    out = tmp_path / "events"
    log_events(redis_client, "old", DAY1 - 10, 5)
    log_events(redis_client, "new", DAY2, 3)
    result = export(redis_url, out, "--since", "2026-12-07")
    assert "exported 3 events (6 rows) into 1 file(s)" in result.output and "5 events before --since" in result.output
    assert {row[3] for row in exported_rows(out)} == {"new"}
    assert "nothing new" in export(redis_url, out).output  # the skipped events stay skipped
    log_events(redis_client, "later", DAY2 + 100, 2)
    export(redis_url, out, "--since", str(DAY2 + 101))
    assert sorted(row[2] for row in exported_rows(out) if row[3] == "later") == ["i1", "x"]


@pytest.mark.parametrize("page_size", ["1", "3", "1000"])
def test_an_export_interrupted_before_its_checkpoint_is_redone_without_duplicates(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, page_size: str
) -> None:
    out = tmp_path / "events"
    log_events(redis_client, "a", DAY1 - 5, 4)
    export(redis_url, out, "--page-size", "2")
    committed = (out / CHECKPOINT).read_bytes()
    log_events(redis_client, "b", DAY1, 5)  # over two days
    export(redis_url, out, "--page-size", "2")
    # as if the second run had stopped after renaming its parts, before replacing the checkpoint, and another
    # run had stopped while writing
    (out / CHECKPOINT).write_bytes(committed)
    (out / "date=2026-12-07" / ".part-9-9.parquet.tmp").write_bytes(b"half")
    log_events(redis_client, "c", DAY2 + 50, 3)
    (b0, _), *_ = redis_client.xrange(LOG_KEY, f"({json.loads(committed)['last_id']}", "+", count=1)
    redis_client.xdel(LOG_KEY, b0)  # gone from the log, so the re-run's parts have other names than the stale ones
    result = export(redis_url, out, "--page-size", page_size)
    assert "removed 2 uncommitted part(s)" in result.output
    assert "exported 7 events (14 rows)" in result.output
    assert exported_rows(out) == expected_rows(redis_client)
    assert not list(out.glob("date=*/.*"))


def test_events_trimmed_before_an_export_are_reported(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    out = tmp_path / "events"
    log_events(redis_client, "a", DAY1, 3)
    export(redis_url, out)
    first = exported_rows(out)
    log_events(redis_client, "b", DAY2, 4)
    redis_client.xtrim(LOG_KEY, maxlen=2, approximate=False)  # "a"'s events and two of "b"'s leave the log unexported
    result = export(redis_url, out)
    assert "been trimmed from the log before they were exported" in result.output
    assert "exported 2 events" in result.output
    assert exported_rows(out) == sorted([*first, *expected_rows(redis_client)])


def test_parts_without_a_checkpoint_are_refused(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    out = tmp_path / "events"
    log_events(redis_client, "a", DAY1, 2)
    export(redis_url, out)
    before = parts(out)
    (out / CHECKPOINT).unlink()
    result = CliRunner().invoke(build_app(), ["events", "export", "--out", str(out)], env={"RECS_REDIS_URL": redis_url})
    assert result.exit_code == 1 and "holds parts but no _checkpoint.json" in result.output
    assert parts(out) == before


def test_an_empty_log_exports_nothing(redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "events"
    assert "nothing new in the event log" in export(redis_url, out).output
    assert not parts(out)


@pytest.mark.parametrize(
    ("text", "at"),
    [
        (str(DAY2), DAY2),
        (f"{DAY2}.7", DAY2),
        ("2026-12-07", DAY2),
        ("2026-12-07T00:00:01", DAY2 + 1),
        ("2026-12-07T01:00:00+01:00", DAY2),
    ],
)
def test_since_reads_unix_seconds_and_iso_times(text: str, at: int) -> None:
    assert parse_since(text) == at


def test_a_bad_since_is_an_error() -> None:
    with pytest.raises(ExportError, match="neither Unix seconds nor an ISO date"):
        parse_since("yesterday")


def test_one_export_per_directory_at_a_time(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    out = tmp_path / "events"
    log_events(redis_client, "a", DAY1, 2)
    with export_lock(out):
        result = CliRunner().invoke(
            build_app(), ["events", "export", "--out", str(out)], env={"RECS_REDIS_URL": redis_url}
        )
    assert result.exit_code == 1 and "another export is writing to" in result.output
    assert not parts(out) and not (out / CHECKPOINT).exists()
    assert "exported 2 events" in export(redis_url, out).output
