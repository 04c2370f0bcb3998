"""HTTP speed of ``GET /v1/users/{id}/recommendations`` against a bare FastAPI + Redis GET endpoint.

    python -m benchmarks.serve_speed [--customers 20000] [--seconds 15] [--connections 64]

In one run, on loopback: generates a shop, fits the bundle, publishes it into an embedded Redis server,
starts ``recs serve`` (one uvicorn worker), and a bare FastAPI app (``benchmarks.bare_app``: one endpoint
doing one Redis GET of a packed list, decoding it to JSON) served the same way; then wrk (Debian package
``wrk``; installed with apt-get when missing and running as root) requests random customers from each and
the table shows requests/s, p50, p99, errors and the ratio ours / bare.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    wrk = ensure_wrk()

    with tempfile.TemporaryDirectory(prefix="recs-serve-speed-") as tmp:
        work = Path(tmp)
        paths = generate(work / "shop", customers=args.customers, seed=7)
        history = load_orders(paths["orders"], catalog_path=paths["catalog"]).history
        bundle = ModelBundle.fit(history)
        with EmbeddedRedis(work / "redis", persist=False) as server:
            client = connect_sync(server.url)
            report = publish_bundle(bundle, client, model_name="bench", model_version="1")
            customers = np.asarray(bundle.customers.ids)
            # the bare endpoint's data: the same packed for-you lists, one plain key per customer
            from serving.cache import version_key

            packed = client.hgetall(version_key(report.version, "for_you"))
            with client.pipeline(transaction=False) as pipe:
                for field, value in packed.items():
                    pipe.set(b"bare:" + field, value)
                pipe.execute()
            client.close()
            ids_file = work / "ids.txt"
            rng = np.random.default_rng(7)
            ids_file.write_text("\n".join(rng.choice(customers, size=min(20_000, len(customers)))) + "\n")

            env = {**os.environ, "RECS_REDIS_URL": server.url, "RECS_MODEL_NAME": "bench"}
            ours_port, bare_port = free_port(), free_port()
            rows = []
            for name, cmd, ready, path in (
                (
                    "recs serve: GET /v1/users/{id}/recommendations?k=10",
                    [RECS, "serve", "--port", str(ours_port)],
                    f"http://127.0.0.1:{ours_port}/readyz",
                    "/v1/users/%s/recommendations?k=10",
                ),
                (
                    "bare FastAPI: one Redis GET, decode, JSON",
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "benchmarks.bare_app:app",
                        "--port",
                        str(bare_port),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                    ],
                    f"http://127.0.0.1:{bare_port}/healthz",
                    "/bare/%s",
                ),
            ):
                port = ours_port if "recs" in name else bare_port
                proc = start_server(cmd, env, work / f"{port}.log")
                try:
                    wait_ready(ready, proc)
                    run_wrk(wrk, f"http://127.0.0.1:{port}", path, ids_file, 3, args.connections, work)  # warm-up
                    rows.append(
                        (
                            name,
                            run_wrk(
                                wrk, f"http://127.0.0.1:{port}", path, ids_file, args.seconds, args.connections, work
                            ),
                        )
                    )
                finally:
                    proc.terminate()
                    proc.wait(timeout=20)

    ours, bare = rows[0][1], rows[1][1]
    print(
        f"\n{args.customers} customers, {args.connections} connections, {args.seconds}s per server, "
        f"wrk 2 threads on the same 2-core machine, one uvicorn worker each\n"
    )
    print(f"| {'endpoint':<54} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'errors':>6} |")
    print(f"|{'-' * 56}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 8}|")
    for name, r in rows:
        print(f"| {name:<54} | {r['rps']:8.0f} | {r['p50']:7.1f} | {r['p99']:7.1f} | {int(r['errors']):6d} |")
    print(f"\nratio ours / bare: {ours['rps'] / bare['rps']:.2f}x requests/s, p99 {ours['p99'] / bare['p99']:.2f}x")


if __name__ == "__main__":
    main()
