"""End to end: an experiment through the real commands and a real ``recs serve``: ``recs publish`` the
champion, ``recs experiment start`` a challenger, ``recs simulate`` shoppers against the server, then ``recs
experiment status``: each variant's impressions and attributed purchases equal what the simulator's own ledger
booked to that variant's model version on the experiment's surfaces, and ``recs experiment stop`` ends it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
from mlflow import MlflowClient

from tests.conftest import SHOP_CUSTOMERS, SHOP_SEED
from tests.e2e.serve_process import RECS, recs_serve
from tests.serving.test_champion_commands import recs, versions  # noqa: F401 (a fixture)

SURFACES = ("for_you", "next_purchase")


def test_an_experiment_on_simulated_traffic_counts_what_the_ledger_booked(
    versions: MlflowClient,  # noqa: F811
    recs_home: Path,
    redis_url: str,
    tmp_path: Path,
) -> None:
    assert recs(["publish"], recs_home, redis_url)[0] == 0
    code, out = recs(
        ["experiment", "start", "--challenger", "2", "--share", "0.5", "--name", "e2e"], recs_home, redis_url
    )
    assert code == 0, out
    env = {**os.environ, "RECS_HOME": str(recs_home), "RECS_REDIS_URL": redis_url, "RECS_MODEL_NAME": "test-recs"}
    with recs_serve(env, tmp_path / "serve.log") as (base, _proc):
        body = httpx.get(f"{base}/v1/users/any-visitor/recommendations", timeout=10).json()
        assert body["experiment"] == "e2e" and body["variant"] in ("champion", "challenger"), body
        simulate = [RECS, "simulate", "--url", base, "--shoppers", "40", "--minutes", "0.3", "--seed", "5"]
        simulate += ["--shop-customers", str(SHOP_CUSTOMERS), "--shop-seed", str(SHOP_SEED), "--json"]
        done = subprocess.run(simulate, capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
    ledger = json.loads(done.stdout)
    code, out = recs(["experiment", "status", "--json"], recs_home, redis_url)
    assert code == 0, out
    status = json.loads(out)
    for row in status["variants"]:
        version = "2" if row["variant"] == "challenger" else "1"
        booked = [
            r for r in ledger["by_surface"] if r["surface"] in SURFACES and r["model_version"].startswith(f"{version}@")
        ]
        assert row["customers"] > 3 and row["impressions"] > 0, status
        assert row["impressions"] == sum(r["impressions"] for r in booked), (row, booked)
        assert row["clicks"] == sum(r["clicks"] for r in booked), (row, booked)
        assert row["attributed_purchases"] == sum(r["attributed_purchases"] for r in booked), (row, booked)
    assert status["p_value"] is not None
    code, out = recs(["experiment", "stop"], recs_home, redis_url)
    assert code == 0 and "experiment e2e stopped" in out, out
