"""``recs train --events DIR`` as a real process: the events' counts in the metrics JSON and MLflow, the weights
logged as params, the rejects file with the events' rows, and the registered bundle scoring a view-only shopper."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from tests.recommender.test_events_training import _events, _orders

RECS = str(Path(sys.executable).with_name("recs"))


def test_recs_train_with_events(tmp_path: Path) -> None:
    home = tmp_path / "home"
    orders, events = _orders(tmp_path / "orders.csv"), _events(tmp_path / "events")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"events": {"view_weight": 0.1, "add_to_cart_weight": 0.4}}))
    env = {**os.environ, "RECS_HOME": str(home), "RECS_MODEL_NAME": "events-recs", "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    out, rejects = tmp_path / "metrics.json", tmp_path / "rejects.csv"
    args = ["train", "--orders", str(orders), "--events", str(events), "--no-tune", "--config", str(config)]
    args += ["--metrics-json", str(out), "--rejects", str(rejects)]
    done = subprocess.run([RECS, *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 already in the order file" in " ".join(done.stdout.split())
    data = json.loads(out.read_text())["data"]
    assert data["data.events.signals.view"] == 5 and data["data.events.signals.add_to_cart"] == 1
    assert data["data.events.purchases_in_orders"] == 1 and data["data.events.rows_rejected"] == 3
    assert data["signals"] == "6" and data["customers"] == "22"  # the two guests are customers
    with rejects.open(newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["source"] == "events"]
    assert {row["reason"] for row in rows} == {"empty customer_id", "unknown event type", "non-positive quantity"}
    store = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    client = MlflowClient(store, registry_uri=store)
    run = client.get_run(json.loads(out.read_text())["run_id"])
    assert run.data.params["events.view_weight"] == "0.1"
    assert run.data.params["events.add_to_cart_weight"] == "0.4"
    assert run.data.metrics["data.events.purchase_lines"] == 2
    assert run.data.tags["events"] == str(events)

    missing = subprocess.run(
        [RECS, "train", "--orders", str(orders), "--events", str(tmp_path / "none"), "--no-tune"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert missing.returncode == 2 and "no such event directory" in missing.stdout
