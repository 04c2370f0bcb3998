"""Operating the service through real HTTP: readiness before and after a publish, picking up a new version
without a restart, Prometheus metrics, and a Redis outage (a private redis-server, stopped mid-test)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from recommender.bundle import ModelBundle
from serving.cache import ACTIVE_KEY
from serving.embedded_redis import EmbeddedRedis
from serving.publish import PublishReport, publish_bundle
from tests.serving.conftest import serve
from tests.serving.test_api import ids_of

pytestmark = pytest.mark.anyio


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_ready_only_once_a_version_is_published(trained, redis_url: str, redis_client: redis.Redis) -> None:
    bundle: ModelBundle = trained.bundle
    who = bundle.customers.ids[0]
    async with serve(redis_url) as api:
        assert (await api.get("/healthz")).status_code == 200
        response = await api.get("/readyz")
        assert response.status_code == 503
        assert "no version" in response.json()["reason"]
        for path in (f"/v1/users/{who}/recommendations", "/v1/items/tent-2p-explorer/similar", "/v1/popular"):
            body = (await api.get(path)).json()
            assert body["fallback"] is True and body["items"] == [] and body["model_version"] == "none"
        cart = await api.post("/v1/cart/complements", json={"item_ids": ["tent-2p-explorer"]})
        assert cart.status_code == 200 and cart.json()["fallback"] is True
        report = publish_bundle(bundle, redis_client, model_name="test-recs", model_version="7")
        ready = await api.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["version"] == report.version
        body = (await api.get(f"/v1/users/{who}/recommendations")).json()
        assert body["fallback"] is False and body["model_version"] == f"7@{report.version}"


async def test_a_new_publish_is_served_without_a_restart(
    trained, redis_url: str, redis_client: redis.Redis, published: PublishReport
) -> None:
    who = trained.bundle.customers.ids[1]
    url = f"/v1/users/{who}/recommendations"
    async with serve(redis_url) as api:
        assert (await api.get(url)).json()["model_version"] == f"1@{published.version}"
        second = publish_bundle(trained.bundle, redis_client, model_name="test-recs", model_version="2")
        # the first answer after the switch still comes whole from the version it started with
        seen = [(await api.get(url)).json()["model_version"] for _ in range(2)]
        assert seen[0] in {f"1@{published.version}", f"2@{second.version}"}
        assert seen[1] == f"2@{second.version}"
        items = f"/v1/items/{trained.bundle.items.ids[0]}/similar"
        assert (await api.get(items)).json()["model_version"] == f"2@{second.version}"


async def test_an_unloadable_active_version_keeps_the_held_one_serving(
    trained, redis_url: str, redis_client: redis.Redis, published: PublishReport
) -> None:
    who = trained.bundle.customers.ids[4]
    async with serve(redis_url) as api:
        assert (await api.get(f"/v1/users/{who}/recommendations")).json()["fallback"] is False
        redis_client.set(ACTIVE_KEY, "ghost-version")  # named active, but none of its keys exist
        for _ in range(2):
            body = (await api.get(f"/v1/users/{who}/recommendations")).json()
            assert body["fallback"] is False and body["model_version"] == f"1@{published.version}"
    async with serve(redis_url) as fresh:
        response = await fresh.get("/readyz")
        assert response.status_code == 503 and "ghost-version" in response.json()["reason"]


async def test_metrics_count_requests_fallbacks_and_the_active_version(
    redis_url: str, published: PublishReport
) -> None:
    async with serve(redis_url) as api:
        for _ in range(3):
            assert (await api.get("/v1/popular")).status_code == 200
        await api.get("/v1/users/someone-new/recommendations")
        await api.get("/v1/popular", params={"k": 0})
        text = (await api.get("/metrics")).text
    requests = {(labels["route"], labels["status"]): value for labels, value in samples(text, "recs_requests_total")}
    assert requests[("/v1/popular", "200")] == 3
    assert requests[("/v1/popular", "422")] == 1
    assert requests[("/v1/users/{customer_id}/recommendations", "200")] == 1  # the template, not the id
    fallbacks = {(labels["surface"], labels["cause"]): value for labels, value in samples(text, "recs_fallbacks_total")}
    assert fallbacks == {("for_you", "unknown_customer"): 1}
    latency = samples(text, "recs_request_seconds_count")
    assert ({"route": "/v1/popular"}, 4.0) in latency
    ((info, value),) = samples(text, "recs_active_version_info")
    assert value == 1 and info["version"] == published.version and info["model_version"] == "1"


async def test_a_redis_outage_gives_fallbacks_never_500(trained, tmp_path: Path) -> None:
    bundle: ModelBundle = trained.bundle
    who, tent = bundle.customers.ids[2], "tent-2p-explorer"
    server = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    try:
        with redis.Redis.from_url(server.url) as client:
            publish_bundle(bundle, client, model_name="test-recs", model_version="1")
        async with serve(server.url) as api:
            assert (await api.get(f"/v1/users/{who}/recommendations")).json()["fallback"] is False
            popular = ids_of((await api.get("/v1/popular")).json())
            server.stop()
            for path in (f"/v1/users/{who}/recommendations", f"/v1/users/{who}/next-purchase"):
                response = await api.get(path)
                assert response.status_code == 200
                assert response.json()["fallback"] is True
                assert ids_of(response.json()) == popular  # from the tables held in memory
            for path in (f"/v1/items/{tent}/complements", f"/v1/items/{tent}/similar", "/v1/popular"):
                response = await api.get(path)
                assert response.status_code == 200 and response.json()["items"]
            cart = await api.post("/v1/cart/complements", json={"item_ids": [tent], "customer_id": who})
            assert cart.status_code == 200 and cart.json()["fallback"] is True
            event = await api.post("/v1/events", json={"customer_id": who, "type": "view", "item_ids": [tent]})
            assert event.status_code == 202 and event.json()["buffered"] is True  # kept until Redis returns
            ready = await api.get("/readyz")
            assert ready.status_code == 503 and ready.json()["buffered_events"] == 1
            assert (await api.get("/healthz")).status_code == 200
            text = (await api.get("/metrics")).text
        assert sum(value for _, value in samples(text, "recs_redis_errors_total")) >= 6
    finally:
        server.stop()


async def test_a_service_started_while_redis_is_down_answers(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    url = server.url
    server.stop()
    async with serve(url) as api:
        assert (await api.get("/readyz")).status_code == 503
        body = (await api.get("/v1/users/anyone/recommendations")).json()
        assert body["fallback"] is True and body["items"] == []
        assert (await api.get("/healthz")).json() == {"status": "ok"}


def test_the_app_needs_a_redis_url() -> None:
    from serving.app import MissingRedisUrlError, create_app
    from serving.settings import ServingSettings

    with pytest.raises(MissingRedisUrlError):
        create_app(ServingSettings(redis_url=None))


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.settings import ServingSettings

    monkeypatch.setenv("RECS_REDIS_URL", "redis://example:6390/2")
    monkeypatch.setenv("RECS_EVENTS_MAX", "7")
    settings = ServingSettings()
    assert settings.redis_url == "redis://example:6390/2" and settings.events_max == 7
