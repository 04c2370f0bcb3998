"""Events and readiness through a Redis outage: a private redis-server (append-only file, so the published
version survives) is stopped and started again under a running app, through real HTTP.

An event accepted during the outage is buffered (202, ``"buffered": true``), written to Redis when it
returns, and then changes the customer's answer; a full buffer refuses with 503 + Retry-After; a stopping
app spools what it could not write and the next start writes it; /readyz says so all along.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from recommender.bundle import ModelBundle
from recommender.synthetic import ShopConfig, generate_shop
from serving.cache import events_key
from serving.embedded_redis import EmbeddedRedis
from serving.feedback.store import LOG_KEY
from serving.publish import publish_bundle
from tests.conftest import SHOP_CUSTOMERS, SHOP_SEED
from tests.serving.conftest import serve
from tests.serving.test_api import ids_of
from tests.serving.test_api_ops import samples

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def planted():
    return generate_shop(ShopConfig(customers=SHOP_CUSTOMERS, seed=SHOP_SEED)).planted


@pytest.fixture
def server(trained, tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A private Redis with the trained bundle published; persisted, so a restart keeps the version."""
    server = EmbeddedRedis(tmp_path / "redis", persist=True).start()
    try:
        with redis.Redis.from_url(server.url) as client:
            publish_bundle(trained.bundle, client, model_name="test-recs", model_version="1")
        yield server
    finally:
        server.stop()


def stored_events(url: str, customer_id: str) -> list[dict]:
    """The customer's events as Redis holds them, newest first."""
    with redis.Redis.from_url(url) as client:
        return [json.loads(raw) for raw in client.lrange(events_key(customer_id), 0, -1)]


async def restart(server: EmbeddedRedis) -> None:
    await asyncio.to_thread(server.start)  # same port and data dir: the append-only file brings the version back


async def until(api: httpx.AsyncClient, condition, seconds: float = 5.0) -> dict:
    """Poll /readyz until ``condition(status, body)`` holds; returns the body (fails after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        response = await api.get("/readyz")
        if condition(response.status_code, response.json()):
            return response.json()
        assert time.monotonic() < deadline, f"/readyz stayed {response.status_code} {response.json()}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def api(server: EmbeddedRedis) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(server.url) as client:
        yield client


async def test_a_purchase_sent_during_an_outage_reshapes_the_answer_after_the_restart(
    api: httpx.AsyncClient, server: EmbeddedRedis, trained, planted
) -> None:
    bundle: ModelBundle = trained.bundle
    tent, who = planted.tents[0], "bought-during-the-outage"
    assert (await api.get("/readyz")).status_code == 200
    server.stop()
    ready = await api.get("/readyz")
    assert ready.status_code == 503 and "unreachable" in ready.json()["reason"]
    sent = {"customer_id": who, "type": "purchase", "item_ids": [tent]}
    response = await api.post("/v1/events", json=sent)
    assert response.status_code == 202
    assert response.json()["buffered"] is True and response.json()["item_ids"] == [tent]
    bag = planted.sleeping_bags[0]
    views = [{"customer_id": str(c), "type": "view", "item_ids": [bag]} for c in bundle.customers.ids[:5]]
    for view in views:
        assert (await api.post("/v1/events", json=view)).json()["buffered"] is True
    during = await api.get(f"/v1/users/{who}/recommendations")
    assert during.status_code == 200 and during.json()["fallback"] is True
    ready = await api.get("/readyz")
    assert ready.status_code == 503 and ready.json()["buffered_events"] == 6  # the outage lasts, and says so

    await restart(server)
    await until(api, lambda status, body: status == 200 and body["buffered_events"] == 0)
    (stored,) = stored_events(server.url, who)
    price = float(bundle.catalog.price[bundle.items.index_one(tent)])
    assert stored == {
        "customer_id": who,
        "type": "purchase",
        "item_ids": [tent],
        "at": response.json()["at"],
        "quantity": 1,
        "prices": [pytest.approx(price)],
        "line_cents": [round(stored["prices"][0] * 100)],
    }
    for view in views:
        assert [e["item_ids"] for e in stored_events(server.url, view["customer_id"])] == [view["item_ids"]]
    # the event log has every event accepted during the outage, in the order they were accepted
    with redis.Redis.from_url(server.url) as client:
        logged = [json.loads(fields[b"e"]) for _, fields in client.xrange(LOG_KEY)]
    assert [(e["customer_id"], e["type"]) for e in logged] == [(who, "purchase")] + [
        (view["customer_id"], "view") for view in views
    ]
    after = (await api.get(f"/v1/users/{who}/recommendations")).json()
    assert after["fallback"] is False
    assert tent not in ids_of(after) and not set(ids_of(after)) & set(planted.tents)
    assert after["items"][0]["item_id"] in planted.sleeping_bags  # the tent's complement comes first
    metrics = (await api.get("/metrics")).text
    assert samples(metrics, "recs_events_buffered_total") == [({}, 6.0)]
    assert samples(metrics, "recs_events_flushed_total") == [({}, 6.0)]
    assert samples(metrics, "recs_event_buffer_size") == [({}, 0.0)]


async def test_events_reach_redis_in_the_order_they_were_accepted(server: EmbeddedRedis, planted) -> None:
    who = "orderly"
    async with serve(server.url, event_flush_max_backoff_seconds=60) as api:
        server.stop()
        for item in planted.tents[:2]:
            event = {"customer_id": who, "type": "view", "item_ids": [item]}
            assert (await api.post("/v1/events", json=event)).json()["buffered"] is True
        await asyncio.sleep(1.6)  # failed tries at about 0, .05, .15, .35, .75, 1.55 s: the next is at 3.15 s
        await restart(server)
        # Redis is back but the flusher still waits: a new event queues behind the buffered ones
        event = {"customer_id": who, "type": "view", "item_ids": [planted.tents[2]]}
        last = await api.post("/v1/events", json=event)
        assert last.status_code == 202 and last.json()["buffered"] is True
        await until(api, lambda status, body: status == 200 and body["buffered_events"] == 0)
    newest_first = [e["item_ids"][0] for e in stored_events(server.url, who)]
    assert newest_first == [planted.tents[2], planted.tents[1], planted.tents[0]]


async def test_a_full_buffer_refuses_with_503_and_retry_after_never_silently(server: EmbeddedRedis, planted) -> None:
    async with serve(server.url, event_buffer_max=2) as api:
        server.stop()
        accepted = []
        for who in ("first", "second"):
            response = await api.post("/v1/events", json={"customer_id": who, "type": "view", "item_ids": ["x"]})
            assert response.status_code == 202 and response.json()["buffered"] is True
            accepted.append(who)
        refused = await api.post("/v1/events", json={"customer_id": "third", "type": "view", "item_ids": ["x"]})
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) > 0
        assert "unavailable" in refused.json()["reason"]
        text = (await api.get("/metrics")).text
        assert samples(text, "recs_events_refused_total") == [({}, 1.0)]
        assert samples(text, "recs_event_buffer_size") == [({}, 2.0)]
        await restart(server)
        await until(api, lambda status, body: status == 200 and body["buffered_events"] == 0)
        assert [bool(stored_events(server.url, who)) for who in (*accepted, "third")] == [True, True, False]
        again = await api.post("/v1/events", json={"customer_id": "third", "type": "view", "item_ids": ["x"]})
        assert again.status_code == 202 and again.json()["buffered"] is False  # written straight away


async def test_a_successful_request_flushes_without_waiting_for_the_backoff(server: EmbeddedRedis) -> None:
    async with serve(server.url, event_flush_max_backoff_seconds=60) as api:
        server.stop()
        event = {"customer_id": "patient", "type": "view", "item_ids": ["x"]}
        assert (await api.post("/v1/events", json=event)).json()["buffered"] is True
        # failed tries at about 0, .05, .15, .35, .75, 1.55 and 3.15 s: the next one is not before 6.35 s
        await asyncio.sleep(3.3)
        started = time.monotonic()
        await restart(server)
        assert (await api.get("/v1/users/anyone/recommendations")).json()["fallback"] is True  # unknown customer
        while not stored_events(server.url, "patient"):
            assert time.monotonic() - started < 2.0, "the buffer waited for its backoff"
            await asyncio.sleep(0.02)


async def test_a_stopping_app_spools_unflushed_events_and_the_next_start_writes_them(
    server: EmbeddedRedis, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    async with serve(server.url, event_spool_dir=spool) as api:
        server.stop()
        for who in ("a", "b"):
            assert (await api.post("/v1/events", json={"customer_id": who, "type": "view", "item_ids": ["x"]})).json()[
                "buffered"
            ]
    (file,) = spool.glob("*.jsonl")
    assert len(file.read_text().splitlines()) == 2
    await restart(server)
    async with serve(server.url, event_spool_dir=spool) as api:
        await until(api, lambda status, body: status == 200 and body["buffered_events"] == 0)
    assert [e["item_ids"] for who in ("a", "b") for e in stored_events(server.url, who)] == [["x"], ["x"]]
    assert not list(spool.iterdir())


async def test_without_a_spool_unflushed_events_are_logged_not_dropped(
    server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="serving")
    async with serve(server.url) as api:
        server.stop()
        event = {"customer_id": "kept-in-the-log", "type": "purchase", "item_ids": ["tent"]}
        assert (await api.post("/v1/events", json=event)).json()["buffered"] is True
    logged = [r.getMessage() for r in caplog.records if "unflushed event" in r.getMessage()]
    assert len(logged) == 1 and "kept-in-the-log" in logged[0] and '"purchase"' in logged[0]
