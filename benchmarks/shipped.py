"""The shipped path, end to end, for the quality benchmark: ``recs train`` (no model flags) -> ``recs publish``
-> ``recs serve``, read through the HTTP API.

``shipped_service(orders, catalog, workdir)`` runs the three commands as the product runs them, as
subprocesses of the project's own ``recs``, with a private ``RECS_HOME`` (its MLflow store) and a private
Redis server; the version ``recs train`` registered (alias ``candidate``) is published. While the block runs,
``fetch`` sends GET requests to the real server (32 at a time) and ``ranked`` turns their answers into rows
of item indices of any id map, for the project's metric functions. ``published`` reads the lists exactly as
the routes read them from Redis, for replaying what a route answers at another moment (the post-purchase
answer: see ``benchmarks.post_purchase``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import redis

from recommender.base import Ranked
from recommender.ids import IdMap
from serving.cache import ACTIVE_KEY, VersionTables, unpack_entries, version_key
from serving.embedded_redis import EmbeddedRedis, free_port

RECS = str(Path(sys.executable).with_name("recs"))
MODEL_NAME = "bench-recs"
CONCURRENCY = 32
READY_SECONDS = 120


class ShippedPathError(RuntimeError):
    """A ``recs`` command failed (its output's tail is in the message)."""


@dataclass
class ShippedService:
    """A trained, published and served model: its HTTP address, ``recs train``'s metrics file, timings."""

    base_url: str
    redis_url: str
    train: dict[str, Any]  # recs train --metrics-json
    seconds: dict[str, float]  # train, publish

    def fetch(self, paths: Sequence[str]) -> list[dict[str, Any]]:
        """GET every path (in order), ``CONCURRENCY`` at a time; every answer must be a 200."""
        return asyncio.run(_fetch_all(self.base_url, list(paths)))

    def published(self, surface: str, ids: Sequence[str]) -> tuple[VersionTables, list[np.ndarray]]:
        """The active version's tables and the ``ENTRY`` list stored for every id (empty when none)."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            version = client.get(ACTIVE_KEY).decode()
            meta, items, catalog, popular = (client.get(version_key(version, name)) for name in TABLES)
            tables = VersionTables.from_raw(version, meta, items, catalog, popular)
            lists: list[np.ndarray] = []
            for lo in range(0, len(ids), 10_000):
                raw = client.hmget(version_key(version, surface), list(ids[lo : lo + 10_000]))
                lists += [unpack_entries(value) for value in raw]
            return tables, lists
        finally:
            client.close()


TABLES = ("meta", "items", "catalog", "popular")


def user_path(customer_id: str, surface: str, k: int) -> str:
    route = {"next_purchase": "next-purchase", "for_you": "recommendations"}[surface]
    return f"/v1/users/{quote(customer_id, safe='')}/{route}?k={k}"


def item_path(item_id: str, surface: str, k: int) -> str:
    return f"/v1/items/{quote(item_id, safe='')}/{surface}?k={k}"


def ranked(answers: Sequence[dict[str, Any]], ids: IdMap, k: int) -> Ranked:
    """One row per answer: its items as indices of ``ids`` (an item it does not know: -1), best first."""
    out = Ranked.empty(len(answers), k)
    for row, answer in enumerate(answers):
        items = [entry["item_id"] for entry in answer["items"]][:k]
        if items:
            out.items[row, : len(items)] = ids.index(np.asarray(items, dtype=str))
            out.scores[row, : len(items)] = np.arange(len(items), 0, -1)
    out.scores[out.items < 0] = -np.inf
    return out


async def _fetch_all(base_url: str, paths: list[str]) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(path: str) -> dict[str, Any]:
            async with gate:
                response = await client.get(path)
            if response.status_code != 200:
                raise ShippedPathError(f"GET {path}: {response.status_code} {response.text[:300]}")
            return response.json()

        return list(await asyncio.gather(*(one(p) for p in paths)))


def _run(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        out.write(f"\n$ recs {' '.join(args)}\n".encode())
        out.flush()
        done = subprocess.run([RECS, *args], env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise ShippedPathError(f"recs {args[0]} exited {done.returncode}:\n{tail}")


@contextmanager
def shipped_service(orders: Path, catalog: Path | None, workdir: Path) -> Iterator[ShippedService]:
    """Train (no model flags), publish and serve ``orders``; yields the running service (see module docs)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "recs.log"
    server = EmbeddedRedis(workdir / "redis", persist=False).start()
    env = {
        **os.environ,
        "RECS_HOME": str(workdir / "home"),
        "RECS_REDIS_URL": server.url,
        "RECS_MODEL_NAME": MODEL_NAME,
        "OPENBLAS_NUM_THREADS": "1",
        "COLUMNS": "200",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    process: subprocess.Popen[bytes] | None = None
    try:
        metrics = workdir / "train-metrics.json"
        train_args = ["train", "--orders", str(orders), "--metrics-json", str(metrics)]
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        _run([*train_args, *(["--catalog", str(catalog)] if catalog else [])], env, log)
        seconds["train"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _run(["publish", "--model-uri", f"models:/{MODEL_NAME}@candidate"], env, log)
        seconds["publish"] = time.perf_counter() - t0
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve_log = (workdir / "serve.log").open("wb")
        process = subprocess.Popen([RECS, "serve", "--port", str(port)], env=env, stdout=serve_log, stderr=serve_log)
        deadline = time.monotonic() + READY_SECONDS
        while f"serving on {base}" not in (workdir / "serve.log").read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ShippedPathError(f"recs serve did not start: {(workdir / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield ShippedService(base, server.url, json.loads(metrics.read_text()), seconds)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        server.stop()
