"""The diversity cap on simulated traffic: attributed purchases per 1,000 impressions with and without
``RECS_DIVERSITY_CAP``, through the real commands and a real ``recs serve``.

    python -m benchmarks.diversity_sim [--customers 1500] [--shoppers 60] [--minutes 1] [--caps 0,3]

In a temporary RECS_HOME: ``recs generate``, ``recs train --promote``; then per cap, a fresh redis-server,
``recs publish``, ``recs serve`` with ``RECS_DIVERSITY_CAP=<cap>`` and ``recs simulate --json`` with the same
seed (the same shoppers and draws). Prints each cap's impressions, clicks, attributed purchases, CTR and
conversion per 1,000 impressions, and writes them to ``benchmarks/results/diversity_sim.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.recs_process import recs_serve, run_recs, simulate
from serving.embedded_redis import EmbeddedRedis

RESULTS = Path(__file__).with_name("results") / "diversity_sim.json"


def one_cap(env: dict[str, str], work: Path, cap: int, args: argparse.Namespace) -> dict[str, Any]:
    with EmbeddedRedis(work / f"redis-{cap}") as redis:
        env = {**env, "RECS_REDIS_URL": redis.url, "RECS_DIVERSITY_CAP": str(cap)}
        run_recs(env, "publish")
        with recs_serve(env, work / f"serve-{cap}.log") as url:
            report = simulate(env, url, args)
    shown = max(report["impressions"], 1)
    return {
        "cap": cap,
        "impressions": report["impressions"],
        "clicks": report["clicks"],
        "attributed_purchases": report["attributed_purchases"],
        "ctr": report["clicks"] / shown,
        "conversion_per_1000": 1000 * report["attributed_purchases"] / shown,
        "by_surface": report["by_surface"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--shop-seed", type=int, default=7)
    parser.add_argument("--shoppers", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--caps", default="0,3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recs-diversity-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "RECS_HOME": str(work / "home")}
        env.pop("MLFLOW_TRACKING_URI", None)
        with EmbeddedRedis(work / "redis-train") as redis:
            env_train = {**env, "RECS_REDIS_URL": redis.url}
            shop = work / "shop"
            run_recs(
                env_train,
                "generate",
                "--out",
                str(shop),
                "--customers",
                str(args.customers),
                "--seed",
                str(args.shop_seed),
            )
            run_recs(
                env_train,
                "train",
                "--orders",
                str(shop / "orders.csv"),
                "--catalog",
                str(shop / "catalog.csv"),
                "--promote",
            )
        results = [one_cap(env, work, int(cap), args) for cap in args.caps.split(",")]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"options": vars(args), "results": results}, indent=2))
    for row in results:
        print(
            f"cap {row['cap']}: {row['impressions']} impressions, {row['clicks']} clicks, "
            f"{row['attributed_purchases']} attributed purchases; CTR {row['ctr']:.4f}, "
            f"{row['conversion_per_1000']:.1f} per 1,000 impressions"
        )


if __name__ == "__main__":
    main()
