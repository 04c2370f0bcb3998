"""Redis outage under load: a real ``recs serve`` process keeps answering while its Redis is stopped and restarted.

    python -m benchmarks.redis_outage [--seconds 60] [--rate 50] [--customers 2000] [--serve-log PATH]

In one run, on loopback: generates a shop, fits the bundle, starts its own redis-server (a free port, a temp
data dir, append-only file on: the restart replays it, so the published version survives), publishes, starts
``recs serve`` (one uvicorn worker) and sends a fixed rate of requests (open loop, httpx) over every surface:
for-you and next-purchase of known customers, complements and similar of items that have lists, cart
complements, popular, and purchase events (one new customer each). Redis is stopped at 1/3 of the run and
started again at 2/3; ``/readyz`` is polled every 0.1 s throughout.

Printed: responses by status class and 5xx (target 0); the share of list answers marked fallback before,
during and after the outage (target: ~100% during, for the customer surfaces, which read Redis; item answers
already read are held in process and answered in full; popular answers from memory either way); seconds
from the restart until the first full answer (target <= 2 s); latency per phase;
/readyz states; events accepted during the outage and whether each one is in Redis afterwards. Exit status 1
when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis

from benchmarks.serve_speed import RECS, start_server, wait_ready
from recommender.bundle import ModelBundle
from recommender.data import load_orders
from recommender.synthetic import generate
from recommender.vocabulary import LIST_SURFACES as SURFACES
from serving.cache import events_key, unpack_entries, version_key
from serving.embedded_redis import EmbeddedRedis, free_port
from serving.publish import publish_bundle

REDIS_SURFACES = ("for_you", "next_purchase", "complements", "similar", "cart")
HELD_SURFACES = ("complements", "similar")  # item answers: held in process once read
RECOVERY_TARGET_SECONDS = 2.0


@dataclass
class Result:
    """One request: when it was sent and answered (seconds since the start), what came back."""

    surface: str
    sent: float
    done: float
    status: int  # 0: no HTTP answer (transport error or timeout)
    fallback: bool | None = None
    body: dict[str, Any] | None = None
    error: str = ""


@dataclass
class Timeline:
    stop_begin: float = float("nan")
    stop_done: float = float("nan")
    start_begin: float = float("nan")
    start_done: float = float("nan")
    readyz: list[tuple[float, int, str, int]] = field(default_factory=list)  # (t, status, reason, buffered)


@dataclass(frozen=True)
class Targets:
    customers: list[str]
    items: list[str]


def prepare(work: Path, customers: int) -> tuple[EmbeddedRedis, Targets]:
    """Shop, fitted bundle, a persisted redis-server with the bundle published, and ids with personal lists
    (so that, with Redis up, their answers are not fallbacks)."""
    paths = generate(work / "shop", customers=customers, seed=7)
    bundle = ModelBundle.fit(load_orders(paths["orders"], catalog_path=paths["catalog"]).history)
    server = EmbeddedRedis(work / "redis", persist=True).start()
    with redis.Redis.from_url(server.url) as client:
        report = publish_bundle(bundle, client, model_name="bench", model_version="1")
        lists = {s: client.hgetall(version_key(report.version, s)) for s in SURFACES}
    # complements: at least one row with pair evidence (rows without it are popularity padding, a fallback)
    items = [
        i
        for i, raw in lists["complements"].items()
        if (unpack_entries(raw)["reason"] >= 0).any() and lists["similar"].get(i)
    ]
    users = [c for c, raw in lists["for_you"].items() if len(unpack_entries(raw)) and lists["next_purchase"].get(c)]
    return server, Targets(sorted(u.decode() for u in users), sorted(i.decode() for i in items))


def request_for(i: int, targets: Targets, rng: np.random.Generator) -> tuple[str, str, str, dict | None]:
    """(surface, method, path, body) of request ``i``: a fixed rotation over the surfaces, random ids."""
    customer = targets.customers[int(rng.integers(len(targets.customers)))]
    item = targets.items[int(rng.integers(len(targets.items)))]
    rotation = [
        ("for_you", "GET", f"/v1/users/{customer}/recommendations?k=10", None),
        ("next_purchase", "GET", f"/v1/users/{customer}/next-purchase?k=10", None),
        ("complements", "GET", f"/v1/items/{item}/complements?k=10", None),
        ("similar", "GET", f"/v1/items/{item}/similar?k=10", None),
        ("cart", "POST", "/v1/cart/complements", {"item_ids": [item], "customer_id": customer, "k": 10}),
        ("popular", "GET", "/v1/popular?k=10", None),
        ("for_you", "GET", f"/v1/users/{customer}/recommendations?k=10", None),
        ("event", "POST", "/v1/events", {"customer_id": f"bench-{i}", "type": "purchase", "item_ids": [item]}),
    ]
    return rotation[i % len(rotation)]


async def one(client: httpx.AsyncClient, t0: float, surface: str, method: str, path: str, body: dict | None) -> Result:
    sent = time.perf_counter() - t0
    try:
        response = await client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        return Result(surface, sent, time.perf_counter() - t0, 0, error=type(exc).__name__)
    done = time.perf_counter() - t0
    try:
        payload = response.json()
    except ValueError:
        payload = None
    fallback = payload.get("fallback") if isinstance(payload, dict) else None
    return Result(surface, sent, done, response.status_code, fallback, payload if surface == "event" else None)


async def poll_readyz(
    client: httpx.AsyncClient, t0: float, until: float, timeline: Timeline, *, stop_when_flushed: bool = False
) -> None:
    """Append /readyz answers to the timeline every 0.1 s until ``until`` (or, with ``stop_when_flushed``,
    until it is ready with no buffered events)."""
    while (now := time.perf_counter() - t0) < until:
        try:
            response = await client.get("/readyz")
            body = response.json()
            now = time.perf_counter() - t0  # when it answered
            timeline.readyz.append((now, response.status_code, body.get("reason", ""), body["buffered_events"]))
            if stop_when_flushed and response.status_code == 200 and body["buffered_events"] == 0:
                return
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            timeline.readyz.append((now, 0, type(exc).__name__, -1))
        await asyncio.sleep(0.1)


async def outage(server: EmbeddedRedis, t0: float, seconds: float, timeline: Timeline) -> None:
    await asyncio.sleep(seconds / 3)
    timeline.stop_begin = time.perf_counter() - t0
    await asyncio.to_thread(server.stop)
    timeline.stop_done = time.perf_counter() - t0
    await asyncio.sleep(max(0.0, 2 * seconds / 3 - (time.perf_counter() - t0)))
    timeline.start_begin = time.perf_counter() - t0
    await asyncio.to_thread(server.start)
    timeline.start_done = time.perf_counter() - t0


async def load(base: str, server: EmbeddedRedis, targets: Targets, seconds: float, rate: float) -> tuple:
    timeline = Timeline()
    rng = np.random.default_rng(11)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=5.0, limits=limits) as client:
        t0 = time.perf_counter()
        side = [
            asyncio.create_task(outage(server, t0, seconds, timeline)),
            asyncio.create_task(poll_readyz(client, t0, seconds, timeline)),
        ]
        tasks = []
        n = int(seconds * rate)
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, t0, *request_for(i, targets, rng))))
        results = await asyncio.gather(*tasks)
        await asyncio.gather(*side)
        await poll_readyz(client, t0, seconds + 10, timeline, stop_when_flushed=True)
        metrics = (await client.get("/metrics")).text
    return list(results), timeline, metrics


def flushed_after(timeline: Timeline) -> float:
    """Seconds from the restart to the first /readyz answer that was ready with no buffered events."""
    return next(
        (
            t - timeline.start_done
            for t, status, _, n in timeline.readyz
            if t > timeline.start_done and status == 200 and n == 0
        ),
        float("nan"),
    )


# the report -----------------------------------------------------------------------------------------------------
def phase_of(r: Result, timeline: Timeline) -> str:
    """Where a request lies, sent to answered: wholly before the stop, wholly while Redis was down, sent after
    it answered again, or straddling a stop or a start ("switching": either answer is right)."""
    if r.done < timeline.stop_begin:
        return "before"
    if timeline.stop_done <= r.sent and r.done < timeline.start_begin:
        return "outage"
    if r.sent >= timeline.start_done:
        return "after"
    return "switching"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def events_in_redis(url: str, results: list[Result]) -> tuple[int, int]:
    """(accepted events found in Redis with the same item ids and time, accepted events)."""
    accepted = [r for r in results if r.surface == "event" and r.status == 202 and r.body]
    found = 0
    with redis.Redis.from_url(url) as client, client.pipeline(transaction=False) as pipe:
        for r in accepted:
            pipe.lrange(events_key(r.body["customer_id"]), 0, -1)
        stored = pipe.execute()
    for r, raw in zip(accepted, stored, strict=True):
        records = [json.loads(x) for x in raw]
        found += any(rec["at"] == r.body["at"] and rec["item_ids"] == r.body["item_ids"] for rec in records)
    return found, len(accepted)


def readyz_states(timeline: Timeline) -> list[str]:
    """Runs of equal /readyz answers: 'from-to s: status (reason), max buffered'."""
    runs: list[list] = []
    for t, status, reason, buffered in timeline.readyz:
        label = "ready" if status == 200 else f"{status} {reason.split(':')[0]}"
        if runs and runs[-1][2] == label:
            runs[-1][1] = t
            runs[-1][3] = max(runs[-1][3], buffered)
        else:
            runs.append([t, t, label, buffered])
    return [f"{a:5.1f}-{b:5.1f} s: {label} (buffered events up to {buf})" for a, b, label, buf in runs]


def report(results: list[Result], timeline: Timeline, url: str, metrics: str, args: argparse.Namespace) -> bool:
    classes = Counter(("none" if r.status == 0 else f"{r.status // 100}xx") for r in results)
    codes = Counter(r.status for r in results)
    server_errors = sum(n for code, n in codes.items() if code >= 500)
    by_phase: dict[str, list[Result]] = {}
    for r in results:
        by_phase.setdefault(phase_of(r, timeline), []).append(r)
    lists = {p: [r for r in rs if r.surface in REDIS_SURFACES and r.status == 200] for p, rs in by_phase.items()}
    share = {p: (sum(bool(r.fallback) for r in rs) / len(rs) if rs else float("nan")) for p, rs in lists.items()}
    # during the outage: customer answers need Redis (their events), so they are popular fallbacks; an item
    # answer the process already holds (read before the outage, the same version) is answered in full
    outage_customer = [r for r in lists.get("outage", []) if r.surface not in HELD_SURFACES]
    outage_items = [r for r in lists.get("outage", []) if r.surface in HELD_SURFACES]
    customer_share = sum(bool(r.fallback) for r in outage_customer) / max(len(outage_customer), 1)
    items_held = sum(not r.fallback for r in outage_items)
    after = sorted((r for r in lists.get("after", []) if not r.fallback), key=lambda r: r.done)
    first_full = after[0].done - timeline.start_done if after else float("nan")
    late_fallbacks = [r for r in lists.get("after", []) if r.fallback]
    last_fallback = max((r.done for r in late_fallbacks), default=timeline.start_done) - timeline.start_done
    outage_events = [r for r in by_phase.get("outage", []) if r.surface == "event"]
    buffered = sum(1 for r in outage_events if r.status == 202 and r.body and r.body.get("buffered"))
    accepted_outage = sum(1 for r in outage_events if r.status == 202)
    refused = sum(1 for r in outage_events if r.status == 503)
    found, accepted = events_in_redis(url, results)
    popular_outage = [r for r in by_phase.get("outage", []) if r.surface == "popular"]
    flushed = flushed_after(timeline)
    during = [status for t, status, _, _ in timeline.readyz if timeline.stop_done + 0.5 <= t < timeline.start_begin]

    print(
        f"\n{len(results)} requests in {args.seconds:.0f} s at {args.rate:.0f}/s over 8 request kinds, "
        f"{args.customers} customers; Redis stopped at {timeline.stop_begin:.1f} s "
        f"(down at {timeline.stop_done:.1f} s), restarted at {timeline.start_begin:.1f} s "
        f"(answering at {timeline.start_done:.1f} s); persistence: append-only file, replayed on restart\n"
    )
    print("| responses | count |\n|---|---:|")
    for name in ("2xx", "4xx", "5xx", "none"):
        print(f"| {name if name != 'none' else 'no answer (transport error/timeout)'} | {classes.get(name, 0)} |")
    print(f"| by status | {', '.join(f'{c}: {n}' for c, n in sorted(codes.items()))} |\n")
    print("| phase | requests | list answers (Redis surfaces) | marked fallback | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for phase in ("before", "switching", "outage", "after"):
        rs = by_phase.get(phase, [])
        lat = [r.done - r.sent for r in rs if r.status]
        print(
            f"| {phase} | {len(rs)} | {len(lists.get(phase, []))} | {share.get(phase, float('nan')):.1%} | "
            f"{percentile(lat, 50):.1f} | {percentile(lat, 99):.1f} |"
        )
    print()
    print("| target | measured | ok |\n|---|---|---|")
    checks = [
        ("5xx responses: 0", f"{server_errors}", server_errors == 0),
        ("no answer at all: 0", f"{classes.get('none', 0)}", classes.get("none", 0) == 0),
        (
            "customer answers (for-you, next purchase, cart) marked fallback during the outage: ~100%",
            f"{customer_share:.1%} of {len(outage_customer)}",
            customer_share >= 0.99,
        ),
        (
            "item answers during the outage: held in process (full) / marked fallback (not read before)",
            f"{items_held} / {len(outage_items) - items_held}",
            True,
        ),
        (
            "popular answered during the outage (from memory)",
            f"{sum(r.status == 200 for r in popular_outage)} of {len(popular_outage)}",
            all(r.status == 200 for r in popular_outage),
        ),
        (
            f"first full answer after the restart: <= {RECOVERY_TARGET_SECONDS:.0f} s",
            f"{first_full:.3f} s",
            first_full <= RECOVERY_TARGET_SECONDS,
        ),
        (
            "last fallback answer after the restart",
            f"{last_fallback:.3f} s after ({len(late_fallbacks)} answers)",
            last_fallback <= RECOVERY_TARGET_SECONDS,
        ),
        (
            "/readyz reports the outage (503 for every answer while Redis is down)",
            "; ".join(readyz_states(timeline)),
            bool(during) and all(status == 503 for status in during),
        ),
        (
            "events sent during the outage: 202 (of them buffered) / 503 + Retry-After / anything else",
            f"{accepted_outage} ({buffered}) / {refused} / {len(outage_events) - accepted_outage - refused}",
            accepted_outage + refused == len(outage_events),
        ),
        ("accepted events in Redis after the restart (all of them)", f"{found} of {accepted}", found == accepted),
        (
            "buffered events all written after the restart (/readyz: 0 buffered)",
            f"{flushed:.2f} s after",
            flushed <= RECOVERY_TARGET_SECONDS,
        ),
    ]
    for name, measured, ok in checks:
        print(f"| {name} | {measured} | {'yes' if ok else 'NO'} |")
    prefixes = ("recs_events_", "recs_fallbacks_total", "recs_redis_errors_total")
    counters = [line for line in metrics.splitlines() if line.startswith(prefixes)]
    print("\n" + "\n".join(counters))
    return all(ok for _, _, ok in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="whole run; Redis is down for the middle third")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second, all kinds together")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--serve-log", type=Path, help="keep the server's log (warnings) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recs-redis-outage-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        server, targets = prepare(work, args.customers)
        print(f"shop, fit and publish: {time.perf_counter() - t:.1f} s", flush=True)
        port = free_port()
        env = {**os.environ, "RECS_REDIS_URL": server.url, "RECS_MODEL_NAME": "bench", "RECS_HOME": str(work / "home")}
        proc = start_server([RECS, "serve", "--port", str(port)], env, work / "serve.log")
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
            results, timeline, metrics = asyncio.run(
                load(f"http://127.0.0.1:{port}", server, targets, args.seconds, args.rate)
            )
            ok = report(results, timeline, server.url, metrics, args)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            server.stop()
            if args.serve_log:
                args.serve_log.write_bytes((work / "serve.log").read_bytes())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
