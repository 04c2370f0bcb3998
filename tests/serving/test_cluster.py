"""The API tests again, against a real three-master Redis Cluster (``RECS_REDIS_CLUSTER=true``), and a shard
that dies.

The tests below are the single-node modules' own (imported, so they run here with this module's
``redis_url``: the session's cluster, ``tests/conftest.py``): publish, every list route, events changing the
next answer, the cart, the live catalog (``PUT /v1/items`` and ``recs catalog push``), merchandising rules
(the routes and ``recs rules``) and ``recs events export``. Then this module's own: the lists spread over
every shard, a new publish switching readers, an experiment (its stop is a transaction in the shared slot),
``recs publish`` of a registered champion, and a command refused without the cluster's URL. Last, one test
kills a master of a cluster of its own (no replicas): every answer is a 200, those whose slot died marked
``fallback: true``, never a 500. About 35 s in all, plus the session's training when no other test ran it.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import mlflow
import pytest
from redis.cluster import RedisCluster
from typer.testing import CliRunner

from serving.cache import keys_of
from serving.cli import build_app
from serving.embedded_redis import EmbeddedCluster, EmbeddedRedis
from serving.experiments import store
from serving.experiments.config import Experiment
from serving.keys import LIST_BUCKETS
from serving.publish import PublishReport, publish_bundle
from tests.registering import register
from tests.serving.conftest import serve
from tests.serving.test_api import (  # noqa: F401 (collected again here, against the cluster)
    planted,
    test_a_purchase_reshapes_the_next_for_you_answer,
    test_a_tent_is_completed_by_a_sleeping_bag_never_the_reverse,
    test_cart_complements_sum_over_the_cart_without_substitutes,
    test_events_are_bounded_and_expire,
    test_for_you_answers_the_published_list_with_the_contract_fields,
    test_next_purchase_offers_repeat_items_with_their_interval,
    test_popular_per_category,
    test_similar_items_exclude_the_item_and_name_it,
)
from tests.serving.test_event_export import (  # noqa: F401
    test_each_event_is_exported_once_and_new_events_go_to_new_parts,
)
from tests.serving.test_live_catalog import (  # noqa: F401
    test_a_stock_change_is_visible_on_the_next_request_of_every_process,
    test_recs_catalog_push_writes_good_rows_and_lists_rejects,
)
from tests.serving.test_rules import (  # noqa: F401
    app,
    test_block_takes_a_category_out_of_every_surface_and_fallback,
    test_rules_are_stored_listed_replaced_and_deleted,
)
from tests.serving.test_rules_cli import env, test_add_list_and_delete  # noqa: F401
from training.settings import TrainingSettings

pytestmark = pytest.mark.anyio


@pytest.fixture
def redis_url(redis_cluster_url: str) -> str:
    """Every test of this module runs against the session's cluster (emptied before each test)."""
    return redis_cluster_url


def test_publish_spreads_the_lists_over_every_shard(published: PublishReport, redis_client) -> None:
    assert isinstance(redis_client, RedisCluster)
    keys = keys_of(redis_client)
    assert redis_client.get(keys.active).decode() == published.version
    sizes = {node.name: node.redis_connection.dbsize() for node in redis_client.get_primaries()}
    assert len(sizes) == 3 and all(n > 0 for n in sizes.values())
    stored = sum(redis_client.hlen(keys.bucket_key(published.version, "for_you", b)) for b in range(LIST_BUCKETS))
    assert stored == published.counts["for_you"]
    for customer in ("c000001", "c000002"):  # a customer's list and recent events share one slot
        slot = redis_client.keyslot(keys.list_key(published.version, "for_you", customer))
        assert slot == redis_client.keyslot(keys.events(customer))


async def test_a_new_publish_switches_every_reader_at_once(trained, published: PublishReport, redis_client) -> None:
    async with serve(redis_cluster_url_of(redis_client)) as api:
        before = (await api.get("/v1/users/c000001/recommendations")).json()
        newer = publish_bundle(trained.bundle, redis_client, model_name="test-recs", model_version="2")
        await api.get("/v1/users/c000001/recommendations")  # reads the new pointer, answers from the tables it held
        after = (await api.get("/v1/users/c000001/recommendations")).json()
    assert before["model_version"] == f"1@{published.version}" and after["model_version"] == f"2@{newer.version}"
    keys = keys_of(redis_client)
    assert redis_client.ttl(keys.blob(published.version, "meta")) > 0  # the old version expires after the grace


async def test_an_experiment_splits_customers_and_its_stop_promotes_in_one_transaction(
    trained, published: PublishReport, redis_client, redis_url: str
) -> None:
    challenger = publish_bundle(trained.bundle, redis_client, model_name="test-recs", model_version="2", activate=False)
    experiment = Experiment(
        name="exp-1",
        model_name="test-recs",
        challenger_model_version="2",
        challenger_version=challenger.version,
        champion_model_version="1",
        share=0.5,
        surfaces=("for_you",),
        started_at=int(time.time()),
    )
    store.start(redis_client, experiment)
    async with serve(redis_url) as api:
        bodies = [(await api.get(f"/v1/users/{c}/recommendations")).json() for c in trained.bundle.customers.ids[:20]]
    assert {body["variant"] for body in bodies} == {"champion", "challenger"}
    assert store.stop(redis_client, experiment, promote=True, grace_seconds=60) == published.version
    assert redis_client.get(keys_of(redis_client).active).decode() == challenger.version
    assert store.read_experiment(redis_client) is None


def test_recs_publish_writes_the_champion_into_the_cluster(
    trained, recs_home: Path, redis_url: str, redis_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # mlflow sets both in os.environ: undo after
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    register(TrainingSettings(), trained, promote=True)
    try:
        result = CliRunner().invoke(build_app(), ["publish"], env={"RECS_REDIS_URL": redis_url})
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    keys = keys_of(redis_client)
    version = redis_client.get(keys.active).decode()
    assert json.loads(redis_client.get(keys.blob(version, "meta")))["model_version"] == "1"
    assert redis_client.hlen(keys.bucket_key(version, "for_you", 0)) > 0


def test_a_cluster_without_its_url_is_refused(recs_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECS_REDIS_CLUSTER", "true")
    monkeypatch.delenv("RECS_REDIS_URL", raising=False)
    result = CliRunner().invoke(build_app(), ["rules", "list"])
    assert result.exit_code != 0 and "RECS_REDIS_CLUSTER=true needs RECS_REDIS_URL" in result.output


def redis_cluster_url_of(client: RedisCluster) -> str:
    node = client.get_default_node()
    return f"redis://{node.host}:{node.port}/0"


def kill(node: EmbeddedRedis) -> None:
    """SIGKILL a cluster node's process (no shutdown, no replica to take over)."""
    assert node.process is not None
    node.process.kill()
    node.process.wait()


async def test_a_dead_shard_gives_marked_fallbacks_never_a_500(
    trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECS_REDIS_CLUSTER", "true")
    bundle = trained.bundle
    customers = bundle.customers.ids[:40].tolist()
    items = bundle.items.ids[:20].tolist()
    paths = [f"/v1/users/{c}/{route}" for c in customers for route in ("recommendations", "next-purchase")]
    paths += [f"/v1/items/{i}/{route}" for i in items for route in ("complements", "similar")]
    with EmbeddedCluster(tmp_path / "cluster") as cluster:
        client = RedisCluster.from_url(cluster.url)
        publish_bundle(bundle, client, model_name="test-recs", model_version="1")
        keys = keys_of(client)
        port_of = {n.port: n for n in cluster.nodes}
        shared = port_of[client.get_node_from_key(keys.active).port]
        victim = next(n for n in cluster.nodes if n is not shared)  # its customers fall back, the others not
        on_victim = {c: client.get_node_from_key(keys.events(c)).port == victim.port for c in customers}
        client.close()
        async with serve(cluster.url, version_check_seconds=0) as api:
            before = [(await api.get(p)).json()["fallback"] for p in paths]  # a few have no list of their own
            kill(victim)
            one_dead = await asyncio.gather(*(api.get(p) for p in paths))
            view = {"customer_id": customers[0], "type": "view", "item_ids": [items[0]]}
            event = await api.post("/v1/events", json=view)
            kill(shared)  # the pointers, tables, log: every customer falls back, events wait in the worker
            both_dead = await asyncio.gather(*(api.get(p) for p in paths))
            buffered = await api.post("/v1/events", json=view)
    assert [r.status_code for r in one_dead + both_dead] == [200] * (2 * len(paths))
    after = [r.json()["fallback"] for r in one_dead]
    expected = [
        was or (p.startswith("/v1/users/") and on_victim[p.split("/")[3]])  # items: answers held in memory
        for p, was in zip(paths, before, strict=True)
    ]
    assert after == expected and any(on_victim.values()) and not all(on_victim.values())
    assert event.status_code == 202 and not event.json().get("buffered")  # its log is on a live shard
    users = [r.json()["fallback"] for r in both_dead if r.url.path.startswith("/v1/users/")]
    assert all(users)
    assert buffered.status_code == 202 and buffered.json()["buffered"] is True
