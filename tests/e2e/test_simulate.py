"""End to end: ``recs simulate`` against a real ``recs serve`` process (real Redis, a real publish of the
session's trained shop), then ``GET /v1/kpis``: its attributed clicks, purchases and revenue, impressions and
answers, in total and per surface and model version, equal the simulator's own ledger exactly, and the funnel
counts the view, cart and purchase events it sent.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from serving.cache import connect_sync
from serving.publish import publish_bundle
from tests.conftest import SHOP_CUSTOMERS, SHOP_SEED
from tests.e2e.serve_process import RECS, recs_serve

FIELDS = ("answers", "impressions", "clicks", "attributed_purchases", "attributed_revenue")


@pytest.fixture(scope="module")
def server(redis_server, trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The trained bundle published into an emptied Redis, served by ``recs serve`` on a free port."""
    client = connect_sync(redis_server.url)
    client.flushall()
    publish_bundle(trained.bundle, client, model_name="e2e-sim", model_version="1")
    client.close()
    env = {
        **os.environ,
        "RECS_REDIS_URL": redis_server.url,
        "RECS_MODEL_NAME": "e2e-sim",
        "RECS_HOME": str(tmp_path_factory.mktemp("sim-home")),
    }
    with recs_serve(env, tmp_path_factory.mktemp("sim-log") / "serve.log") as (base, _proc):
        yield base


def rows(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (surface, model_version): the attribution fields (rows whose counts are all zero left out)."""
    keyed = {(row["surface"], row["model_version"]): {name: row[name] for name in FIELDS} for row in report}
    return {key: value for key, value in keyed.items() if any(value.values())}


def test_the_kpis_equal_the_simulators_ledger(server: str) -> None:
    command = [
        RECS,
        "simulate",
        "--url",
        server,
        "--shoppers",
        "30",
        "--minutes",
        "0.3",
        "--seed",
        "3",
        "--shop-customers",
        str(SHOP_CUSTOMERS),
        "--shop-seed",
        str(SHOP_SEED),
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"recs simulate failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    ledger = json.loads(done.stdout)  # --json: only the JSON on stdout
    assert ledger["problems"] == []
    assert ledger["events_accepted"] == ledger["events_sent"] > 0
    # the run did what the issue asks of it: lists shown, clicked, bought from
    assert ledger["impressions"] > 50 and ledger["clicks"] > 10 and ledger["attributed_purchases"] > 0, ledger
    assert ledger["purchase_lines"] > ledger["attributed_purchases"], "some purchases are organic"
    assert ledger["attributed_revenue"] == ledger["attributed_revenue_cents"] / 100
    surfaces = {row["surface"] for row in ledger["by_surface"] if row["clicks"]}
    assert {"for_you", "popular", "complements"} <= surfaces, surfaces

    kpis = httpx.get(f"{server}/v1/kpis", timeout=10).json()
    assert {name: kpis["totals"][name] for name in FIELDS} == {name: ledger[name] for name in FIELDS}
    assert rows(kpis["by_surface"]) == rows(ledger["by_surface"])
    assert kpis["attribution_window_seconds"] == ledger["attribution_window_seconds"]
    # the funnel counts all traffic: every view, cart add and purchase event the service accepted
    sent = ledger["events_by_type"]
    funnel = kpis["funnel"]
    assert (funnel["views"], funnel["add_to_carts"], funnel["purchases"]) == (
        sent["view"],
        sent["add_to_cart"],
        sent["purchase"],
    )
