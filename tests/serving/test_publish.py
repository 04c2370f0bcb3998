"""Publishing a trained bundle into a real Redis: complete versions, atomic switch, grace, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import redis

from recommender.bundle import ModelBundle
from recommender.synthetic import ShopConfig, generate_shop
from serving.cache import (
    ACTIVE_KEY,
    VERSIONS_KEY,
    VersionTables,
    unpack_entries,
    version_key,
)
from serving.publish import IncompleteBundleError, PublishReport, new_version_id, publish_bundle
from serving.version_writer import version_keys
from tests.conftest import SHOP_CUSTOMERS, SHOP_SEED

K = 30


@pytest.fixture(scope="module")
def planted():
    """The planted facts of the session's shop (same config as the ``shop`` fixture, so the same shop)."""
    return generate_shop(ShopConfig(customers=SHOP_CUSTOMERS, seed=SHOP_SEED)).planted


def hash_entries(client: redis.Redis, version: str, surface: str, ids: list[str]) -> list[np.ndarray]:
    return [unpack_entries(raw) for raw in client.hmget(version_key(version, surface), ids)]


def snapshot(client: redis.Redis, version: str) -> dict[bytes, tuple[object, int]]:
    """Every key of a version: (its value, its TTL)."""
    out: dict[bytes, tuple[object, int]] = {}
    for key in version_keys(client, version):
        value = client.hgetall(key) if client.type(key) == b"hash" else client.get(key)
        out[key] = (value, client.ttl(key))
    return out


# a complete version -----------------------------------------------------------------------------------
def test_publish_writes_a_complete_version_then_activates_it(trained, redis_client: redis.Redis) -> None:
    bundle: ModelBundle = trained.bundle
    steps: list[tuple[str, int]] = []
    report = publish_bundle(
        bundle,
        redis_client,
        model_name="shop",
        model_version="7",
        k=K,
        chunk_size=400,
        progress=lambda step, done: steps.append((step, done)),
    )
    assert redis_client.get(ACTIVE_KEY) == report.version.encode()
    assert report.previous_version is None and report.bytes_written > 0
    raw = redis_client.mget([version_key(report.version, n) for n in ("meta", "items", "catalog", "popular")])
    meta = json.loads(raw[0])
    assert (meta["model_name"], meta["model_version"], meta["version"], meta["k"]) == ("shop", "7", report.version, K)
    assert meta["counts"] == report.counts
    assert meta["fitted_until"] == bundle.fitted_until
    assert meta["complements_window_days"] == bundle.models["complements"].config.window_days
    assert json.loads(raw[1]) == bundle.items.ids.tolist()
    # per chunk of 400 customers, then per blob
    n = len(bundle.customers)
    assert [done for step, done in steps if step == "for_you"] == [*range(400, n, 400), n]
    assert {"items", "catalog", "popular", "meta"} <= {step for step, _ in steps}
    # every customer has a for-you list, and the hash holds exactly the reported counts
    for surface, count in report.counts.items():
        assert redis_client.hlen(version_key(report.version, surface)) == count
    assert report.counts["for_you"] == n


def test_serving_tables_load_and_match_the_bundle(trained, published: PublishReport, redis_client) -> None:
    bundle: ModelBundle = trained.bundle
    raw = redis_client.mget([version_key(published.version, n) for n in ("meta", "items", "catalog", "popular")])
    tables = VersionTables.from_raw(published.version, *raw)
    np.testing.assert_array_equal(tables.category, bundle.catalog.category)
    np.testing.assert_array_equal(tables.names, bundle.catalog.name)
    assert tables.categories == bundle.catalog.categories.ids.tolist()
    popular = bundle.models["popular"]
    np.testing.assert_array_equal(tables.popular_items, popular.top(100)[0])
    assert len(tables.popular_by_category) == len(bundle.catalog.categories)
    for c, (items, scores) in tables.popular_by_category.items():
        expected_items, expected_scores = popular.top(100, category=c)
        np.testing.assert_array_equal(items, expected_items)
        np.testing.assert_allclose(scores, expected_scores)


def test_for_you_entries_are_the_for_you_model_lists(trained, published: PublishReport, redis_client) -> None:
    bundle: ModelBundle = trained.bundle
    rng = np.random.default_rng(0)
    customers = rng.choice(len(bundle.customers), 12, replace=False)
    ids = bundle.customers.external(customers).tolist()
    ranked = bundle.surface_model("for_you").recommend(customers, 100)
    for row, entries in enumerate(hash_entries(redis_client, published.version, "for_you", ids)):
        items, scores = ranked.row(row)
        assert len(entries) == len(items) > 0
        np.testing.assert_array_equal(entries["item"], items)
        np.testing.assert_allclose(entries["score"], scores, rtol=1e-5)  # batch sizes change float sums
        assert (entries["reason"] == -1).all()


def test_a_tent_offers_a_sleeping_bag_with_the_share_of_tent_buyers(
    trained, planted, published: PublishReport, redis_client
) -> None:
    bundle: ModelBundle = trained.bundle
    complements = bundle.models["complements"]
    tent = planted.tents[0]
    (entries,) = hash_entries(redis_client, published.version, "complements", [tent])
    offered = bundle.items.external(entries["item"]).tolist()
    bags = [i for i, item in enumerate(offered) if item in planted.sleeping_bags]
    assert bags, f"no sleeping bag among the complements of {tent}: {offered}"
    share = float(entries["reason"][bags[0]])
    n_ab, n_a = complements.pair_stats(bundle.items.index_one(tent), int(entries["item"][bags[0]]))
    assert 0 < share <= 1
    assert share == pytest.approx(n_ab / n_a, rel=1e-6)


def test_only_items_with_a_list_are_stored(trained, published: PublishReport, redis_client) -> None:
    bundle: ModelBundle = trained.bundle
    ranked = bundle.models["complements"].recommend(np.arange(len(bundle.items)), 1)
    with_list = set(bundle.items.external(np.flatnonzero(ranked.items[:, 0] >= 0)).tolist())
    stored = {key.decode() for key in redis_client.hkeys(version_key(published.version, "complements"))}
    assert stored == with_list
    # rows without pair evidence are stored with reason -1, so serving can say so (and mark a list of only those)
    model = bundle.models["complements"]
    top = model.recommend(np.arange(len(bundle.items)), 100)
    rows = np.repeat(np.arange(len(bundle.items)), 100)
    shares = model.shares(rows, top.items.ravel()).reshape(top.items.shape)
    no_pairs = np.flatnonzero(((shares < 0) | (top.items < 0)).all(axis=1) & (top.items[:, 0] >= 0))
    raw = redis_client.hmget(version_key(published.version, "complements"), list(bundle.items.external(no_pairs[:20])))
    assert len(no_pairs) and all((unpack_entries(value)["reason"] == -1).all() for value in raw)


def test_next_purchase_reasons_are_repeat_intervals(trained, planted, published: PublishReport, redis_client) -> None:
    bundle: ModelBundle = trained.bundle
    cycles = planted.coffee_cycles.head(40)
    ids = cycles["customer_id"].to_list()
    bought = trained.load.history.customer_items("binary")
    errors: list[float] = []
    for who, favourite, cycle, entries in zip(
        ids,
        cycles["item_id"].to_list(),
        cycles["cycle_days"].to_list(),
        hash_entries(redis_client, published.version, "next_purchase", ids),
        strict=True,
    ):
        offered = bundle.items.external(entries["item"]).tolist()
        if favourite in offered:  # their own coffee, with about their own cycle as the reason
            days = float(entries["reason"][offered.index(favourite)])
            assert cycle - 1.5 <= days <= 2 * cycle  # jitter is +-1 day; a skipped cycle lengthens the mean
            errors.append(abs(days - cycle))
        owned = np.asarray(bought[bundle.customers.index_one(who), entries["item"]].todense()).ravel() > 0
        assert (entries["reason"][owned] >= 0).all()  # repeat items: their own interval, or 0 if bought once
        assert (entries["reason"][~owned] == -1).all()  # explore items do not
    assert len(errors) >= 30
    assert np.median(errors) <= 1.5


def test_catalog_carries_category_repeat_rates(trained, planted, published: PublishReport, redis_client) -> None:
    from serving.cache import npz_arrays

    bundle: ModelBundle = trained.bundle
    catalog = npz_arrays(redis_client.get(version_key(published.version, "catalog")))
    rate = catalog["category_repeat_rate"]
    assert len(rate) == len(bundle.catalog.categories)
    tent_cat = int(bundle.catalog.category[bundle.items.index_one(planted.tents[0])])
    coffee_cat = int(bundle.catalog.category[bundle.items.index_one(planted.coffees[0])])
    assert rate[tent_cat] < 0.2 < rate[coffee_cat]
    np.testing.assert_array_equal(catalog["in_stock"], bundle.catalog.in_stock)


# switching versions -----------------------------------------------------------------------------------
def test_a_second_publish_switches_and_the_previous_version_expires(trained, redis_client: redis.Redis) -> None:
    first = publish_bundle(trained.bundle, redis_client, model_name="m", model_version="1", k=K)
    assert all(redis_client.ttl(key) == -1 for key in version_keys(redis_client, first.version))
    second = publish_bundle(trained.bundle, redis_client, model_name="m", model_version="2", k=K, grace_seconds=600)
    assert second.version > first.version  # sortable ids
    assert second.previous_version == first.version
    assert redis_client.get(ACTIVE_KEY) == second.version.encode()
    old_keys = version_keys(redis_client, first.version)
    assert len(old_keys) == 8  # four hashes, four blobs: all still readable during the grace
    assert all(0 < redis_client.ttl(key) <= 600 for key in old_keys)
    assert all(redis_client.ttl(key) == -1 for key in version_keys(redis_client, second.version))


def test_a_bundle_lacking_a_model_publishes_nothing(trained, published: PublishReport, redis_client) -> None:
    models = {name: model for name, model in trained.bundle.models.items() if name != "similar"}
    before = redis_client.dbsize()
    with pytest.raises(IncompleteBundleError, match="similar"):
        publish_bundle(replace(trained.bundle, models=models), redis_client, model_name="m", model_version="2")
    assert redis_client.get(ACTIVE_KEY) == published.version.encode()
    assert redis_client.dbsize() == before


def test_version_ids_sort_by_time() -> None:
    ids = [new_version_id(t) for t in (1_700_000_000.0, 1_700_000_000.5, 1_700_000_001.0, 1_800_000_000.0)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


# a publish killed halfway -----------------------------------------------------------------------------
CHUNK = 50
SLOW_PUBLISH = """
import sys, time
from pathlib import Path
import redis
from recommender.bundle import ModelBundle
from serving.publish import publish_bundle

bundle = ModelBundle.load(Path(sys.argv[1]))
client = redis.Redis.from_url(sys.argv[2])
stop_at, marker, calls = int(sys.argv[4]), Path(sys.argv[5]), []

def hold(step, done):  # at the stop_at-th step written: say so, then wait to be killed, however busy the machine
    calls.append(step)
    if len(calls) == stop_at:
        marker.write_text(step)
        time.sleep(3600)

publish_bundle(bundle, client, model_name="m", model_version="2", version=sys.argv[3], chunk_size=int(sys.argv[6]),
               progress=hold)
"""


def publish_steps(bundle: ModelBundle) -> int:
    """How many progress calls a publish with chunks of ``CHUNK`` makes: one per chunk of each surface, then
    one per blob (items, catalog, popular, meta: meta is the last write before the switch)."""
    customers, items = -(-len(bundle.customers) // CHUNK), -(-len(bundle.items) // CHUNK)
    return 2 * customers + 2 * items + 4


def start_slow_publish(
    bundle_dir: Path, redis_url: str, version: str, stop_at: int, marker: Path
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    args = [sys.executable, "-c", SLOW_PUBLISH, str(bundle_dir), redis_url, version, str(stop_at), str(marker)]
    return subprocess.Popen([*args, str(CHUNK)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when_held(proc: subprocess.Popen[bytes], marker: Path, timeout: float = 120.0) -> str:
    """SIGKILL ``proc`` once it wrote ``marker`` (it is then holding); returns the step it was killed at."""
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists() or not marker.read_text():
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the publish ended before it was killed (rc {proc.returncode}): {err}")
            if time.monotonic() > deadline:
                pytest.fail("the publish did not reach its stop point in time")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    return marker.read_text()


# the first chunk, a point drawn at random (seeded: a failure can be replayed), and after meta, right before
# the switch; the random draw covers every surface and blob over runs with other seeds
KILL_POINTS = ("first", "random", "before the switch")
KILL_SEED = 20261123


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_publish_killed_halfway_leaves_the_old_version_serving(
    trained, redis_url: str, redis_client: redis.Redis, tmp_path: Path, point: str
) -> None:
    bundle: ModelBundle = trained.bundle
    steps = publish_steps(bundle)
    drawn = int(np.random.default_rng(KILL_SEED).integers(2, steps))
    stop_at = {"first": 1, "random": drawn, "before the switch": steps}
    old = publish_bundle(bundle, redis_client, model_name="m", model_version="1", k=K)
    before = snapshot(redis_client, old.version)
    partial = new_version_id()
    marker = tmp_path / "held"
    proc = start_slow_publish(bundle.save(tmp_path / "bundle"), redis_url, partial, stop_at[point], marker)
    step = kill_when_held(proc, marker)
    assert proc.returncode == -signal.SIGKILL
    assert version_keys(redis_client, partial), "killed after writing something"
    if point == "before the switch":
        assert step == "meta" and redis_client.exists(version_key(partial, "meta"))
    # the old version is still active, and every one of its keys is as it was (no TTL set either)
    assert redis_client.get(ACTIVE_KEY) == old.version.encode()
    assert snapshot(redis_client, old.version) == before
    # the next publish succeeds and deletes the unfinished version
    new = publish_bundle(bundle, redis_client, model_name="m", model_version="3", k=K)
    assert new.previous_version == old.version
    assert new.removed_versions == [partial]
    assert version_keys(redis_client, partial) == []
    assert redis_client.zscore(VERSIONS_KEY, partial) is None
    assert redis_client.get(ACTIVE_KEY) == new.version.encode()
    assert len(version_keys(redis_client, old.version)) == 8  # the replaced one stays for its grace


def test_the_writer_packs_hset_as_redis_py_does_and_round_trips_every_field(redis_client: redis.Redis) -> None:
    from redis.connection import Connection

    from serving.version_writer import VersionWriter, hset_command

    fields, values = ["c1", "kundé-2", "c3"], [b"\x00\x01", b"", b"\r\n$3"]
    args: list[str | bytes] = [item for pair in zip(fields, values, strict=True) for item in pair]
    assert hset_command(b"h", fields, values) == b"".join(Connection().pack_command("HSET", "h", *args))
    writer = VersionWriter(redis_client, "v-test", chunk=2)  # two HSETs in one round trip
    assert writer.put_hash("for_you", fields, values) == 3
    stored = redis_client.hgetall(version_key("v-test", "for_you"))
    assert stored == {name.encode(): value for name, value in zip(fields, values, strict=True)}


def test_a_refused_write_raises_and_leaves_the_client_usable(redis_client: redis.Redis) -> None:
    from serving.version_writer import VersionWriter

    redis_client.set(version_key("v-test", "similar"), "a string, not a hash")
    writer = VersionWriter(redis_client, "v-test", chunk=1)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        writer.put_hash("similar", ["i1", "i2"], [b"x", b"y"])
    assert redis_client.ping()
    assert writer.put_hash("complements", ["i1"], [b"z"]) == 1
    assert redis_client.hget(version_key("v-test", "complements"), "i1") == b"z"
