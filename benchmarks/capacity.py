"""Per-unit costs for the capacity model (docs/operations.md, "Capacity model"): what one list, one event, one
recorded answer and one serving worker cost, measured on generated shops of two catalog sizes.

    python -m benchmarks.capacity [--customers 3000] [--items 500,20000] [--events 5000] [--seconds 3]

For each catalog size of ``--items``: a generated shop of ``--customers`` customers is fitted
(``ModelBundle.fit``) and published (k=100, as ``recs publish``) into its own redis-server. Then:

- **lists**: per surface, ``MEMORY USAGE`` (every field: samples 0) of the version's hash over its number of
  fields (bytes per list), and the mean entries per list; the version's tables (items, catalog, popular,
  meta) in bytes and per item; ``used_memory`` after minus before the publish;
- **serving**: ``recs serve --workers 1`` on the version; wrk (2 threads, 16 connections) requests for-you,
  next purchase and complements, ``--seconds`` each (every answer recorded for attribution, as shipped),
  then ``--events`` events of ``benchmarks.event_ingest``'s mix, with the shop's item ids, are posted in
  batches of 100 for 300 of the shop's customers; the RSS of the server's processes once ready (the version
  loaded) and after all that (now and peak);
- **the event log** ``recs:log``: ``MEMORY USAGE`` over ``XLEN`` (bytes per event); the customers' recent
  events (``recs:events:*``): bytes per listed event and per customer key, a least-squares line of every
  key's ``MEMORY USAGE`` against its ``LLEN``;
- **answers** (``recs:ans:*``, written by ``serving.feedback.answers`` through ``serving.feedback.store``):
  bytes per record and items per record, over at most 2,000 records.

Writes ``benchmarks/results/capacity.json`` and prints the tables (markdown).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis

from benchmarks.event_ingest import events
from benchmarks.serve_speed import RECS, ensure_wrk, id_files, run_wrk, start_server, wait_ready, workers_rss_mb
from recommender.bundle import ModelBundle
from recommender.data import load_orders
from recommender.request_time.entries import ENTRY
from recommender.synthetic import ShopConfig, generate_shop
from recommender.synthetic.files import write_shop
from recommender.vocabulary import LIST_SURFACES
from serving.cache import version_key
from serving.embedded_redis import EmbeddedRedis, free_port
from serving.feedback.store import LOG_KEY
from serving.keys import BLOBS
from serving.publish import publish_bundle

RESULTS = Path(__file__).with_name("results") / "capacity.json"
MODEL_NAME = "capacity"
K = 100  # recs publish's default list length
ROUTES = (
    ("/v1/users/%s/recommendations?k=10", "customers"),
    ("/v1/users/%s/next-purchase?k=10", "customers"),
    ("/v1/items/%s/complements?k=10", "items"),
)
SAMPLED_ANSWERS = 2_000
BATCH = 100
RECENT_CUSTOMERS = 300  # the customers the events are for


def memory(client: redis.Redis, key: str | bytes) -> int:
    """``MEMORY USAGE key SAMPLES 0``: the key's bytes, every element counted."""
    return int(client.memory_usage(key, samples=0) or 0)


def publish_shop(client: redis.Redis, work: Path, customers: int, items: int) -> tuple[ModelBundle, str, dict]:
    """Generate, fit and publish a shop; the bundle, the version and the timings."""
    t0 = time.perf_counter()
    paths = write_shop(generate_shop(ShopConfig(customers=customers, items=items, seed=7)), work / "shop")
    loaded = load_orders(paths["orders"], catalog_path=paths["catalog"])
    t1 = time.perf_counter()
    bundle = ModelBundle.fit(loaded.history)
    t2 = time.perf_counter()
    before = int(client.info("memory")["used_memory"])
    report = publish_bundle(bundle, client, model_name=MODEL_NAME, model_version="1", k=K)
    after = int(client.info("memory")["used_memory"])
    shop = {
        "customers": len(bundle.customers.ids),
        "items": len(bundle.items.ids),
        "order_lines": loaded.summary.rows_kept,
        "generate_s": round(t1 - t0, 1),
        "fit_s": round(t2 - t1, 1),
        "publish_s": round(time.perf_counter() - t2, 1),
        "version_used_memory_bytes": after - before,
    }
    return bundle, report.version, shop


def list_costs(client: redis.Redis, version: str, n_items: int) -> dict[str, Any]:
    """Bytes per list and entries per list of every surface; the version's tables in bytes."""
    surfaces = {}
    for surface in LIST_SURFACES:
        key = version_key(version, surface)
        lists = int(client.hlen(key))
        total = memory(client, key)
        value_bytes = sum(len(v) for _, v in client.hscan_iter(key, count=5_000))
        surfaces[surface] = {
            "lists": lists,
            "bytes": total,
            "bytes_per_list": total / max(lists, 1),
            "entries_per_list": value_bytes / ENTRY.itemsize / max(lists, 1),
        }
    tables = {name: memory(client, version_key(version, name)) for name in BLOBS}
    return {
        "surfaces": surfaces,
        "tables_bytes": tables,
        "tables_bytes_per_item": sum(tables.values()) / n_items,
        "entry_bytes": ENTRY.itemsize,
    }


def post_events(base: str, bundle: ModelBundle, n: int) -> int:
    """``n`` events of ``benchmarks.event_ingest``'s mix for the shop's customers and items, in batches."""
    rng = np.random.default_rng(11)
    customers = np.asarray(bundle.customers.ids)[:RECENT_CUSTOMERS]  # several events each: per key and per event
    items = np.asarray(bundle.items.ids)
    drawn = events(rng, n)
    for event in drawn:
        event["customer_id"] = str(rng.choice(customers))
        event["item_ids"] = [str(i) for i in rng.choice(items, size=len(event["item_ids"]))]  # type: ignore[arg-type]
    with httpx.Client(base_url=base, timeout=30) as http:
        for start in range(0, n, BATCH):
            http.post("/v1/events/batch", json={"events": drawn[start : start + BATCH]}).raise_for_status()
    return n


def serve_costs(url: str, bundle: ModelBundle, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``recs serve --workers 1`` under a burst of requests, then events; its RSS and requests."""
    wrk, files = ensure_wrk(), id_files(bundle, work)
    env = {**os.environ, "RECS_REDIS_URL": url, "RECS_MODEL_NAME": MODEL_NAME}
    port = free_port()
    proc = start_server([RECS, "serve", "--port", str(port), "--workers", "1"], env, work / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz", proc)
        ready_rss, _ = workers_rss_mb(proc.pid)  # the version loaded, nothing answered yet
        requests = 0
        for path, ids in ROUTES:
            result = run_wrk(wrk, base, path, files[ids], args.seconds, 16, work)
            requests += int(result["requests"])
        posted = post_events(base, bundle, args.events)
        time.sleep(1.0)  # the answer recorder's last batch
        rss, peak = workers_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "requests": requests,
        "events_posted": posted,
        "ready_rss_mb": ready_rss,
        "rss_mb": rss,
        "peak_rss_mb": peak,
    }


def feedback_costs(client: redis.Redis) -> dict[str, Any]:
    """Bytes per event in the log, per recent event and customer key, per recorded answer."""
    log_events = int(client.xlen(LOG_KEY))
    recent_keys = list(client.scan_iter("recs:events:*", count=5_000))
    sizes = np.array([memory(client, key) for key in recent_keys], dtype=float)
    lengths = np.array([client.llen(key) for key in recent_keys], dtype=float)
    per_event, per_key = np.polyfit(lengths, sizes, 1)  # a key's bytes = per_key + per_event x its events
    answers = []
    for key in client.scan_iter("recs:ans:*", count=5_000):
        answers.append(key)
        if len(answers) == SAMPLED_ANSWERS:
            break
    answer_bytes = sum(memory(client, key) for key in answers)
    answer_items = sum(int(client.hlen(key)) - 4 for key in answers)  # " s", " v", " c", " t"
    return {
        "log_events": log_events,
        "log_bytes_per_event": memory(client, LOG_KEY) / max(log_events, 1),
        "recent_customers": len(recent_keys),
        "recent_events": int(lengths.sum()),
        "recent_bytes_per_event": float(per_event),
        "recent_bytes_per_customer_key": float(per_key),
        "recent_events_per_customer": float(lengths.mean()),
        "answers_sampled": len(answers),
        "answer_bytes": answer_bytes / max(len(answers), 1),
        "answer_items": answer_items / max(len(answers), 1),
    }


def measure(work: Path, customers: int, items: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every per-unit cost on one shop, in its own redis-server."""
    print(f"shop of {customers:,} customers and {items:,} items", flush=True)
    with EmbeddedRedis(work / "redis", persist=False) as server:
        client = redis.Redis.from_url(server.url)
        try:
            bundle, version, shop = publish_shop(client, work, customers, items)
            row: dict[str, Any] = {"shop": shop, **list_costs(client, version, len(bundle.items.ids))}
            if not args.no_serve:
                row["serve"] = serve_costs(server.url, bundle, work, args)
                row["feedback"] = feedback_costs(client)
        finally:
            client.close()
    return row


def tables(rows: list[dict[str, Any]]) -> str:
    """The per-unit costs as markdown tables."""
    head = "| shop | " + " | ".join(f"{s} B/list (entries)" for s in LIST_SURFACES)
    out = [head + " | tables B/item | version MB |", "|---|" + "---:|" * (len(LIST_SURFACES) + 2)]
    for row in rows:
        shop, cells = row["shop"], []
        for surface in LIST_SURFACES:
            s = row["surfaces"][surface]
            cells.append(f"{s['bytes_per_list']:,.0f} ({s['entries_per_list']:.0f})")
        name = f"{shop['customers']:,} customers, {shop['items']:,} items"
        mb = shop["version_used_memory_bytes"] / 1e6
        out.append(f"| {name} | " + " | ".join(cells) + f" | {row['tables_bytes_per_item']:,.0f} | {mb:.1f} |")
    served = [row for row in rows if "serve" in row]
    if served:
        out += [
            "",
            "| shop | log B/event | recent B/event + B/customer | answer B (items) | worker RSS MB "
            "ready, after (peak) | requests | events |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in served:
            f, s = row["feedback"], row["serve"]
            out.append(
                f"| {row['shop']['items']:,} items | {f['log_bytes_per_event']:,.0f} | "
                f"{f['recent_bytes_per_event']:,.0f} + {f['recent_bytes_per_customer_key']:,.0f} | "
                f"{f['answer_bytes']:,.0f} ({f['answer_items']:.0f}) | "
                f"{s['ready_rss_mb']:,.0f}, {s['rss_mb']:,.0f} ({s['peak_rss_mb']:,.0f}) | "
                f"{s['requests']:,} | {s['events_posted']:,} |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--items", default="500,20000", help="catalog sizes, comma-separated")
    parser.add_argument("--events", type=int, default=5000, help="events posted per shop")
    parser.add_argument("--seconds", type=int, default=3, help="wrk seconds per route")
    parser.add_argument("--no-serve", action="store_true", help="the lists only: no recs serve, no events")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = []
    for items in (int(n) for n in args.items.split(",")):
        with tempfile.TemporaryDirectory(prefix="recs-capacity-") as tmp:
            rows.append(measure(Path(tmp), args.customers, items, args))
    result = {
        "measured": dt.date.today().isoformat(),
        "options": vars(args),
        "seconds": round(time.perf_counter() - started, 1),
        "shops": rows,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(tables(rows))
    print(f"written to {RESULTS} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
