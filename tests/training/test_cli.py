"""``recs`` as a real process: its commands; ``recs generate`` and ``recs train``'s exit codes, rejects, MLflow
registry, metrics JSON."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from recommender.vocabulary import DEFAULT_MODEL_NAME
from serving.settings import ServingSettings
from training.settings import TrainingSettings

RECS = str(Path(sys.executable).with_name("recs"))


def _run(args: list[str], home: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECS_HOME": str(home), "RECS_MODEL_NAME": "cli-recs", "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    return subprocess.run([RECS, *args], capture_output=True, text=True, env=env, timeout=timeout)


def _rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


COMMANDS = ("generate", "train", "tune", "publish", "promote", "rollback", "serve", "demo", "simulate", "events")


def test_recs_is_assembled_by_serving_cli_with_every_command(tmp_path: Path) -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["recs"] == "serving.launch:main"
    result = _run(["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2]
    assert [name for name in listed if name in COMMANDS] == list(COMMANDS)


def test_the_console_script_sets_polars_allocator_before_polars_loads() -> None:
    code = (
        "import os, sys\n"
        "os.environ.pop('_RJEM_MALLOC_CONF', None)\n"
        "from serving import launch\n"
        "assert 'polars' not in sys.modules\n"
        "sys.argv = ['recs', '--help']\n"
        "try:\n    launch.main()\nexcept SystemExit:\n    pass\n"
        "assert 'polars' in sys.modules\n"
        "print(os.environ['_RJEM_MALLOC_CONF'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    # polars puts its own defaults first; jemalloc reads the options in order, so the last ones hold
    assert result.stdout.strip().splitlines()[-1].endswith("dirty_decay_ms:0,muzzy_decay_ms:0")


_HEAP_PROBE = """
import sys
import numpy as np
from serving import launch
if sys.argv[1] == "recs":  # the console script's start, as in the test above
    sys.argv = ["recs", "--help"]
    try:
        launch.main()
    except SystemExit:
        pass
big = np.ones(16 << 20, dtype=np.uint8)
del big  # glibc raises its mmap threshold past 16 MB here, unless it was fixed
probe = np.ones(2 << 20, dtype=np.uint8)
address = probe.ctypes.data
for line in open("/proc/self/maps"):
    if line.rstrip().endswith("[heap]"):
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        print("heap" if lo <= address < hi else "own mapping")
        break
else:
    print("own mapping")
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc")
def test_the_console_script_fixes_glibc_mmap_threshold() -> None:
    """After a large array is freed, a 2 MB one still gets its own mapping (returned to the system when freed)
    once ``recs`` fixed the threshold; glibc's default raised threshold puts it on the heap."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("the mmap threshold is glibc's")
    fixed, default = (
        subprocess.run([sys.executable, "-c", _HEAP_PROBE, mode], capture_output=True, text=True, check=True)
        for mode in ("recs", "default")
    )
    assert fixed.stdout.strip().splitlines()[-1] == "own mapping", fixed.stderr  # after the help text
    assert default.stdout.strip() == "heap", default.stderr


def test_train_publish_and_serve_default_to_the_vocabulary_model_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """train registers and publish reads ``TrainingSettings().model_name``; serve passes it on to the app."""
    monkeypatch.delenv("RECS_MODEL_NAME", raising=False)
    assert TrainingSettings().model_name == DEFAULT_MODEL_NAME
    assert ServingSettings().model_name == DEFAULT_MODEL_NAME


def test_generate_writes_a_shop(tmp_path: Path) -> None:
    result = _run(["generate", "--out", str(tmp_path / "shop"), "--customers", "50", "--seed", "3"], tmp_path)
    assert result.returncode == 0, result.stderr
    header = (tmp_path / "shop" / "orders.csv").read_text().splitlines()[0].split(",")
    assert {"customer_id", "item_id", "ordered_at"} <= set(header)
    assert (tmp_path / "shop" / "catalog.csv").exists()


def test_train_end_to_end_with_a_few_bad_lines(shop: dict[str, Path], tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    lines = shop["orders"].read_text().splitlines()
    header = lines[0].split(",")
    bad = dict.fromkeys(header, "")
    bad.update({"customer_id": "", "item_id": "tent-x", "ordered_at": "2026-01-01"})
    bad_line = ",".join(bad[c] for c in header)
    orders.write_text("\n".join([*lines, bad_line, lines[1]]) + "\n")  # an empty id and an exact duplicate
    metrics_json = tmp_path / "metrics.json"

    result = _run(
        [
            "train",
            "--orders",
            str(orders),
            "--catalog",
            str(shop["catalog"]),
            "--metrics-json",
            str(metrics_json),
            "--promote",
            "--eval-customers",
            "300",
        ],
        tmp_path / "home",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "gp_topfreq" in out and "next_purchase on 300 customers (time-ordered split)" in out
    assert "promoted" in result.stdout

    payload = json.loads(metrics_json.read_text())
    data = payload["data"]
    assert data["data.rows_in"] == len(lines) + 1
    assert data["data.rows_in"] == data["data.rows_kept"] + data["data.rows_rejected"]
    assert data["data.rows_rejected"] == 2
    assert payload["promoted"] is True and payload["version"] == "1"
    assert (
        payload["metrics"]["next_purchase.recall_at_10"]
        > payload["metrics"]["next_purchase.baseline.g_topfreq.recall_at_10"]
    )

    rejects = _rejects(tmp_path / "home" / "rejects" / "orders-rejects.csv")
    assert sorted(r["reason"] for r in rejects) == ["duplicate line", "empty customer_id"]
    assert {int(r["line"]) for r in rejects} == {len(lines) + 1, len(lines) + 2}

    store = f"sqlite:///{(tmp_path / 'home' / 'mlflow.db').resolve()}"
    client = MlflowClient(store, registry_uri=store)  # not the process-wide registry an earlier test set
    champion = client.get_model_version_by_alias("cli-recs", "champion")
    assert str(champion.version) == "1"
    # the evaluation scored a sample of 300 of the customers with two or more orders, and says so
    assert payload["metrics"]["eval.next_purchase_customers"] == 300
    assert payload["metrics"]["eval.eligible_customers"] > 300
    assert client.get_run(champion.run_id).data.params["evaluation.max_customers"] == "300"
    # the training data's fingerprint, on the run and in the metrics JSON
    tags = client.get_run(champion.run_id).data.tags
    assert tags["data.fingerprint"] == data["fingerprint"] and len(data["fingerprint"]) == 16
    assert (
        tags["data.lines"] == str(data["data.rows_kept"]) and tags["data.first_order_at"] < tags["data.last_order_at"]
    )


def test_malformed_orders_exit_2_with_rejects_and_summary(tmp_path: Path) -> None:
    orders = tmp_path / "bad.csv"
    rows = [
        "customer_id,item_id,ordered_at,quantity",
        "c1,tent,2026-01-01,1",
        "c1,bag,2026-01-03,1",
        "c2,tent,not-a-date,1",
        ",bag,2026-01-03,1",
        "c3,,2026-01-03,1",
        "c3,bag,2026-01-04,-2",
        "c1,bag,2026-01-03,1",
        "c4,bag,2026-01-05,1",
    ]
    orders.write_text("\n".join(rows) + "\n")
    result = _run(["train", "--orders", str(orders)], tmp_path / "home")
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout
    assert "rejected" in out and "--max-reject-ratio" in out
    rejects = _rejects(tmp_path / "home" / "rejects" / "bad-rejects.csv")
    by_line = {int(r["line"]): r["reason"] for r in rejects}
    assert by_line == {
        4: "unparseable ordered_at",
        5: "empty customer_id",
        6: "empty item_id",
        7: "non-positive quantity",
        8: "duplicate line",
    }
    assert next(r for r in rejects if r["line"] == "4")["ordered_at"] == "not-a-date"


def test_missing_column_is_named_and_exits_2(tmp_path: Path) -> None:
    orders = tmp_path / "no_dates.csv"
    orders.write_text("customer_id,item_id\nc1,tent\n")
    result = _run(["train", "--orders", str(orders)], tmp_path / "home")
    assert result.returncode == 2
    assert "ordered_at" in result.stdout


@pytest.mark.parametrize("ratio, code", [("0.9", 0), ("0.05", 2)])
def test_reject_ratio_threshold_decides_the_exit_code(
    shop: dict[str, Path], tmp_path: Path, ratio: str, code: int
) -> None:
    lines = shop["orders"].read_text().splitlines()
    keep = lines[: 1 + 3000]
    bad = [",".join(["", *line.split(",")[1:]]) for line in lines[3001:3400]]  # ~12% empty customer ids
    orders = tmp_path / "mixed.csv"
    orders.write_text("\n".join(keep + bad) + "\n")
    result = _run(["train", "--orders", str(orders), "--max-reject-ratio", ratio], tmp_path / "home")
    assert result.returncode == code, result.stdout + result.stderr


def test_promote_on_data_too_small_to_evaluate_explains_and_writes_the_metrics(tmp_path: Path) -> None:
    """No customer has two orders: nothing can be scored. On a brand-new store, --promote neither crashes nor
    promotes; it says why, warns with the reason before, and --metrics-json is written."""
    orders = tmp_path / "tiny.csv"
    lines = [f"o{i},c{i},i{i % 7},1,2.5,2026-0{1 + i % 9}-1{i % 9}T10:00:00" for i in range(24)]
    orders.write_text("order_id,customer_id,item_id,quantity,price,ordered_at\n" + "\n".join(lines) + "\n")
    metrics = tmp_path / "metrics.json"
    done = _run(["train", "--orders", str(orders), "--promote", "--no-tune", "--metrics-json", str(metrics)], tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    out = " ".join(done.stdout.split())
    assert "next purchase could not be evaluated" in out
    assert "too few to evaluate next purchase (0 customers), for you (0 customers) and " in out
    assert "the minimum is 200 (RECS_MIN_EVAL_CUSTOMERS)" in out
    assert "not promoted: the evaluation gave no next_purchase.ndcg_at_10" in out
    payload = json.loads(metrics.read_text())
    assert payload["promoted"] is False and payload["version"] == "1"
    assert payload["promotion"].startswith("not promoted")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(store, registry_uri=store)  # not the process-wide registry an earlier test set
    assert str(client.get_model_version_by_alias("cli-recs", "candidate").version) == "1"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("cli-recs", "champion")


def test_promotion_compares_on_the_same_evaluation(shop: dict[str, Path], tmp_path: Path) -> None:
    """``--promote`` refits the champion's config on the new run's split and promotes only on that comparison:
    the same config again ties and promotes (fresher data); a worse config does not; a 6-customer file,
    whose own number is high, is refused for too few scored customers."""
    home = tmp_path / "home"
    base = ["train", "--orders", str(shop["orders"]), "--catalog", str(shop["catalog"]), "--promote", "--no-tune"]
    base += ["--eval-customers", "300"]

    def train(*extra: str) -> tuple[dict, str]:
        out = tmp_path / "metrics.json"
        done = _run([*base, *extra, "--metrics-json", str(out)], home)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(out.read_text()), " ".join(done.stdout.split())

    first, _ = train()
    assert first["promoted"] and "first @champion" in first["promotion"]
    again, text = train()
    assert again["promoted"], again["promotion"]
    assert "champion version 1's config refitted on the same split" in text
    store = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    client = MlflowClient(store, registry_uri=store)
    run = client.get_run(client.get_model_version("cli-recs", "2").run_id)
    own, champions = (
        run.data.metrics["next_purchase.ndcg_at_10"],
        run.data.metrics["promotion.champion.next_purchase.ndcg_at_10"],
    )
    assert own == pytest.approx(champions, abs=1e-9)  # the same config on the same split
    assert run.data.metrics["promotion.scored_customers"] == 300

    worse_config = tmp_path / "worse.json"
    worse_config.write_text(json.dumps({"next_purchase": {"min_repeat_share": 1.0, "neighbours": 0}}))
    worse, text = train("--config", str(worse_config))
    assert not worse["promoted"] and "not promoted" in worse["promotion"], worse["promotion"]
    assert worse["metrics"]["next_purchase.ndcg_at_10"] < champions

    tiny = tmp_path / "tiny.csv"
    lines = [f"o{c}{n},c{c},i{(c + n) % 5},1,2.5,2026-0{1 + n}-0{1 + c}T10:00:00" for c in range(6) for n in range(4)]
    tiny.write_text("order_id,customer_id,item_id,quantity,price,ordered_at\n" + "\n".join(lines) + "\n")
    out = tmp_path / "tiny.json"
    done = _run(["train", "--orders", str(tiny), "--promote", "--no-tune", "--metrics-json", str(out)], home)
    assert done.returncode == 0, done.stdout + done.stderr
    small = json.loads(out.read_text())
    assert not small["promoted"] and "scored 6 customers, fewer than the 200" in small["promotion"]
    assert str(client.get_model_version_by_alias("cli-recs", "champion").version) == "2"
