"""API keys through real HTTP against a real Redis and a real publish: ``RECS_API_KEYS`` guards every /v1
route, ``RECS_EVENT_API_KEYS`` guards events (read keys get 403 there), probes stay open, keys are read
from the header only, and no key reaches a log record, a metric or a settings repr."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from serving.publish import PublishReport
from serving.settings import ServingSettings
from tests.serving.conftest import serve

pytestmark = pytest.mark.anyio
READ, WRITE = "read-key-7f3a9c", "write-key-c41d0e"
OTHER_READ = "second-read-key-55aa"
EVENT = {"customer_id": "c000001", "type": "view", "item_ids": ["tent-2p-explorer"]}
READ_ROUTES = [
    ("GET", "/v1/users/c000001/recommendations", None),
    ("GET", "/v1/users/c000001/next-purchase", None),
    ("GET", "/v1/items/tent-2p-explorer/complements", None),
    ("GET", "/v1/items/tent-2p-explorer/similar", None),
    ("GET", "/v1/popular", None),
    ("POST", "/v1/cart/complements", {"item_ids": ["tent-2p-explorer"]}),
]
OPEN_ROUTES = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"]


async def call(api: httpx.AsyncClient, method: str, path: str, body: dict | None, key: str | None) -> httpx.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return await api.request(method, path, json=body, headers=headers)


def assert_refused(response: httpx.Response, status: int = 401) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == ("unauthorized" if status == 401 else "forbidden")
    assert "X-API-Key" in body["reason"] or "RECS_EVENT_API_KEYS" in body["reason"]
    if status == 401:
        assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'


async def test_read_keys_guard_every_v1_route_and_leave_probes_open(redis_url: str, published: PublishReport) -> None:
    async with serve(redis_url, api_keys=SecretStr(f"{READ}, {OTHER_READ}")) as api:
        for method, path, body in READ_ROUTES:
            assert_refused(await call(api, method, path, body, None))
            assert_refused(await call(api, method, path, body, "wrong-key"))
            assert_refused(await call(api, method, path, body, READ[:-1]))  # a prefix is not the key
            assert (await call(api, method, path, body, READ)).status_code == 200
            assert (await call(api, method, path, body, OTHER_READ)).status_code == 200
        assert_refused(await call(api, "POST", "/v1/events", EVENT, None))
        assert (await call(api, "POST", "/v1/events", EVENT, READ)).status_code == 202  # no write keys: reads do
        for path in OPEN_ROUTES:
            assert (await api.get(path)).status_code == 200, path


async def test_a_key_in_the_url_is_never_accepted(redis_url: str, published: PublishReport) -> None:
    async with serve(redis_url, api_keys=SecretStr(READ)) as api:
        for params in ({"api_key": READ}, {"X-API-Key": READ}, {"key": READ}, {"apikey": READ}):
            assert_refused(await api.get("/v1/popular", params=params))
        assert_refused(await api.get("/v1/popular", headers={"Authorization": f"Bearer {READ}"}))


async def test_write_keys_guard_events_and_read_keys_get_403_there(redis_url: str, published: PublishReport) -> None:
    async with serve(redis_url, api_keys=SecretStr(READ), event_api_keys=SecretStr(WRITE)) as api:
        assert (await call(api, "POST", "/v1/events", EVENT, WRITE)).status_code == 202
        assert_refused(await call(api, "POST", "/v1/events", EVENT, READ), status=403)
        assert_refused(await call(api, "POST", "/v1/events", EVENT, None))
        assert_refused(await call(api, "POST", "/v1/events", EVENT, "nonsense"))
        for method, path, body in READ_ROUTES:  # a write key reads too
            assert (await call(api, method, path, body, WRITE)).status_code == 200


async def test_write_keys_alone_guard_only_events(redis_url: str, published: PublishReport) -> None:
    async with serve(redis_url, event_api_keys=SecretStr(WRITE)) as api:
        for method, path, body in READ_ROUTES:
            assert (await call(api, method, path, body, None)).status_code == 200
        assert_refused(await call(api, "POST", "/v1/events", EVENT, None))
        assert (await call(api, "POST", "/v1/events", EVENT, WRITE)).status_code == 202


async def test_without_keys_everything_is_open(redis_url: str, published: PublishReport) -> None:
    async with serve(redis_url, api_keys=SecretStr("  ")) as api:  # blank: no keys
        assert (await call(api, "POST", "/v1/events", EVENT, None)).status_code == 202
        assert (await call(api, "GET", "/v1/popular", None, "anything")).status_code == 200


async def test_the_openapi_document_declares_the_key_and_the_401(redis_url: str) -> None:
    async with serve(redis_url, api_keys=SecretStr(READ), event_api_keys=SecretStr(WRITE)) as api:
        doc = (await api.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "an API key from RECS_API_KEYS (events: RECS_EVENT_API_KEYS)",
    }
    for path, ops in doc["paths"].items():
        for op in ops.values():
            secured = "security" in op
            assert secured == path.startswith("/v1/"), path
            assert ("401" in op["responses"]) == secured
    assert "403" in doc["paths"]["/v1/events"]["post"]["responses"]
    assert READ not in str(doc) and WRITE not in str(doc)


async def test_no_key_reaches_the_logs_or_the_metrics(
    redis_url: str, published: PublishReport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(redis_url, api_keys=SecretStr(READ), event_api_keys=SecretStr(WRITE)) as api:
        for key in (READ, WRITE, "wrong-but-secret-looking-key"):
            for method, path, body in [*READ_ROUTES, ("POST", "/v1/events", EVENT)]:
                await call(api, method, path, body, key)
            await call(api, "POST", "/v1/events", {**EVENT, "type": "refund"}, key)  # a 422 too
        metrics = (await api.get("/metrics")).text
        readiness = (await api.get("/readyz")).text
    assert caplog.records, "log capture works"
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)
    for secret in (READ, WRITE, "wrong-but-secret-looking-key"):
        assert secret not in logged and secret not in metrics and secret not in readiness


def test_keys_are_secrets_in_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECS_API_KEYS", f" {READ} ,{OTHER_READ},, ")
    monkeypatch.setenv("RECS_EVENT_API_KEYS", WRITE)
    settings = ServingSettings(redis_url="redis://127.0.0.1:1/0")
    assert settings.read_keys == (READ, OTHER_READ) and settings.write_keys == (WRITE,)
    for shown in (repr(settings), str(settings), str(settings.model_dump()), settings.model_dump_json()):
        assert READ not in shown and WRITE not in shown and OTHER_READ not in shown
