"""``recs train --engine spark`` end to end on local[2]: a small generated shop read by Spark and validated
by the shared rules (a bad line and a duplicate rejected with their lines and reasons), ALS fitted by Spark MLlib, the
bundle registered in a real MLflow store, published from the registry into the test Redis and served by the
app, as a locally trained bundle is; and the reader (with its per-row validation), ALS, the neighbour lists,
the pair counts (complements, similar items) and the history parts (time split, repeat statistics, popularity)
each against the local engine's.
Slow: the file takes 40-60 s on 2 cores, 10 s of it Spark's start, most of the rest the ALS fits.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from mlflow import MlflowClient
from rich.console import Console

from recommender.models.collaborative import CollaborativeConfig, confidence_matrix, fit_factors
from recommender.synthetic import generate
from serving.registry_publish import GRACE_SECONDS, PUBLISH_K, publish_from_registry
from tests.serving.conftest import serve
from training.cli import train_and_register
from training.settings import TrainingSettings

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def _orders_with_two_bad_lines(tmp_path: Path) -> tuple[Path, Path, int]:
    shop = generate(tmp_path / "shop", customers=300, seed=5)
    lines = shop["orders"].read_text().splitlines()
    header = lines[0].split(",")
    bad = dict.fromkeys(header, "")
    bad.update({"customer_id": "c1", "item_id": "tent-x", "ordered_at": "not a date"})
    orders = tmp_path / "orders.csv"
    orders.write_text("\n".join([*lines, ",".join(bad[c] for c in header), lines[1]]) + "\n")
    return orders, shop["catalog"], len(lines)


async def test_spark_engine_trains_a_bundle_that_publishes_and_serves(
    spark, recs_home: Path, redis_url: str, tmp_path: Path
) -> None:
    orders, catalog, n_lines = _orders_with_two_bad_lines(tmp_path)
    settings = TrainingSettings().model_copy(update={"tune": False, "eval_customers": 0})
    metrics_json = tmp_path / "metrics.json"
    rejects = tmp_path / "rejects.csv"
    train_and_register(
        Console(width=200),
        settings,
        orders,
        catalog,
        promote=True,
        metrics_json=metrics_json,
        rejects=rejects,
        engine="spark",
    )
    payload = json.loads(metrics_json.read_text())
    data = payload["data"]
    assert data["data.rows_in"] == n_lines + 1 == data["data.rows_kept"] + data["data.rows_rejected"]
    with rejects.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((int(r["line"]), r["reason"]) for r in rows) == [
        (n_lines + 1, "unparseable ordered_at"),
        (n_lines + 2, "duplicate line"),
    ]
    assert payload["promoted"] is True
    metrics = payload["metrics"]
    assert metrics["for_you.precision_at_10"] > 0 and metrics["next_purchase.recall_at_10"] > 0

    client = MlflowClient(settings.resolved_tracking_uri, registry_uri=settings.resolved_tracking_uri)
    run = client.get_run(payload["run_id"])
    assert run.data.tags["engine"] == "spark"
    assert run.data.params["collaborative.factors"] == str(CollaborativeConfig().factors)

    report = publish_from_registry(Console(), settings, redis_url, None, PUBLISH_K, GRACE_SECONDS)
    async with serve(redis_url) as api:
        with orders.open(newline="") as fh:
            customer = next(csv.DictReader(fh))["customer_id"]
        response = await api.get(f"/v1/users/{customer}/recommendations")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["fallback"] is False and body["items"]
        assert body["model_version"] == f"{payload['version']}@{report.version}"
        again = await api.get(f"/v1/users/{customer}/next-purchase")
        assert again.status_code == 200 and again.json()["items"]


def test_spark_als_learns_what_implicit_learns(spark) -> None:
    """The same weighted matrix through both factorizers: the items each ranks first for a customer mostly
    agree (ALS from different seeds and solvers never agrees exactly)."""
    from training.spark import spark_engine

    rng = np.random.default_rng(3)
    groups = rng.integers(0, 4, size=200)  # four tastes, 15 items each
    rows, cols = [], []
    for customer, group in enumerate(groups):
        picks = rng.choice(15, size=6, replace=False) + 15 * group
        rows += [customer] * 6
        cols += picks.tolist()
    counts = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(200, 60))
    config = CollaborativeConfig(factors=8, regularization=1.0, iterations=10)
    weighted = confidence_matrix(counts, config)
    ours = spark_engine(spark).factorizer(weighted, config)
    theirs = fit_factors(weighted, config)
    for user_factors, item_factors in (ours, theirs):
        scores = user_factors @ item_factors.T
        top_group = np.argsort(-scores, axis=1)[:, :5] // 15
        assert (top_group == groups[:, None]).mean() > 0.9


def test_spark_engine_without_java_exits_6_and_says_what_to_install(tmp_path: Path) -> None:
    """No Java on PATH nor in JAVA_HOME: a message naming what to install, exit 6, before any data is read."""
    import os
    import subprocess
    import sys

    recs = str(Path(sys.executable).with_name("recs"))
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    env.update(PATH=str(tmp_path), RECS_HOME=str(tmp_path / "home"), COLUMNS="200")
    result = subprocess.run(
        [recs, "train", "--orders", str(tmp_path / "orders.csv"), "--engine", "spark"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 6, result.stdout + result.stderr
    assert "Java runtime" in result.stdout and "openjdk-17-jre-headless" in result.stdout


def test_spark_neighbour_lists_are_the_local_ones(spark) -> None:
    """The blocked search on Spark gives exactly the local engine's lists (the same function, per block)."""
    from recommender.models.next_purchase import NextPurchaseConfig
    from recommender.models.next_purchase.neighbours import neighbour_lists
    from training.spark import spark_engine

    vectors = sp.random(500, 80, density=0.08, format="csr", random_state=4, dtype=np.float32)
    pool = np.arange(0, 500, 2)
    queries = np.random.default_rng(1).permutation(500)[:300]
    cfg = NextPurchaseConfig()
    ours = spark_engine(spark).neighbour_lists(vectors, pool, queries, cfg)
    theirs = neighbour_lists(vectors, pool, queries, cfg)
    assert ours.shape == theirs.shape == (300, 80) and theirs.nnz > 0
    assert (ours != theirs).nnz == 0


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_spark_reader_loads_what_the_local_reader_loads(spark, tmp_path: Path, kind: str) -> None:
    """Hostile single-line rows (a surplus field, a quoted separator, a blank line, CRLF, a bad date, a negative
    quantity, duplicates, order ids shared by customers, their lines far apart in the file so that they start in
    different partitions): the same history and the same rejects, lines and reasons, every check run on the
    executors (the file read in several partitions, the rows keyed into several more)."""
    import polars as pl

    from recommender.data import fingerprint, load_orders
    from recommender.data.columns import ORDER_COLUMNS, ORDER_REQUIRED
    from training.spark.reader import spark_reader

    header = ["Customer_ID", "item_id", "ordered_at", "order_id", "quantity"]
    rows = [
        ["c1", "a;b", "2026-01-02T10:00:00Z", "o1", "1"],
        ["c2", "b", "yesterday", "o2", "1"],
        ["c2", "c", "2026-01-03", "o2", "1"],
        ["c2", "c", "2026-01-03", "o2", "1"],
        ["c3", "d", "2026-01-04", "o2", "1"],
        ["c3", "a", "2026-01-05", "", "-1"],
    ]
    rows += [
        [f"c{(i // 3) % 17}", f"i{i % 23}", f"2026-02-{1 + i % 27:02d}", f"o{100 + i // 3}", "1"] for i in range(120)
    ]
    rows += [rows[10], rows[40], ["c3", "a", "2026-01-05", "", "2"], ["c3", "a", "2026-01-05", "", "2"]]
    rows += [["c99", "z", "2026-03-01", "o1", "1"], ["c98", "z", "2026-03-01", "o110", "1"], rows[70]]
    if kind == "csv":
        lines = [";".join(header), *(";".join(f'"{v}"' if ";" in v else v for v in row) for row in rows)]
        lines[2:2] = ["c1;b;2026-01-02T10:00:00Z;o1;2;surplus", ""]
        path = tmp_path / "orders.csv"
        path.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    else:
        path = tmp_path / "orders.parquet"
        pl.DataFrame(rows, schema=header, orient="row").write_parquet(path, row_group_size=16)
    reader = spark_reader(spark, min_partitions=4)
    split = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "512")  # a Parquet file's row groups: several partitions
    try:
        ours = load_orders(path, reader=reader)
        table = reader(path, ORDER_COLUMNS, ORDER_REQUIRED)
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", split)
    theirs = load_orders(path)
    # every check ran on the executors: the driver got the kept lines as numbers, the rejected and blank rows
    assert table.indexed is not None and all(dtype.is_numeric() for dtype in table.indexed.lines.dtypes)
    assert table.indexed.lines.height == theirs.summary.rows_kept > 100
    assert table.frame.height == theirs.summary.rows_rejected + theirs.summary.blank_lines
    assert fingerprint(ours.history) == fingerprint(theirs.history)
    assert ours.summary == theirs.summary and ours.summary.rows_rejected >= 8
    assert ours.summary.rows_in == ours.summary.rows_kept + ours.summary.rows_rejected
    by_reason = theirs.summary.rejected_by_reason
    assert by_reason["duplicate line"] >= 4 and by_reason["order_id shared by several customers"] >= 3
    assert ours.rejects.equals(theirs.rejects)


def test_spark_reader_with_float_ids_a_catalog_and_events_loads_what_the_local_reader_loads(
    spark, tmp_path: Path
) -> None:
    """Parquet orders whose customer ids pandas stored as floats (NaN: missing; one id 2.5 in a late row group,
    so that the whole column reads as floats, which no other part shows), read in several partitions, with a
    catalog and exported events (their purchases merged with the kept lines' ids): the same history (ids,
    lines, signals), summary and rejects as the local reader's."""
    import polars as pl

    from recommender.data import fingerprint, load_orders
    from tests.recommender.test_events_training import _events
    from training.spark.reader import spark_reader

    n = 160
    customers = [float("nan") if i < 16 else float(i % 19) for i in range(n)]
    customers[150] = 2.5
    orders = pl.DataFrame(
        {
            "customer_id": customers,
            "item_id": [f"a{i % 7}" for i in range(n)],
            "ordered_at": [1_767_225_600 + 3_600 * i for i in range(n)],
            "order_id": [f"o{i // 4}" if i % 5 else "" for i in range(n)],
            "quantity": [1 + i % 3 for i in range(n)],
        }
    )
    path = tmp_path / "orders.parquet"
    orders.write_parquet(path, row_group_size=16)
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("item_id,name,category\na1,one,x\na2,two,y\nzz,unsold,x\nzz,again,x\n")
    events = _events(tmp_path / "events")
    split = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "512")
    try:
        assert spark.read.parquet(str(path)).rdd.getNumPartitions() > 3
        ours = load_orders(path, catalog_path=catalog, events_path=events, reader=spark_reader(spark))
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", split)
    theirs = load_orders(path, catalog_path=catalog, events_path=events)
    assert "2.5" in theirs.history.customers.ids and "3.0" in theirs.history.customers.ids
    assert list(ours.history.customers.ids) == list(theirs.history.customers.ids)
    assert list(ours.history.items.ids) == list(theirs.history.items.ids)
    assert fingerprint(ours.history) == fingerprint(theirs.history) and len(theirs.history.signals) > 0
    assert ours.summary == theirs.summary and theirs.summary.rejected_by_reason["empty customer_id"] == 16
    assert ours.rejects.equals(theirs.rejects)


@pytest.mark.parametrize(
    "text",
    ["customer_id,item_id,ordered_at\n", "customer_id,item_id,ordered_at\n,a,2026-01-01\n\nc1,b,never\n"],
    ids=["header only", "every row rejected"],
)
def test_spark_reader_on_a_file_without_a_kept_line(spark, tmp_path: Path, text: str) -> None:
    """No kept line (no ids to index): the same empty history, summary and rejects as the local reader's."""
    from recommender.data import load_orders
    from training.spark.reader import spark_reader

    path = tmp_path / "orders.csv"
    path.write_text(text)
    ours, theirs = load_orders(path, reader=spark_reader(spark)), load_orders(path)
    assert ours.history.n_lines == theirs.history.n_lines == 0
    assert ours.summary == theirs.summary and ours.rejects.equals(theirs.rejects)


def test_spark_pair_counts_give_the_local_complements_and_similar_items(
    spark, shop: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Complements and similar items (with and without the category rule and its second-order profiles)
    fitted with the Spark engine's pair counts equal the local engine's: the same pairs, counts and order,
    scores within 1e-5 relative. The Spark fits use small blocks, so the shop's 500 items make many tasks
    (and the lists must not depend on the blocks either); a job group shows the blocks ran as Spark jobs."""
    from recommender.data import load_orders
    from recommender.models import complements, similar
    from recommender.models.complements import ComplementsModel
    from recommender.models.similar import SimilarConfig, SimilarItemsModel
    from training.engine import LOCAL
    from training.spark import spark_engine

    history = load_orders(shop["orders"], catalog_path=shop["catalog"]).history
    models = (
        lambda: ComplementsModel(),
        lambda: SimilarItemsModel(),
        lambda: SimilarItemsModel(SimilarConfig(same_category_only=False)),
    )
    with LOCAL.running():
        theirs = [make().fit(history)._state() for make in models]
    monkeypatch.setattr(complements, "ROWS_PER_BLOCK", 40)
    monkeypatch.setattr(similar, "_KERNEL_ROWS", 60)
    context = spark.sparkContext
    context.setJobGroup("pair-counts", "the pair counts' blocks")
    try:
        with spark_engine(spark).running():
            ours = [make().fit(history)._state() for make in models]
        jobs = context.statusTracker().getJobIdsForGroup("pair-counts")
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    assert len(jobs) >= 5  # complements' lists and reverse counts, similar items' three products
    for our_state, their_state in zip(ours, theirs, strict=True):
        assert our_state.keys() == their_state.keys()
        assert len(their_state["indices"]) > 1000  # enough pairs to say something
        for key, theirs_array in their_state.items():
            if np.issubdtype(theirs_array.dtype, np.floating):
                np.testing.assert_allclose(our_state[key], theirs_array, rtol=1e-5, atol=0)
            else:
                np.testing.assert_array_equal(our_state[key], theirs_array)


def test_spark_history_parts_give_the_local_split_repeat_statistics_and_popularity(
    spark, shop: dict[str, Path]
) -> None:
    """The time split, repeat statistics and popularity with their per-customer (per-order) passes run as Spark
    tasks, in small parts so that the shop makes eight of them, equal the local engine's arrays exactly."""
    from dataclasses import fields, replace

    from recommender.data import load_orders
    from recommender.evaluation import split_last_order
    from recommender.models.next_purchase import NextPurchaseConfig
    from recommender.models.next_purchase.repeats import RepeatStats
    from recommender.models.popular import PopularModel
    from training.engine import LOCAL
    from training.spark import spark_engine
    from training.spark.history_parts import spark_history_parts

    history = load_orders(shop["orders"], catalog_path=shop["catalog"]).history
    cfg = NextPurchaseConfig(groups=2)

    def steps() -> tuple[object, RepeatStats, dict[str, np.ndarray]]:
        return split_last_order(history), RepeatStats.fit(history, cfg), PopularModel().fit(history)._state()

    with LOCAL.running():
        theirs = steps()
    engine = replace(spark_engine(spark), history_parts=spark_history_parts(spark, min_part_lines=500))
    context = spark.sparkContext
    context.setJobGroup("history-parts", "the per-customer and per-order passes")
    try:
        with engine.running():
            ours = steps()
        jobs = context.statusTracker().getJobIdsForGroup("history-parts")
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    assert len(jobs) == 3 and history.n_lines > 8 * 500
    tracker = context.statusTracker()
    stages = [stage for job in jobs for stage in tracker.getJobInfo(job).stageIds]
    assert [tracker.getStageInfo(stage).numTasks for stage in stages] == [8, 8, 8]
    (split, repeats, popular), (their_split, their_repeats, their_popular) = ours, theirs
    np.testing.assert_array_equal(split.customers, their_split.customers)
    np.testing.assert_array_equal(split.at, their_split.at)
    assert (split.targets != their_split.targets).nnz == 0 and their_split.targets.nnz > 100
    np.testing.assert_array_equal(split.train.order, their_split.train.order)
    for field in fields(RepeatStats):
        np.testing.assert_array_equal(getattr(repeats, field.name), getattr(their_repeats, field.name), field.name)
    assert their_repeats.repeatable.any()
    for key, array in their_popular.items():
        np.testing.assert_array_equal(popular[key], array, key)
