"""The ``recs`` commands as processes, for the benchmarks that drive the whole product on simulated traffic
(``benchmarks.experiment_sim``, ``benchmarks.events_retrain``): run a command, serve, simulate, train."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serving.embedded_redis import free_port

RECS = str(Path(sys.executable).with_name("recs"))


def run_recs(env: dict[str, str], *args: str, timeout: float = 1800) -> str:
    """``recs *args``; its stdout. ``RuntimeError`` with both outputs when it fails."""
    print("$ recs " + " ".join(args), flush=True)
    done = subprocess.run([RECS, *args], capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"recs {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


@contextmanager
def recs_serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """A ``recs serve`` process on a free port, its base URL once it prints its ready line."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([RECS, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while f"serving on {base}" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"recs serve did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def simulate(env: dict[str, str], url: str, options: argparse.Namespace, extra: Sequence[str] = ()) -> dict[str, Any]:
    """``recs simulate --json`` against ``url``; the ledger. ``options``: a benchmark's parsed arguments, whose
    ``shoppers``, ``minutes`` and ``seed`` drive the shoppers and ``customers``, ``shop_seed`` name the shop."""
    args = ["simulate", "--url", url, "--shoppers", str(options.shoppers), "--minutes", str(options.minutes)]
    args += ["--seed", str(options.seed), "--shop-customers", str(options.customers)]
    args += ["--shop-seed", str(options.shop_seed), *extra, "--json"]
    return json.loads(run_recs(env, *args))


def train_version(env: dict[str, str], metrics: Path, *args: str) -> str:
    """``recs train *args --metrics-json METRICS``; the registered version."""
    run_recs(env, "train", *args, "--metrics-json", str(metrics))
    return str(json.loads(metrics.read_text())["version"])
