"""Event ingestion speed: ``POST /v1/events`` one at a time and ``POST /v1/events/batch`` in batches of 100,
against a bare FastAPI + Redis stream endpoint, in one run, with the count of events lost.

    python -m benchmarks.event_ingest [--seconds 10] [--connections 64] [--rounds 2] [--batch 100]
                                      [--batch-connections 8]

On loopback: a redis-server started for the run, ``recs serve`` (one uvicorn worker, as shipped; the event
log's length limit raised so that nothing is trimmed during the run) and a bare FastAPI app
(``benchmarks.bare_app``: a pydantic event model and one XADD per event, no attribution, no KPIs, no
customer lists) served the same way. wrk (2 threads, on the same 2-core machine) posts events drawn from
a fixed mix (40% impressions, 20% views, 15% clicks naming a recommendation, 10% cart adds, 5% removals,
10% purchases with price, quantity and order) for 100,000 customers: one per request over ``--connections``
(storefront pages), or ``--batch`` per request over ``--batch-connections`` (a back end's few senders: with
64 connections each holding 100 events, Little's law alone would put the latency at 6,400 / throughput).
Bare and ours alternate ``--rounds`` times.

Lost events: the events the server accepted (202 answers x events per request, as wrk counted them) minus
the events that reached the log (XLEN after - before); requests still in flight when wrk stops may be
written without being counted, so the log may hold a few more than counted, never fewer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import redis

from benchmarks.serve_speed import RECS, ensure_wrk, rss_mb, run_wrk_script, start_server, summarize, wait_ready
from serving.embedded_redis import EmbeddedRedis, free_port
from serving.feedback.store import LOG_KEY

BARE_LOG_KEY = "bare:log"
MIX = (("impression", 0.40), ("view", 0.20), ("click", 0.15), ("add_to_cart", 0.10), ("remove_from_cart", 0.05))
LUA = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
math.randomseed(%d)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format(nil, "%s", nil, bodies[math.random(#bodies)])
end
"""


def events(rng: np.random.Generator, n: int) -> list[dict[str, object]]:
    """``n`` events of the mix, for 100,000 customers and 20,000 items."""
    kinds = [kind for kind, _ in MIX] + ["purchase"]
    shares = [share for _, share in MIX] + [1 - sum(share for _, share in MIX)]
    out: list[dict[str, object]] = []
    for kind in rng.choice(kinds, size=n, p=shares):
        event: dict[str, object] = {
            "customer_id": f"c{rng.integers(100_000)}",
            "type": str(kind),
            "item_ids": [f"i{rng.integers(20_000)}" for _ in range(10 if kind == "impression" else 1)],
        }
        if kind in ("impression", "click"):
            event["recommendation_id"] = f"{rng.integers(1 << 62):032x}"
        if kind == "purchase":
            event |= {"order_id": f"o{rng.integers(1 << 40)}", "quantity": 1, "price": 9.99}
        out.append(event)
    return out


def write_bodies(work: Path, batch: int, rng: np.random.Generator) -> dict[str, Path]:
    """Request bodies, one per line: single events, and batches of ``batch``."""
    single = work / "single.jsonl"
    single.write_text("\n".join(json.dumps(e) for e in events(rng, 2_000)) + "\n")
    batched = work / "batch.jsonl"
    batched.write_text("\n".join(json.dumps({"events": events(rng, batch)}) for _ in range(100)) + "\n")
    return {"single": single, "batch": batched}


def run_wrk(wrk: str, base: str, path: str, bodies: Path, seconds: int, connections: int, work: Path) -> dict:
    script = work / f"wrk-{path.strip('/').replace('/', '-')}.lua"
    script.write_text(LUA % (bodies, 7, path))
    return run_wrk_script(wrk, base, script, seconds, connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--batch-connections", type=int, default=8, help="connections sending batches (a back end's few senders)"
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    rng = np.random.default_rng(7)

    with tempfile.TemporaryDirectory(prefix="recs-event-ingest-") as tmp:
        work = Path(tmp)
        bodies = write_bodies(work, args.batch, rng)
        with EmbeddedRedis(work / "redis", persist=False) as server:
            client = redis.Redis.from_url(server.url)
            env = {
                **os.environ,
                "RECS_REDIS_URL": server.url,
                "RECS_EVENT_LOG_MAX_LENGTH": "1000000000",
                "RECS_MAX_BATCH_BODY_BYTES": str(8 * 1024 * 1024),
            }
            ours_port, bare_port = free_port(), free_port()
            ours = start_server([RECS, "serve", "--port", str(ours_port)], env, work / "ours.log")
            bare_cmd = [sys.executable, "-m", "uvicorn", "benchmarks.bare_app:app", "--port", str(bare_port)]
            bare = start_server([*bare_cmd, "--log-level", "warning", "--no-access-log"], env, work / "bare.log")
            modes = {
                "single": (1, args.connections, {"ours": "/v1/events", "bare": "/bare/events"}),
                "batch": (
                    args.batch,
                    args.batch_connections,
                    {"ours": "/v1/events/batch", "bare": "/bare/events/batch"},
                ),
            }
            rows = []
            try:
                wait_ready(f"http://127.0.0.1:{ours_port}/healthz", ours)
                wait_ready(f"http://127.0.0.1:{bare_port}/healthz", bare)
                bases = {"ours": f"http://127.0.0.1:{ours_port}", "bare": f"http://127.0.0.1:{bare_port}"}
                logs = {"ours": LOG_KEY, "bare": BARE_LOG_KEY}
                for mode, (per_request, connections, paths) in modes.items():
                    runs: dict[str, list[dict]] = {"bare": [], "ours": []}
                    for name in runs:  # warm-up
                        run_wrk(wrk, bases[name], paths[name], bodies[mode], 2, connections, work)
                    for _ in range(args.rounds):
                        for name in runs:
                            before = client.xlen(logs[name])
                            run = run_wrk(wrk, bases[name], paths[name], bodies[mode], args.seconds, connections, work)
                            accepted = (run["requests"] - run["errors"]) * per_request
                            run["events_per_s"] = run["rps"] * per_request
                            run["logged"] = client.xlen(logs[name]) - before
                            run["lost"] = max(0, accepted - run["logged"])
                            runs[name].append(run)
                    rows.append((mode, per_request, connections, runs))
                    print(f"{mode}: done", flush=True)
                rss = rss_mb(ours.pid)
            finally:
                for proc in (ours, bare):
                    proc.terminate()
                    proc.wait(timeout=20)
            client.close()

    print(
        f"\n{args.rounds} x {args.seconds} s per server and mode, alternating; "
        "wrk 2 threads on the same 2-core machine, one uvicorn worker each\n"
    )
    print("| mode | server | events/s | req/s | p50 ms | p99 ms | errors | lost | events/s ours/bare |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for _mode, per_request, connections, runs in rows:
        summary = {name: summarize(r) | {"lost": sum(x["lost"] for x in r)} for name, r in runs.items()}
        label = "one event per request" if per_request == 1 else f"batches of {per_request}"
        label += f", {connections} connections"
        for name, server_label in (("ours", "recs serve"), ("bare", "bare FastAPI + XADD")):
            r = summary[name]
            ratio = f"{summary['ours']['rps'] / summary['bare']['rps']:.2f}x" if name == "ours" else ""
            print(
                f"| {label} | {server_label} | {r['rps'] * per_request:,.0f} | {r['rps']:,.0f} | {r['p50']:.1f} | "
                f"{r['p99']:.1f} | {int(r['errors'])} | {int(r['lost'])} | {ratio} |"
            )
    print(f"\nrecs serve worker RSS after the runs: {rss[0]:.0f} MB (peak {rss[1]:.0f} MB)")


if __name__ == "__main__":
    main()
