"""HTTP speed of the storefront's list routes against the strongest bare server, in one run.

    python -m benchmarks.serve_speed [--customers 100000] [--seconds 15] [--connections 64] [--rounds 2]
                                     [--workers 2] [--servers uvicorn,granian] [--without-records]

On loopback: generates a shop (``--customers``, about 20 order lines each), fits the bundle, publishes it
into a real redis-server started for the run, then starts, under each ASGI server of ``--servers`` and with
``--workers`` worker processes each, ``recs serve`` (as shipped: live catalog, rules, filters, answers
recorded) and the bare app (``benchmarks.bare_app``'s ``/bytes`` route: one FastAPI route doing one Redis GET
of the same packed list and returning the bytes, no decoding, no JSON). wrk (Debian package ``wrk``;
installed with apt-get when missing and running as root; 2 threads on the same 2-core machine) requests
random customers (random items for complements) from each, per surface:

- ``GET /v1/users/{id}/recommendations?k=10`` (event merge, filters, rules, reasons, metrics) vs the
  customer's packed for-you list;
- ``GET /v1/users/{id}/next-purchase?k=10`` vs the customer's packed next-purchase list;
- ``GET /v1/items/{id}/complements?k=10`` vs the item's packed complements list.

With ``--without-records`` a server with ``RECS_RECORD_ANSWERS=false`` takes its turn too. Servers alternate,
``--rounds`` times each (the machine's load drifts); the table shows the mean requests/s, the p50 and p99
of the round with the median requests/s, errors, and the ratios against the strongest bare server of the
route (the bare app under the faster ASGI server). RSS is summed over each ``recs serve``'s processes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from recommender.bundle import ModelBundle
from recommender.data import load_orders
from recommender.synthetic import generate
from serving.cache import connect_sync
from serving.embedded_redis import EmbeddedRedis, free_port
from serving.publish import publish_bundle

RECS = str(Path(sys.executable).with_name("recs"))
LUA = """
local ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
math.randomseed(%d)
request = function()
  return wrk.format("GET", string.format("%s", ids[math.random(#ids)]))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited early: {url}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit(f"server not ready: {url}")


def run_wrk(
    wrk: str, base: str, path_format: str, ids_file: Path, seconds: int, connections: int, work: Path
) -> dict[str, float]:
    script = work / f"wrk-{abs(hash(path_format))}.lua"
    script.write_text(LUA % (ids_file, 7, path_format))
    return run_wrk_script(wrk, base, script, seconds, connections)


def run_wrk_script(wrk: str, base: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    """wrk (2 threads) with a Lua ``script`` against ``base``; its parsed summary (``parse_wrk``)."""
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, float]:
    def latency_ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n_err = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in errors.groups()) if errors else 0)
    return {"rps": rps, "p50": latency_ms("50"), "p99": latency_ms("99"), "requests": total, "errors": n_err}


def start_server(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def workers_rss_mb(pid: int) -> tuple[float, float]:
    """(RSS now, peak RSS) in MB summed over a server process and its descendants (its workers), from /proc."""
    pids, seen = [pid], 0
    while seen < len(pids):
        for task in Path(f"/proc/{pids[seen]}/task").glob("*/children"):
            pids += [int(child) for child in task.read_text().split()]
        seen += 1
    totals = [rss_mb(p) for p in pids]
    return sum(now for now, _ in totals), sum(peak for _, peak in totals)


def rss_mb(pid: int) -> tuple[float, float]:
    """(RSS now, peak RSS) of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


SURFACES = (
    ("for_you", "GET /v1/users/{id}/recommendations?k=10", "/v1/users/%s/recommendations?k=10", "customers"),
    ("next_purchase", "GET /v1/users/{id}/next-purchase?k=10", "/v1/users/%s/next-purchase?k=10", "customers"),
    ("complements", "GET /v1/items/{id}/complements?k=10", "/v1/items/%s/complements?k=10", "items"),
)


def publish_shop(work: Path, customers: int, redis_url: str) -> dict[str, Path]:
    """Generate, fit and publish a shop; copy each surface's packed lists to plain keys for the bare app;
    write random ids to request (customers, items). Returns the id files."""
    from serving.cache import version_key

    t0 = time.perf_counter()
    paths = generate(work / "shop", customers=customers, seed=7)
    history = load_orders(paths["orders"], catalog_path=paths["catalog"]).history
    print(
        f"generated and loaded {customers:,} customers in {time.perf_counter() - t0:.0f} s; fitting",
        flush=True,
    )
    bundle = ModelBundle.fit(history)
    client = connect_sync(redis_url)
    report = publish_bundle(bundle, client, model_name="bench", model_version="1")
    print(f"fitted and published in {time.perf_counter() - t0:.0f} s", flush=True)
    for surface, *_ in SURFACES:
        cursor = 0
        while True:
            cursor, packed = client.hscan(version_key(report.version, surface), cursor, count=5000)
            with client.pipeline(transaction=False) as pipe:
                for field, value in packed.items():
                    pipe.set(f"bare:{surface}:".encode() + field, value)
                pipe.execute()
            if cursor == 0:
                break
    client.close()
    return id_files(bundle, work)


def id_files(bundle: ModelBundle, work: Path) -> dict[str, Path]:
    """20,000 random customer ids and item ids to request, one per line."""
    rng = np.random.default_rng(7)
    files = {}
    for kind, ids in (("customers", bundle.customers.ids), ("items", bundle.items.ids)):
        files[kind] = work / f"{kind}.txt"
        files[kind].write_text("\n".join(rng.choice(np.asarray(ids), size=20_000)) + "\n")
    return files


def server_command(kind: str, server: str, port: int, workers: int) -> list[str]:
    """The command line of ``recs serve`` (kind "ours") or the bare app under ``server``."""
    if kind == "ours":
        return [RECS, "serve", "--port", str(port), "--workers", str(workers), "--server", server]
    if server == "granian":
        return [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--workers",
            str(workers),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "benchmarks.bare_app:app",
        ]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.bare_app:app",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of every server")
    parser.add_argument("--servers", default="uvicorn,granian", help="ASGI servers to run both apps under")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="serve without the live catalog's changes, rules and the diversity cap (on by default: issue 25's setup)",
    )
    parser.add_argument(
        "--without-records",
        action="store_true",
        help="also serve with RECS_RECORD_ANSWERS=false, in the same rounds: what recording answers costs",
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]

    with tempfile.TemporaryDirectory(prefix="recs-serve-speed-") as tmp:
        work = Path(tmp)
        with EmbeddedRedis(work / "redis", persist=False) as redis_server:
            files = publish_shop(work, args.customers, redis_server.url)
            env = {**os.environ, "RECS_REDIS_URL": redis_server.url, "RECS_MODEL_NAME": "bench"}
            if not args.plain:
                env["RECS_DIVERSITY_CAP"] = str(DIVERSITY_CAP)
                merchandise(redis_server.url, files["items"], work)
            plain_env = {**env, "RECS_RECORD_ANSWERS": "false"}
            started: dict[str, tuple[subprocess.Popen[bytes], int, str]] = {}
            kinds = [("bare", env), ("ours", env)] + ([("plain", plain_env)] if args.without_records else [])
            for server in servers:
                for kind, kind_env in kinds:
                    port = free_port()
                    name = f"{kind} {server}"
                    command = server_command("bare" if kind == "bare" else "ours", server, port, args.workers)
                    proc = start_server(command, kind_env, work / f"{kind}-{server}.log")
                    started[name] = (proc, port, kind)
            rows = []
            try:
                for proc, port, kind in started.values():
                    wait_ready(f"http://127.0.0.1:{port}/" + ("healthz" if kind == "bare" else "readyz"), proc)
                for surface, label, path, ids in SURFACES:
                    targets = {
                        name: (f"http://127.0.0.1:{port}", f"/bytes/{surface}/%s" if kind == "bare" else path)
                        for name, (_proc, port, kind) in started.items()
                    }
                    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
                    for base, fmt in targets.values():  # warm-up
                        run_wrk(wrk, base, fmt, files[ids], 3, args.connections, work)
                    for _ in range(args.rounds):
                        for name, (base, fmt) in targets.items():
                            runs[name].append(run_wrk(wrk, base, fmt, files[ids], args.seconds, args.connections, work))
                    rows.append((label, runs))
                    print(f"{label}: done", flush=True)
                rss = {
                    name: workers_rss_mb(proc.pid) for name, (proc, _port, kind) in started.items() if kind == "ours"
                }
            finally:
                for proc, _port, _kind in started.values():
                    proc.terminate()
                    proc.wait(timeout=20)

    setup = "plain" if args.plain else f"live catalog changes, 4 rules, diversity cap {DIVERSITY_CAP}"
    print(
        f"\n{args.customers:,} customers, {args.connections} connections, {args.rounds} x {args.seconds} s per "
        f"server and route, alternating; wrk 2 threads on the same 2-core machine; {args.workers} worker(s) "
        f"per server; {setup}\n"
    )
    print("| route | server | req/s | p50 ms | p99 ms | errors | req/s / strongest bare | p99 / its p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for label, runs in rows:
        summary = {name: summarize(r) for name, r in runs.items()}
        strongest = max((name for name in summary if name.startswith("bare")), key=lambda n: summary[n]["rps"])
        b = summary[strongest]
        for name, r in sorted(summary.items(), key=lambda item: (item[0].startswith("bare"), item[0])):
            shown = SHOWN[name.split()[0]] + f" ({name.split()[1]})"
            ratios = f"{r['rps'] / b['rps']:.2f}x | {r['p99'] / b['p99']:.2f}x" if name != strongest else "strongest | "
            cells = f"{r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {int(r['errors'])}"
            print(f"| {label} | {shown} | {cells} | {ratios} |")
    for name, (now, peak) in rss.items():
        print(f"recs serve ({name.split()[1]}): RSS after the runs {now:.0f} MB (peak {peak:.0f} MB), all processes")


DIVERSITY_CAP = 3  # items per category in a page of the surfaces RECS_DIVERSITY_SURFACES names


def merchandise(redis_url: str, items_file: Path, work: Path) -> None:
    """What a shop runs with (issue 25): live catalog changes (1% of the items out of stock, 1% repriced) sent
    through ``recs catalog push``, and four rules in effect through ``recs rules add``: a bury, a boost, a
    block of one item and a promotion of cheap items on for-you."""
    import json

    import polars as pl

    items = sorted(set(items_file.read_text().split()))
    rng = np.random.default_rng(11)
    chosen = rng.choice(np.asarray(items), size=max(2, len(items) // 50), replace=False).tolist()
    half = len(chosen) // 2
    changes = pl.DataFrame(
        {
            "item_id": chosen,
            "in_stock": [False] * half + [None] * (len(chosen) - half),
            "price": [None] * half + [round(float(p), 2) for p in rng.uniform(1, 50, len(chosen) - half)],
        }
    )
    changes.write_csv(work / "catalog-changes.csv")
    rules = [
        {"rule_id": "bury-first", "action": "bury", "item_id": items[0], "factor": 0.5},
        {"rule_id": "boost-second", "action": "boost", "item_id": items[1], "factor": 2.0},
        {"rule_id": "block-third", "action": "block", "item_id": items[2]},
        {"rule_id": "cheap-for-you", "action": "promote", "price_max": 5, "share": 0.2, "surface": "for_you"},
    ]
    (work / "rules.json").write_text(json.dumps(rules))
    env = {**os.environ, "RECS_REDIS_URL": redis_url, "RECS_MODEL_NAME": "bench"}
    for command in (["catalog", "push", str(work / "catalog-changes.csv")], ["rules", "add", str(work / "rules.json")]):
        subprocess.run([RECS, *command], env=env, check=True, capture_output=True)
    print(f"live catalog: {len(chosen)} items changed; rules: {len(rules)}; diversity cap {DIVERSITY_CAP}", flush=True)


SHOWN = {
    "ours": "recs serve",
    "plain": "recs serve, RECS_RECORD_ANSWERS=false",
    "bare": "bare FastAPI route, one GET, bytes",
}


def summarize(runs: list[dict[str, float]]) -> dict[str, float]:
    """Mean requests/s over the rounds, latencies of the median round, errors summed."""
    middle = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    return {
        "rps": float(np.mean([r["rps"] for r in runs])),
        "p50": middle["p50"],
        "p99": middle["p99"],
        "errors": sum(r["errors"] for r in runs),
    }


if __name__ == "__main__":
    main()
