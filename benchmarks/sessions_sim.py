"""For you after a purchase and for guests, measured on simulated traffic against a real ``recs serve``:
``python -m benchmarks.sessions_sim [--customers 2000 --shoppers 100 --minutes 1 --seed 1]``.

``recs generate`` a shop, ``recs train --no-tune`` on it, then per variant (serving settings): Redis emptied
(no variant inherits another's recent events), the version published, ``recs serve`` started with the
variant's ``RECS_FOR_YOU_COMPLEMENTS`` / ``RECS_FOR_YOU_MIN_COMPLEMENT_SHARE`` / ``RECS_SESSIONS``, and
``recs simulate`` with the same seed and guest tag (the same shoppers, known and guests, with the same
tastes; shoppers come back every few seconds, so what a visit viewed or bought shapes the next one's
"for you"). Printed per variant, from the simulator's own ledger: attributed conversion (attributed purchases
per 1,000 impressions) overall and of "for you", the for-you CTR, and the guests' for-you CTR and
conversion (``guests_by_surface``). ``--json`` writes it all.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.events_retrain import train_shop
from benchmarks.recs_process import recs_serve, run_recs, simulate
from serving.cache import connect_sync
from serving.embedded_redis import EmbeddedRedis

MODEL = "sessions-sim"
GUEST_TAG = "sessions"
VARIANTS: dict[str, dict[str, str]] = {
    "before: every complement, no cap, no sessions": {"SHARE": "0", "CAP": "100", "SESSIONS": "false"},
    "share .2, no cap, no sessions": {"SHARE": "0.2", "CAP": "100", "SESSIONS": "false"},
    "share .2, cap 1, no sessions": {"SHARE": "0.2", "CAP": "1", "SESSIONS": "false"},
    "share .2, cap 3, no sessions": {"SHARE": "0.2", "CAP": "3", "SESSIONS": "false"},
    "share .2, cap 5, no sessions": {"SHARE": "0.2", "CAP": "5", "SESSIONS": "false"},
    "share 0, cap 3, no sessions": {"SHARE": "0", "CAP": "3", "SESSIONS": "false"},
    "defaults: share .2, cap 3, sessions": {"SHARE": "0.2", "CAP": "3", "SESSIONS": "true"},
}


def per_1000(purchases: int, impressions: int) -> float:
    return round(1000 * purchases / max(impressions, 1), 2)


def ctr(clicks: int, impressions: int) -> float:
    return round(clicks / max(impressions, 1), 4)


def summary(ledger: dict[str, Any]) -> dict[str, Any]:
    for_you = [row for row in ledger["by_surface"] if row["surface"] == "for_you"]
    fy = {key: sum(row[key] for row in for_you) for key in ("impressions", "clicks", "attributed_purchases")}
    guests = {row["surface"]: row for row in ledger["guests_by_surface"]}
    g_fy = guests.get("for_you", {"impressions": 0, "clicks": 0, "attributed_purchases": 0})
    g_all = {key: sum(row[key] for row in guests.values()) for key in ("impressions", "attributed_purchases")}
    return {
        "visits": ledger["visits"],
        "impressions": ledger["impressions"],
        "attributed_purchases": ledger["attributed_purchases"],
        "conversion_per_1000": per_1000(ledger["attributed_purchases"], ledger["impressions"]),
        "for_you_impressions": fy["impressions"],
        "for_you_ctr": ctr(fy["clicks"], fy["impressions"]),
        "for_you_conversion_per_1000": per_1000(fy["attributed_purchases"], fy["impressions"]),
        "guest_for_you_impressions": g_fy["impressions"],
        "guest_for_you_ctr": ctr(g_fy["clicks"], g_fy["impressions"]),
        "guest_for_you_conversion_per_1000": per_1000(g_fy["attributed_purchases"], g_fy["impressions"]),
        "guest_conversion_per_1000": per_1000(g_all["attributed_purchases"], g_all["impressions"]),
        "problems": len(ledger["problems"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000, help="customers of the generated shop")
    parser.add_argument("--shop-seed", type=int, default=7)
    parser.add_argument("--shoppers", type=int, default=100, help="concurrent simulated shoppers")
    parser.add_argument("--minutes", type=float, default=1.0, help="minutes per variant")
    parser.add_argument("--seed", type=int, default=1, help="the simulator's seed, the same for every variant")
    parser.add_argument("--guest-share", type=float, default=0.3)
    parser.add_argument("--only", default=None, help="comma-separated variant numbers (1-based) to run")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    chosen = list(VARIANTS.items())
    if args.only:
        chosen = [chosen[int(n) - 1] for n in args.only.split(",")]

    work = Path(tempfile.mkdtemp(prefix="sessions-sim-"))
    redis = EmbeddedRedis(work / "redis", persist=False).start()
    env = {**os.environ, "RECS_HOME": str(work / "home"), "RECS_MODEL_NAME": MODEL, "RECS_REDIS_URL": redis.url}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    results: dict[str, Any] = {}
    try:
        shop = work / "shop"
        run_recs(env, "generate", "--out", str(shop), "--customers", str(args.customers), "--seed", str(args.shop_seed))
        version = train_shop(env, work, "orders", shop, None, None)
        client = connect_sync(redis.url)
        for n, (name, knobs) in enumerate(chosen):
            client.flushall()
            run_recs(env, "publish", "--model-uri", f"models:/{MODEL}/{version}")
            served = env | {
                "RECS_FOR_YOU_COMPLEMENTS": knobs["CAP"],
                "RECS_FOR_YOU_MIN_COMPLEMENT_SHARE": knobs["SHARE"],
                "RECS_SESSIONS": knobs["SESSIONS"],
            }
            with recs_serve(served, work / f"serve-{n}.log") as base:
                ledger = simulate(env, base, args, ("--guest-tag", GUEST_TAG, "--guest-share", str(args.guest_share)))
            results[name] = summary(ledger)
            print(f"{name}: {json.dumps(results[name])}", flush=True)
        client.close()
        if args.json:
            args.json.write_text(
                json.dumps({"args": {**vars(args), "json": str(args.json)}, "results": results}, indent=2)
            )
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
