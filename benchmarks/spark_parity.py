"""``python -m benchmarks.quality --engine spark``: the Spark engine's quality next to the local engine's, same run.

Both engines run the same protocols on the same data; only what an engine swaps (``training.engine``: the
reader and the ALS fits) differs:

- Ta-Feng, production protocol: the file read by each engine's reader (the two histories' fingerprints must
  match), then ``training.pipeline.evaluate`` on every customer (each customer's last basket held out; next
  purchase against it, for you against its new items), as ``recs train`` scores a version.
- MovieLens 100k for you: ``benchmarks.quality``'s two protocols (random 80/20, per-customer stratified
  75/25) with their tuned configs, the bundle's for-you surface and its ALS alone.

Every metric gets its relative difference (spark / local - 1); the goal is within ``TOLERANCE``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.datasets import movielens_100k_orders, tafeng_orders
from benchmarks.tables import Metrics, Results
from recommender.bundle import BundleConfig
from recommender.data import fingerprint, load_orders
from training.engine import LOCAL, Engine
from training.pipeline import evaluate

TOLERANCE = 0.03
TAFENG_METRICS = (
    "next_purchase.recall_at_10",
    "next_purchase.ndcg_at_10",
    "next_purchase.recall_at_20",
    "for_you.precision_at_10",
    "for_you.recall_at_10",
    "for_you.ndcg_at_10",
)
MOVIELENS_ROWS = ("for you (bundle: EASE + ALS)", "ALS alone (bundle's)")
MOVIELENS_METRICS = ("precision_at_10", "recall_at_10", "ndcg_at_10")


def _timed(function: Callable[[], Metrics]) -> tuple[Metrics, float]:
    t0 = time.perf_counter()
    return function(), time.perf_counter() - t0


def tafeng(data: Path, engine: Engine) -> tuple[Metrics, float, str]:
    """The production protocol's metrics on ``engine``, its seconds (read + evaluate) and the data's fingerprint."""
    t0 = time.perf_counter()
    history = load_orders(tafeng_orders(data), reader=engine.reader).history
    with engine.running():
        metrics = evaluate(history, BundleConfig(), max_customers=0).metrics
    return (
        {name: metrics[name] for name in TAFENG_METRICS},
        time.perf_counter() - t0,
        fingerprint(history)["fingerprint"],
    )


def movielens(data: Path, engine: Engine, seeds: int) -> tuple[Metrics, float]:
    from benchmarks.quality import movielens_protocol

    t0 = time.perf_counter()
    history = load_orders(movielens_100k_orders(data), reader=engine.reader).history
    out: Metrics = {}
    with engine.running():
        for protocol in ("random", "stratified"):
            rows = movielens_protocol(history, protocol, seeds)
            for row in MOVIELENS_ROWS:
                out.update({f"{protocol}: {row}: {m}": rows[row][m] for m in MOVIELENS_METRICS})
    return out, time.perf_counter() - t0


def _table(title: str, local: Metrics, spark: Metrics, seconds: tuple[float, float]) -> str:
    lines = [
        f"\n### {title} (local {seconds[0]:.0f} s, spark {seconds[1]:.0f} s)\n",
        "| metric | local | spark local[2] | spark / local - 1 | within 3% |",
        "|---|---:|---:|---:|---|",
    ]
    for name, value in local.items():
        other = spark[name]
        relative = other / value - 1 if value else float("nan")
        verdict = "yes" if abs(relative) <= TOLERANCE else "NO"
        lines.append(f"| {name} | {value:.4f} | {other:.4f} | {relative:+.2%} | {verdict} |")
    return "\n".join(lines)


def spark_parity(data: Path, seeds: int, master: str = "local[2]") -> Results:
    """Both engines on Ta-Feng and MovieLens 100k; prints markdown tables, returns every number."""
    from training.spark import spark_engine, spark_session

    results: Results = {"master": master, "seeds": seeds, "tolerance": TOLERANCE}
    with spark_session(master) as session:
        spark = spark_engine(session)
        local_tf, local_s, local_fp = tafeng(data, LOCAL)
        spark_tf, spark_s, spark_fp = tafeng(data, spark)
        if local_fp != spark_fp:
            raise AssertionError(f"the engines read different histories: {local_fp} != {spark_fp}")
        print(_table("Ta-Feng, production protocol, every customer", local_tf, spark_tf, (local_s, spark_s)))
        local_ml, local_ml_s = movielens(data, LOCAL, seeds)
        spark_ml, spark_ml_s = movielens(data, spark, seeds)
        print(_table(f"MovieLens 100k for you, mean of {seeds} seeds", local_ml, spark_ml, (local_ml_s, spark_ml_s)))
    results["tafeng"] = {"local": local_tf, "spark": spark_tf, "seconds": [local_s, spark_s], "fingerprint": local_fp}
    results["movielens"] = {"local": local_ml, "spark": spark_ml, "seconds": [local_ml_s, spark_ml_s]}
    return results
