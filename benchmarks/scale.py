"""How ``recs train`` and ``recs publish`` grow with the data, next to bare implicit, measured in one run.

    python -m benchmarks.scale [--sizes 0.5,1,2,4] [--quick] [--completejourney] [--profile]

For each size (millions of generated order lines: ``recommender.synthetic`` with the catalog fixed at
20,000 items and 50,000 customers per million lines, so 2M is 100k customers x 20k items), every step runs
as its own process, the way the product runs it, and its wall time and peak RSS are taken (through a small
launcher process, so that the RSS is the command's own):

- bare implicit (``python -m benchmarks.scale --bare ...``): read the orders, build the customer x item
  count matrix, weight it with implicit's ``bm25_weight``, fit ``AlternatingLeastSquares`` with the
  bundle's collaborative config (factors, regularization, iterations, seed; BLAS limited to one thread as
  the product does), then recommend-all: ``model.recommend(batch, user_items[batch], N=100,
  filter_already_liked_items=True)`` for every customer, 10,000 a batch; run 3 times, each step's median
  reported (one run's ALS fit took 4.7 s, another's 8.3 s on the same 2M data);
- ``recs train --orders --catalog --metrics-json --promote`` in a temp ``RECS_HOME`` (sqlite MLflow store),
  with the job's own phase timings from its metrics JSON (load, its own tuning, evaluate, final fit,
  MLflow); then ``recs train --no-tune`` on the same data in another ``RECS_HOME``: what the job cost
  before it tuned itself, for the ratio "self-tuning / untuned" (issue 21: about 2x at most);
- ``recs publish --model-uri models:/<name>/<version>`` into a real redis-server started for the run
  (``serving.embedded_redis.EmbeddedRedis``, temp dir, no persistence).

The targets of issue 5, at 2M: ``recs train`` at most 1.5x the bare ALS fit, ``recs publish`` at most 1.5x
the bare recommend-all. ``--quick`` runs 0.1M and 0.2M (under 3 minutes); ``--completejourney`` adds the
Complete Journey transactions (``python -m benchmarks.datasets completejourney``). ``--profile`` runs
``recs train`` once more under py-spy (every thread; CPU seconds per function, ``benchmarks.cpu_profile``),
then ``recs train`` and ``recs publish`` under pyinstrument (the main thread), and prints the top frames.
Results go to ``benchmarks/results/scale.json``; the machine's load average is recorded with each size.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads BLAS, as the Makefile sets it

import numpy as np

from benchmarks import cpu_profile
from benchmarks.scale_report import CUSTOMERS_PER_MILLION, ITEMS, PUBLISH_K, Row, print_tables, write_results

REPO = Path(__file__).resolve().parent.parent
RECS = str(Path(sys.executable).with_name("recs"))
RESULTS = REPO / "benchmarks" / "results" / "scale.json"
DEFAULT_SIZES = (0.5, 1.0, 2.0, 4.0)
QUICK_SIZES = (0.1, 0.2)
CPU_PROFILE_HZ = 100  # py-spy samples per second and thread
BARE_BATCH = 10_000
BARE_RUNS = 3  # the bare steps vary by up to 2x from run to run on this machine: the median of 3 is reported


@dataclass(frozen=True)
class Dataset:
    """One measured input: orders (and catalog) files and what they hold."""

    label: str
    orders: Path
    catalog: Path | None
    lines: int
    customers: int
    items: int


@dataclass
class Measured:
    """One child process: wall seconds, peak RSS and exit status."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    log: str = ""


# running child processes -------------------------------------------------------------------------------
# Linux counts the memory a process had before ``exec`` in its peak RSS, so a command started straight from
# this process (which holds the generated shop) would report this process's size. A small launcher starts it
# instead, times it and reports its own child's peak RSS.
LAUNCHER = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
seconds = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write(json.dumps({"seconds": seconds, "peak_kb": peak_kb, "returncode": code}))
"""


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run ``cmd`` to completion with its output in ``log``: its wall seconds and its own peak RSS."""
    usage = log.with_suffix(".usage.json")
    with log.open("wb") as out:
        subprocess.run([sys.executable, "-c", LAUNCHER, str(usage), *cmd], env=env, stdout=out, stderr=out, check=True)
    measured = json.loads(usage.read_text())
    text = log.read_text(errors="replace")
    return Measured(measured["seconds"], measured["peak_kb"] / 1024, measured["returncode"], text)


def checked(measured: Measured, what: str) -> Measured:
    if measured.returncode != 0:
        sys.exit(f"{what} failed with exit code {measured.returncode}:\n{measured.log[-3000:]}")
    return measured


def job_env(home: Path, redis_url: str | None = None) -> dict[str, str]:
    """The product's environment: a fresh RECS_HOME (so a fresh sqlite MLflow store), one BLAS thread."""
    env = {**os.environ, "RECS_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"}
    for name in ("MLFLOW_TRACKING_URI", "RECS_REDIS_URL", "RECS_MODEL_NAME"):
        env.pop(name, None)
    if redis_url:
        env["RECS_REDIS_URL"] = redis_url
    return env


# data ----------------------------------------------------------------------------------------------------
def generated(size: float, work: Path, seed: int) -> Dataset:
    """A generated shop of about ``size`` million order lines (orders as Parquet, catalog as CSV)."""
    from recommender.synthetic import ShopConfig, generate_shop

    customers = max(round(size * CUSTOMERS_PER_MILLION), 100)
    shop = generate_shop(ShopConfig(customers=customers, items=ITEMS, seed=seed))
    folder = work / f"shop-{size:g}M"
    folder.mkdir(parents=True, exist_ok=True)
    orders, catalog = folder / "orders.parquet", folder / "catalog.csv"
    shop.orders.write_parquet(orders)
    shop.catalog.write_csv(catalog)
    return Dataset(f"{size:g}M", orders, catalog, shop.orders.height, customers, ITEMS)


def complete_journey() -> Dataset:
    import polars as pl

    from benchmarks.datasets import completejourney_orders

    orders = completejourney_orders(REPO / "benchmarks" / "data")
    catalog = orders.with_name("completejourney_catalog.parquet")
    frame = pl.read_parquet(orders, columns=["customer_id", "item_id"])
    return Dataset(
        "Complete Journey",
        orders,
        catalog,
        frame.height,
        frame["customer_id"].n_unique(),
        frame["item_id"].n_unique(),
    )


# the bare baseline (runs in its own process: ``--bare``) ---------------------------------------------------
def bare_main(orders: Path, out: Path) -> None:
    """Read, build the matrix, fit ALS and recommend-all with implicit alone; write the seconds to ``out``."""
    import polars as pl
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import bm25_weight
    from threadpoolctl import threadpool_limits

    from recommender.bundle import BundleConfig

    cfg = BundleConfig().collaborative
    t0 = time.perf_counter()
    frame = pl.read_parquet(orders, columns=["customer_id", "item_id"])
    users = frame["customer_id"].cast(pl.Categorical).to_physical().to_numpy()
    items = frame["item_id"].cast(pl.Categorical).to_physical().to_numpy()
    counts = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)))
    counts.sum_duplicates()
    weighted = (cfg.alpha * bm25_weight(counts, K1=cfg.bm25_k1, B=cfg.bm25_b)).tocsr().astype(np.float32)
    build = time.perf_counter() - t0
    model = AlternatingLeastSquares(
        factors=cfg.factors,
        regularization=cfg.regularization,
        alpha=1.0,
        iterations=cfg.iterations,
        random_state=cfg.seed,
        calculate_training_loss=False,
    )
    with threadpool_limits(1, "blas"):
        t0 = time.perf_counter()
        model.fit(weighted, show_progress=False)
        fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        for start in range(0, weighted.shape[0], BARE_BATCH):
            ids = np.arange(start, min(start + BARE_BATCH, weighted.shape[0]))
            model.recommend(ids, weighted[ids], N=PUBLISH_K, filter_already_liked_items=True)
        recommend = time.perf_counter() - t0
    out.write_text(
        json.dumps(
            {
                "build_s": build,
                "fit_s": fit,
                "recommend_s": recommend,
                "pairs": int(weighted.nnz),
                "customers": int(weighted.shape[0]),
                "items": int(weighted.shape[1]),
                "factors": cfg.factors,
                "iterations": cfg.iterations,
            }
        )
    )


# one data set --------------------------------------------------------------------------------------------
def measure(data: Dataset, work: Path, profile: bool) -> Row:
    from serving.embedded_redis import EmbeddedRedis

    row = Row(data.label, data.lines, data.customers, data.items, load_before=os.getloadavg())
    folder = work / data.label.replace(" ", "-")
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    for run in range(BARE_RUNS):
        bare_json = folder / f"bare-{run}.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.scale",
            "--bare-orders",
            str(data.orders),
            "--bare-json",
            str(bare_json),
        ]
        bare = checked(run_measured(cmd, job_env(folder / "home"), folder / f"bare-{run}.log"), "bare implicit")
        runs.append(json.loads(bare_json.read_text()))
        row.bare_peak_rss_mb = max(row.bare_peak_rss_mb, bare.peak_rss_mb)
    row.pairs, row.customers, row.items = (int(runs[0][key]) for key in ("pairs", "customers", "items"))
    row.bare = {key: float(np.median([r[key] for r in runs])) for key in ("build_s", "fit_s", "recommend_s")}
    row.bare.update({"factors": runs[0]["factors"], "iterations": runs[0]["iterations"]})
    row.bare_runs = [{key: r[key] for key in ("fit_s", "recommend_s")} for r in runs]

    metrics = folder / "metrics.json"
    train_cmd = [RECS, "train", "--orders", str(data.orders), "--metrics-json", str(metrics), "--promote"]
    train_cmd += ["--catalog", str(data.catalog)] if data.catalog else []
    train = checked(run_measured(train_cmd, job_env(folder / "home"), folder / "train.log"), "recs train")
    payload = json.loads(metrics.read_text())
    row.train_seconds, row.train_peak_rss_mb = train.seconds, train.peak_rss_mb
    row.train_phases = {**payload["seconds"], "other": train.seconds - wall_seconds(payload["seconds"])}
    model_uri = f"models:/{payload['model_name']}/{payload['version']}"
    untuned_cmd = [RECS, "train", "--orders", str(data.orders), "--no-tune"]
    untuned_cmd += ["--catalog", str(data.catalog)] if data.catalog else []
    untuned = checked(
        run_measured(untuned_cmd, job_env(folder / "home-untuned"), folder / "train-untuned.log"),
        "recs train --no-tune",
    )
    row.untuned_train_seconds, row.untuned_train_peak_rss_mb = untuned.seconds, untuned.peak_rss_mb

    with EmbeddedRedis(folder / "redis", persist=False) as server:
        publish_cmd = [RECS, "publish", "--model-uri", model_uri, "--k", str(PUBLISH_K)]
        env = job_env(folder / "home", server.url)
        publish = checked(run_measured(publish_cmd, env, folder / "publish.log"), "recs publish")
        row.publish_seconds, row.publish_peak_rss_mb = publish.seconds, publish.peak_rss_mb
        found = re.search(r"published version \S+ in ([\d.]+)s", publish.log)
        row.publish_inner_seconds = float(found.group(1)) if found else float("nan")
        row.redis_used_mb = redis_memory_mb(server.url)
        if profile:
            profiled(train_cmd, publish_cmd, data, folder, env)
    row.load_after = os.getloadavg()
    return row


def wall_seconds(phases: dict[str, float]) -> float:
    """The wall time the job's phases account for: evaluation and the final fit may overlap."""
    overlapped = ("evaluate", "fit")
    if "evaluate_and_fit" in phases:
        return sum(value for name, value in phases.items() if name not in overlapped)
    return sum(phases.values())


def redis_memory_mb(url: str) -> float:
    from serving.cache import connect_sync

    client = connect_sync(url)
    try:
        return float(client.info("memory")["used_memory"]) / 2**20
    finally:
        client.close()


# profiling -----------------------------------------------------------------------------------------------
def profiled(train_cmd: list[str], publish_cmd: list[str], data: Dataset, folder: Path, env: dict[str, str]) -> None:
    """``recs train`` once more under py-spy (all threads, CPU seconds), then ``recs train`` and ``recs publish``
    under pyinstrument (the main thread's call tree): a text tree beside scale.json, and the top frames
    printed (from the same session, rendered as pstats)."""
    label = data.label.replace(" ", "-")
    if cpu_profile.py_spy() is None:
        print("--profile: py-spy is not installed (pip install -e '.[bench]'); the all-threads profile skipped")
    else:  # every thread: the final fit runs beside the evaluation
        folded = RESULTS.with_name(f"profile-train-{label}.folded")
        cpu_profile.record([sys.executable, *train_cmd], folded, env, CPU_PROFILE_HZ)
        print(f"\nrecs train on {data.label} under py-spy: {folded}\n")
        print(cpu_profile.summarize(folded, CPU_PROFILE_HZ))
    if importlib.util.find_spec("pyinstrument") is None:
        print("--profile: pyinstrument is not installed (pip install pyinstrument); skipped")
        return
    pyinstrument = [sys.executable, "-m", "pyinstrument"]
    for name, cmd in (("train", train_cmd), ("publish", publish_cmd)):
        session = folder / f"{name}.pyisession"
        run = [*pyinstrument, "--interval", "0.01", "-r", "session", "-o", str(session), *cmd]
        checked(run_measured(run, env, folder / f"profile-{name}.log"), f"profiled recs {name}")
        text, stats = RESULTS.with_name(f"profile-{name}-{label}.txt"), folder / f"{name}.pstats"
        text.parent.mkdir(parents=True, exist_ok=True)
        for renderer, out, extra in (("text", text, ["--show-all"]), ("pstats", stats, [])):
            subprocess.run([*pyinstrument, "--load", str(session), "-r", renderer, *extra, "-o", str(out)], check=True)
        print(f"\nrecs {name} on {data.label} under pyinstrument: {text}")
        print_top_frames(stats)


def print_top_frames(stats_path: Path, n: int = 10) -> None:
    """The ``n`` functions with the most time of their own, and the ``n`` functions of this project (outside
    the command-line wrappers) with the most time inclusive."""
    import pstats

    stats = pstats.Stats(str(stats_path))
    own, ours = [], []
    for (file, line, func), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = f"{Path(file).name}:{line} {func}"
        own.append((name, tottime))
        project = any(f"{package}/" in file for package in ("recommender", "training", "serving"))
        if project and func != "<module>" and not file.endswith("cli.py"):
            ours.append((f"{Path(file).parent.name}/{name}", cumtime))
    for title, entries in (("own time", own), ("inclusive time, this project's functions", ours)):
        print(f"\n| top {n} by {title} | seconds |\n|---|---:|")
        for name, seconds in sorted(entries, key=lambda e: -e[1])[:n]:
            print(f"| {name} | {seconds:.2f} |")


# report --------------------------------------------------------------------------------------------------
def parse_sizes(text: str) -> list[float]:
    sizes = [float(part) for part in text.split(",") if part.strip()]
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive millions of lines, got {text!r}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES), help="millions of order lines")
    parser.add_argument("--quick", action="store_true", help=f"sizes {','.join(map(str, QUICK_SIZES))}")
    parser.add_argument("--completejourney", action="store_true", help="also the Complete Journey transactions")
    parser.add_argument("--only-completejourney", action="store_true", help="the Complete Journey alone")
    parser.add_argument("--profile", action="store_true", help="also profile train and publish (pyinstrument)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--bare-orders", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bare-json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_orders:
        bare_main(args.bare_orders, args.bare_json)
        return

    sizes = [] if args.only_completejourney else list(QUICK_SIZES) if args.quick else args.sizes
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="recs-scale-") as tmp:
        work = Path(tmp)
        datasets = [lambda s=size: generated(s, work, args.seed) for size in sizes]
        if args.completejourney or args.only_completejourney:
            datasets.append(complete_journey)
        for make in datasets:
            t0 = time.perf_counter()
            data = make()
            made = time.perf_counter() - t0
            print(f"{data.label}: {data.lines:,} lines, {data.customers:,} customers (data in {made:.1f}s)")
            rows.append(measure(data, work, args.profile))
            r = rows[-1]
            print(
                f"  bare ALS {r.bare['fit_s']:.1f}s, recs train {r.train_seconds:.1f}s ({r.train_ratio:.1f}x; "
                f"--no-tune {r.untuned_train_seconds:.1f}s); "
                f"bare recommend-all {r.bare['recommend_s']:.1f}s, recs publish {r.publish_seconds:.1f}s "
                f"({r.publish_ratio:.1f}x); load {r.load_before[0]:.1f} -> {r.load_after[0]:.1f}",
                flush=True,
            )
            write_results(rows, args.out)
    print_tables(rows)


if __name__ == "__main__":
    main()
