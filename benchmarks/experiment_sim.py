"""Experiments end to end on simulated traffic: a challenger trained on shuffled items must lose, a better
one must win, through the real commands and a real ``recs serve``.

    python -m benchmarks.experiment_sim [--customers 3000] [--shoppers 300] [--minutes 2] [--share 0.5]

In a temporary RECS_HOME with its own redis-server: ``recs generate`` makes a shop; three models are trained
with ``recs train`` (no flags beyond the data):

- **stale**, on the orders before the last ``--stale-days`` days (a champion retrained too rarely), promoted
  and published: the champion of both experiments;
- **shuffled**, on every order with the item ids permuted (a random bijection: the model learns the shop's
  structure on the wrong items; the catalog stays true);
- **fresh**, on every order (what a daily retrain gives).

Experiment 1: ``recs experiment start --challenger <shuffled>``, ``recs simulate`` (the shop's shoppers
clicking and buying by their true tastes), ``recs experiment status``, ``recs experiment stop
--promote-if-better`` (must not promote). Experiment 2: the same with the fresh model (promoted if it wins).
The simulator's seed is the same for both. Prints each experiment's status and writes them as JSON to
``benchmarks/results/experiment_sim.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.recs_process import recs_serve, run_recs, simulate, train_version
from serving.embedded_redis import EmbeddedRedis

RESULTS = Path(__file__).with_name("results") / "experiment_sim.json"
DAY = 86_400


def shuffled_orders(orders: Path, out: Path, seed: int) -> None:
    """The orders with every item id replaced through one random bijection of the item ids."""
    frame = pl.read_csv(orders, infer_schema_length=0)
    items = frame["item_id"].unique().sort()
    permuted = items.to_numpy()[np.random.default_rng(seed).permutation(len(items))]
    mapping = pl.DataFrame({"item_id": items, "shuffled": pl.Series(permuted, dtype=pl.String)})
    frame.join(mapping, on="item_id").with_columns(pl.col("shuffled").alias("item_id")).drop("shuffled").write_csv(out)


def stale_orders(orders: Path, out: Path, days: int) -> None:
    """The orders before the last ``days`` days of the history."""
    frame = pl.read_csv(orders, infer_schema_length=0)
    moment = pl.col("ordered_at").str.to_datetime(time_zone="UTC", strict=False)
    end = frame.select(moment.max()).item()
    frame.filter(moment < end - pl.duration(days=days)).write_csv(out)


def experiment(env: dict[str, str], url: str, challenger: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    run_recs(env, "experiment", "start", "--challenger", challenger, "--share", str(args.share), "--name", name)
    ledger = simulate(env, url, args)
    stopped = json.loads(run_recs(env, "experiment", "stop", "--promote-if-better", "--json"))
    return {"simulated": {"visits": ledger["visits"], "impressions": ledger["impressions"]}, "status": stopped}


def summary(name: str, result: dict[str, Any]) -> str:
    status = result["status"]
    lines = [f"{name}: p = {status['p_value']:.3g}, winner {status['winner']}, promoted {status['promoted']}"]
    for row in status["variants"]:
        conv, ci = row["conversion_rate"], row["conversion_rate_ci95"]
        lines.append(
            f"  {row['variant']:<10} v{row['model_version']:<3} customers {row['customers']:>5} impressions "
            f"{row['impressions']:>6} ctr {row['ctr'] or 0:.4f} conversion {conv or 0:.4f} "
            f"[{ci[0] if ci else 0:.4f}, {ci[1] if ci else 0:.4f}] revenue/1000 {row['revenue_per_mille'] or 0:.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--shop-seed", type=int, default=7)
    parser.add_argument("--shoppers", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--stale-days", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recs-experiment-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as redis:
        work = Path(tmp)
        env = {**os.environ, "RECS_HOME": str(work / "home"), "RECS_REDIS_URL": redis.url}
        env.pop("MLFLOW_TRACKING_URI", None)
        shop = work / "shop"
        run_recs(env, "generate", "--out", str(shop), "--customers", str(args.customers), "--seed", str(args.shop_seed))
        orders, catalog = shop / "orders.csv", shop / "catalog.csv"
        stale_orders(orders, work / "stale.csv", args.stale_days)
        shuffled_orders(orders, work / "shuffled.csv", args.seed)
        trained = {}
        for label, data, extra in (
            ("stale", work / "stale.csv", ("--promote",)),
            ("shuffled", work / "shuffled.csv", ()),
            ("fresh", orders, ()),
        ):
            metrics = work / f"{label}-metrics.json"
            trained[label] = train_version(env, metrics, "--orders", str(data), "--catalog", str(catalog), *extra)
        stale, shuffled, fresh = trained["stale"], trained["shuffled"], trained["fresh"]
        run_recs(env, "publish")
        with recs_serve(env, work / "serve.log") as url:
            started = time.time()
            results = {
                "options": vars(args),
                "versions": {"stale (champion)": stale, "shuffled": shuffled, "fresh": fresh},
                "shuffled_vs_stale": experiment(env, url, shuffled, "shuffled-items", args),
                "fresh_vs_stale": experiment(env, url, fresh, "fresh-retrain", args),
                "seconds": time.time() - started,
            }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(summary("shuffled items vs the champion", results["shuffled_vs_stale"]))
    print(summary("fresh retrain vs the champion", results["fresh_vs_stale"]))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
