"""Retraining from what the storefront sent, measured: does a model trained with the events beat one without on
the next simulated day? ``python -m benchmarks.events_retrain [--customers 2000 --shoppers 80 --minutes 1]``.

Everything is the real thing, as processes: ``recs generate`` a shop, ``recs train --no-tune`` on its orders
(version 1), ``recs publish`` it into an embedded Redis, ``recs serve``, and day 1: ``recs simulate`` (seed S,
guests named by a fixed ``--guest-tag``). Then ``recs events export``, and one ``recs train`` per setting: the
orders alone, and the orders plus the exported events under each (view, add-to-cart) weight pair asked for.
Day 2, for each version in turn: Redis emptied (so no version starts with request-time history the others
lack: what day 1 taught is in the model or nowhere), the version published, ``recs serve`` restarted, and
``recs simulate`` with the same seed and guest tag: the same shoppers, known and guests, come back with the
same tastes.

Printed per version: the simulator's own ledger (impressions, attributed purchases, attributed conversion =
attributed purchases per 1,000 impressions, attributed revenue, purchase lines), and how many of day 1's
guests who never bought (view-only shoppers) get a personal for-you list (``fallback: false`` from
``GET /v1/users/{id}/recommendations``). ``--json`` writes it all.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import httpx

from benchmarks.recs_process import recs_serve, run_recs, simulate, train_version
from serving.cache import connect_sync
from serving.embedded_redis import EmbeddedRedis

MODEL = "events-retrain"
GUEST_TAG = "returning"


def train_shop(
    env: dict[str, str], work: Path, name: str, shop: Path, events: Path | None, weights: tuple[float, ...] | None
) -> str:
    args = ["--orders", str(shop / "orders.csv"), "--catalog", str(shop / "catalog.csv"), "--no-tune"]
    if events is not None:
        args += ["--events", str(events)]
    if weights is not None:
        config = work / f"{name}.json"
        config.write_text(json.dumps({"events": {"view_weight": weights[0], "add_to_cart_weight": weights[1]}}))
        args += ["--config", str(config)]
    return train_version(env, work / f"{name}-metrics.json", *args, "--rejects", str(work / f"{name}-rejects.csv"))


def _simulate(env: dict[str, str], base: str, args: argparse.Namespace) -> dict:
    extra = ("--guest-tag", GUEST_TAG, "--guest-share", str(args.guest_share))
    return simulate(env, base, args, extra)


def _personal_guests(base: str, guests: list[str]) -> int:
    personal = 0
    with httpx.Client(base_url=base, timeout=10) as client:
        for guest in guests:
            answer = client.get(f"/v1/users/{guest}/recommendations", params={"k": 10}).json()
            personal += not answer["fallback"]
    return personal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000, help="customers of the generated shop")
    parser.add_argument("--shop-seed", type=int, default=7)
    parser.add_argument("--shoppers", type=int, default=80, help="concurrent simulated shoppers")
    parser.add_argument("--minutes", type=float, default=1.0, help="minutes each simulated day lasts")
    parser.add_argument("--seed", type=int, default=1, help="the simulator's seed, the same on both days")
    parser.add_argument("--guest-share", type=float, default=0.3)
    parser.add_argument("--weights", default="0.1:0.3,0.25:0.5,0.5:0.8", help="view:add_to_cart pairs to try")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    settings = [tuple(float(x) for x in pair.split(":")) for pair in args.weights.split(",")]

    work = Path(tempfile.mkdtemp(prefix="events-retrain-"))
    redis = EmbeddedRedis(work / "redis", persist=False).start()
    env = {**os.environ, "RECS_HOME": str(work / "home"), "RECS_MODEL_NAME": MODEL, "RECS_REDIS_URL": redis.url}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    try:
        shop = work / "shop"
        run_recs(env, "generate", "--out", str(shop), "--customers", str(args.customers), "--seed", str(args.shop_seed))
        plain = train_shop(env, work, "orders-only", shop, None, None)
        run_recs(env, "publish", "--model-uri", f"models:/{MODEL}/{plain}")
        with recs_serve(env, work / "serve-day1.log") as base:
            day1 = _simulate(env, base, args)
        print(f"day 1 (version {plain}, orders only): {json.dumps(_summary(day1))}", flush=True)
        run_recs(env, "events", "export", "--out", str(work / "events"))
        guests = _view_only_guests(work / "events")

        versions = {"orders only": plain}
        for view, cart in settings:
            name = f"events view {view} cart {cart}"
            versions[name] = train_shop(env, work, name.replace(" ", "-"), shop, work / "events", (view, cart))
        results = {}
        client = connect_sync(redis.url)
        for name, version in versions.items():
            client.flushall()
            run_recs(env, "publish", "--model-uri", f"models:/{MODEL}/{version}")
            with recs_serve(env, work / f"serve-{version}.log") as base:
                day2 = _simulate(env, base, args)
                personal = _personal_guests(base, guests)
            results[name] = {"version": version, **_summary(day2), "view_only_guests": len(guests)}
            results[name]["view_only_guests_personal"] = personal
            print(f"day 2, {name} (version {version}): {json.dumps(results[name])}", flush=True)
        client.close()
        if args.json:
            payload = {"args": {**vars(args), "json": str(args.json)}, "day1": _summary(day1), "day2": results}
            args.json.write_text(json.dumps(payload, indent=2))
    finally:
        redis.stop()


def _view_only_guests(events: Path) -> list[str]:
    """Day 1's guests with events and no purchase."""
    import polars as pl

    frame = pl.read_parquet(sorted(events.glob("date=*/part-*.parquet")))
    guests = frame.filter(pl.col("customer_id").str.starts_with(f"guest-{GUEST_TAG}-"))
    buyers = guests.filter(pl.col("type") == "purchase").get_column("customer_id").unique()
    return sorted(set(guests.get_column("customer_id").unique().to_list()) - set(buyers.to_list()))


def _summary(ledger: dict) -> dict:
    impressions = max(int(ledger["impressions"]), 1)
    return {
        "visits": ledger["visits"],
        "impressions": ledger["impressions"],
        "clicks": ledger["clicks"],
        "attributed_purchases": ledger["attributed_purchases"],
        "conversion_per_1000_impressions": round(1000 * ledger["attributed_purchases"] / impressions, 2),
        "attributed_revenue": ledger["attributed_revenue"],
        "purchase_lines": ledger["purchase_lines"],
    }


if __name__ == "__main__":
    main()
