"""The events' fast path answers exactly as FastAPI does: the same bodies (valid, invalid, hostile) and keys sent
to an app with the fast path and to one without give the same status, answer and stored events."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from serving.fast_events import FastEventsMiddleware
from serving.feedback.store import LOG_KEY
from tests.serving.conftest import serve

pytestmark = pytest.mark.anyio
AT = 1_796_000_000
READ, WRITE = "read-key", "write-key"

VALID: list[Any] = [
    {"customer_id": "c1", "type": "impression", "item_ids": ["a", "b"], "recommendation_id": "r1", "timestamp": AT},
    {"customer_id": "c1", "type": "click", "item_ids": ["a"], "recommendation_id": "r1", "timestamp": AT + 1},
    {"customer_id": " c2 ", "type": "view", "item_ids": ["a", "a"], "timestamp": "2026-12-07T10:00:00"},
    {"customer_id": "c2", "type": "add_to_cart", "item_ids": ["x"], "timestamp": AT},
    {"customer_id": "c2", "type": "remove_from_cart", "item_ids": ["x"], "timestamp": AT},
    {"customer_id": "c3", "type": "purchase", "item_ids": ["a"], "order_id": "o", "quantity": 2.0, "price": 3,
     "timestamp": AT},
]  # fmt: skip
INVALID: list[Any] = [
    {"customer_id": "c", "type": "wishlist", "item_ids": ["a"]},
    {"customer_id": "c", "type": "click", "item_ids": ["a"], "price": 1},
    {"customer_id": "c", "type": "purchase", "item_ids": ["a"], "quantity": True},
    {"customer_id": "c", "type": "purchase", "item_ids": ["a"], "quantity": "2"},
    {"customer_id": "", "type": "view", "item_ids": ["a"]},
    {"customer_id": "c", "type": "view", "item_ids": []},
    {"customer_id": "c", "type": "view", "item_ids": ["a"], "timestamp": -1},
    {"customer_id": "c", "type": "view"},
    ["not", "an", "object"],
    None,
]


def raw_bodies() -> list[tuple[bytes, int]]:
    """Bodies that JSON encoders would not write (NaN, a lone surrogate, duplicate keys: the last one counts,
    for both), or not JSON at all, with the status both paths give."""
    return [
        (b'{"customer_id": "c", "type": "purchase", "item_ids": ["a"], "price": NaN}', 422),
        (b'{"customer_id": "\\ud800", "type": "view", "item_ids": ["a"]}', 422),
        (b'{"customer_id": "c", "type": "view", "type": "click", "item_ids": ["a"], "recommendation_id": "r"}', 202),
        (b'{"customer_id": "c", "type": "purchase", "item_ids": ["a"], "quantity": 1e400}', 422),
        (b"not json", 422),
        (b"", 422),
        (b'{"events": [' + b"[" * 5000 + b"]" * 5000 + b"]}", 422),
    ]


async def both_answers(redis_url: str, path: str, content: bytes, headers: dict[str, str], **settings: Any):
    """(status, answer, logged events) from the app with the fast path, then without (a flushed store each)."""
    results = []
    for fast in (True, False):
        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()
        async with serve(redis_url, fast_path=fast, **settings) as api:
            response = await api.post(path, content=content, headers=headers)
        with redis.Redis.from_url(redis_url) as client:
            logged = [json.loads(fields[b"e"]) for _, fields in client.xrange(LOG_KEY)]
        body = response.json()
        if isinstance(body, dict):
            body.pop("at", None)  # "now" when the event has no timestamp
        results.append((response.status_code, body, [{k: v for k, v in e.items() if k != "at"} for e in logged]))
    return results


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("event", VALID + INVALID)
async def test_single_events_alike(redis_url: str, event: Any) -> None:
    fast, plain = await both_answers(redis_url, "/v1/events", json.dumps(event).encode(), JSON)
    assert fast == plain


@pytest.mark.parametrize(("content", "status"), raw_bodies())
async def test_raw_bodies_alike(redis_url: str, content: bytes, status: int) -> None:
    fast, plain = await both_answers(redis_url, "/v1/events", content, JSON)
    assert fast == plain and fast[0] == status
    batch = b'{"events": [' + content + b"]}"
    fast, plain = await both_answers(redis_url, "/v1/events/batch", batch, JSON)
    assert fast == plain and fast[0] == status


@pytest.mark.parametrize(
    "batch", [{"events": VALID}, {"events": VALID + INVALID[:1]}, {"events": []}, {"events": VALID, "extra": 1}]
)
async def test_batches_alike(redis_url: str, batch: dict[str, Any]) -> None:
    fast, plain = await both_answers(redis_url, "/v1/events/batch", json.dumps(batch).encode(), JSON)
    assert fast == plain


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json; charset=utf-8", "x-api-key": WRITE},
        {"content-type": "APPLICATION/JSON", "x-api-key": WRITE},
        {"content-type": "text/plain", "x-api-key": WRITE},
        {"x-api-key": WRITE},
        {"content-type": "application/json", "x-api-key": READ},
        {"content-type": "application/json", "x-api-key": "wrong"},
        {"content-type": "application/json"},
    ],
)
async def test_headers_and_keys_alike(redis_url: str, headers: dict[str, str]) -> None:
    keys = {"api_keys": SecretStr(READ), "event_api_keys": SecretStr(WRITE)}
    content = json.dumps(VALID[0]).encode()
    fast, plain = await both_answers(redis_url, "/v1/events", content, headers, **keys)
    assert fast == plain


async def test_the_fast_path_takes_valid_events_only(redis_url: str) -> None:
    """The middleware itself: which requests it takes (the others go to FastAPI)."""

    async with serve(redis_url) as api:
        app = api._transport.app  # type: ignore[attr-defined]
        middleware = app.build_middleware_stack()
        while not isinstance(middleware, FastEventsMiddleware):
            middleware = middleware.app
        base = {"type": "http", "method": "POST", "path": "/v1/events", "app": app, "root_path": ""}
        json_headers = [(b"content-type", b"application/json")]
        assert middleware.take({**base, "headers": json_headers}) is not None
        assert middleware.take({**base, "headers": json_headers, "query_string": b"utm=x"}) is None  # FastAPI: 422
        assert middleware.take({**base, "headers": [(b"content-type", b"text/plain")]}) is None
        assert middleware.take({**base, "method": "PUT", "headers": json_headers}) is None
        assert middleware.take({**base, "path": "/v1/events/", "headers": json_headers}) is None


async def test_an_accepted_event_answers_202_with_its_fields(redis_url: str) -> None:
    async with serve(redis_url) as api:
        response = await api.post("/v1/events", json=VALID[5])
        batch = await api.post("/v1/events/batch", json={"events": VALID})
    assert response.status_code == 202 and response.json() == {
        "customer_id": "c3", "type": "purchase", "at": AT, "item_ids": ["a"], "recommendation_id": None,
        "buffered": False,
    }  # fmt: skip
    assert batch.status_code == 202 and batch.json() == {"accepted": len(VALID), "buffered": False}
