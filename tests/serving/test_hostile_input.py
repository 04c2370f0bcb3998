"""Hostile HTTP input through real HTTP (httpx over ASGI, real Redis, a real publish): ids with odd characters
on every route that takes one, too long or invalid ids, and request bodies past the size limit (declared
or chunked). Never a 5xx; an odd id is a key of its own in Redis and comes back unchanged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
import redis

from recommender.synthetic import ShopConfig, generate_shop
from serving.cache import ACTIVE_KEY, events_key
from serving.publish import PublishReport
from tests.conftest import SHOP_CUSTOMERS, SHOP_SEED
from tests.serving.conftest import serve
from tests.serving.test_api import ids_of

pytestmark = pytest.mark.anyio
ODD_IDS = [
    "Zelt-ß-⛺-日本語-עברית",
    "a/b",
    "../../etc/passwd",
    "50%off",
    "%2F",
    "with space inside",
    "nul\x00inside",
    "tab\tand\nnewline",
    "recs:active",
    "*?[]{}#&=+",
    "\u200b\ufeffzero-width",
    "emoji-🏕️-👩‍👩‍👧",
]
LIMIT = 2048


@pytest.fixture(scope="module")
def planted():
    return generate_shop(ShopConfig(customers=SHOP_CUSTOMERS, seed=SHOP_SEED)).planted


@pytest.fixture
async def api(redis_url: str, published: PublishReport) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(redis_url, max_body_bytes=LIMIT) as client:
        yield client


def path_of(odd: str) -> str:
    return quote(odd, safe="")


@pytest.mark.parametrize("odd", ODD_IDS)
async def test_an_odd_customer_id_is_its_own_key_and_comes_back_unchanged(
    api: httpx.AsyncClient, redis_client: redis.Redis, published: PublishReport, odd: str, planted
) -> None:
    tent = planted.tents[0]
    event = await api.post("/v1/events", json={"customer_id": odd, "type": "purchase", "item_ids": [tent]})
    assert event.status_code == 202 and event.json()["customer_id"] == odd
    stored = redis_client.lrange(events_key(odd).encode(), 0, -1)
    assert [json.loads(raw)["item_ids"] for raw in stored] == [[tent]]
    assert redis_client.get(ACTIVE_KEY).decode() == published.version  # nothing else was touched
    for surface in ("recommendations", "next-purchase"):
        response = await api.get(f"/v1/users/{path_of(odd)}/{surface}")
        assert response.status_code == 200, response.text
        assert response.json()["customer_id"] == odd
    after = (await api.get(f"/v1/users/{path_of(odd)}/recommendations")).json()
    assert after["items"][0]["item_id"] in planted.sleeping_bags  # the event under the odd id was read back
    cart = await api.post("/v1/cart/complements", json={"item_ids": [odd, tent], "customer_id": odd})
    assert cart.status_code == 200 and cart.json()["customer_id"] == odd and odd in cart.json()["item_ids"]


@pytest.mark.parametrize("odd", ODD_IDS)
async def test_an_odd_item_id_gets_a_fallback_with_the_id_unchanged(api: httpx.AsyncClient, odd: str) -> None:
    for surface in ("complements", "similar"):
        response = await api.get(f"/v1/items/{path_of(odd)}/{surface}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["item_id"] == odd and body["fallback"] is True and body["items"]


async def test_slashes_in_ids_reach_the_route_encoded_or_not(api: httpx.AsyncClient, planted) -> None:
    for path in ("/v1/items/a/b/similar", "/v1/items/a%2Fb/similar", "/v1/items/a%2fb/similar"):
        response = await api.get(path)
        assert response.status_code == 200 and response.json()["item_id"] == "a/b"
    # an id ending in another route's name stays an id
    response = await api.get("/v1/items/x%2Fcomplements/similar")
    assert response.status_code == 200 and response.json()["item_id"] == "x/complements"
    known = await api.get(f"/v1/items/{planted.tents[0]}/complements")
    assert known.json()["fallback"] is False


async def test_ids_are_stripped_like_the_training_data_and_blank_ones_refused(
    api: httpx.AsyncClient, planted, redis_client: redis.Redis
) -> None:
    padded = await api.get(f"/v1/items/{quote(' ' + planted.tents[0] + ' ')}/complements")
    assert padded.status_code == 200 and padded.json()["item_id"] == planted.tents[0]
    assert padded.json()["fallback"] is False
    event = await api.post("/v1/events", json={"customer_id": "\u3000c-pad\xa0\t", "type": "view", "item_ids": [" x "]})
    assert event.json()["customer_id"] == "c-pad" and event.json()["item_ids"] == ["x"]
    assert redis_client.exists(events_key("c-pad"))
    # what is not Unicode White_Space (the training data's rule too) stays: a zero-width space, a separator
    kept = await api.post("/v1/events", json={"customer_id": "\u200bz\x1c", "type": "view", "item_ids": ["x"]})
    assert kept.json()["customer_id"] == "\u200bz\x1c"
    for path in ("/v1/users/%20%20/recommendations", "/v1/items/%09%C2%85/similar", "/v1/users//next-purchase"):
        response = await api.get(path)
        assert response.status_code == 422, (path, response.text)
    blank = await api.post("/v1/events", json={"customer_id": "   ", "type": "view", "item_ids": ["x"]})
    assert blank.status_code == 422


async def test_ten_kilobyte_ids_are_a_422_with_a_message_everywhere(
    redis_url: str, published: PublishReport, redis_client: redis.Redis
) -> None:
    huge = "x" * 10_000
    async with serve(redis_url) as api:  # the default body limit (64 kB): the ids, not the size, are refused
        for path in (
            f"/v1/users/{huge}/recommendations",
            f"/v1/users/{huge}/next-purchase",
            f"/v1/items/{huge}/complements",
            f"/v1/items/{huge}/similar",
            f"/v1/popular?category={huge}",
        ):
            response = await api.get(path)
            assert response.status_code == 422, path[:40]
            assert "at most 256 characters" in response.text
        for url, body in (
            ("/v1/events", {"customer_id": huge, "type": "view", "item_ids": ["x"]}),
            ("/v1/events", {"customer_id": "c", "type": "view", "item_ids": [huge]}),
            ("/v1/cart/complements", {"item_ids": [huge]}),
            ("/v1/cart/complements", {"item_ids": ["x"], "customer_id": huge}),
        ):
            response = await api.post(url, json=body)
            assert response.status_code == 422 and "at most 256 characters" in response.text
    assert not redis_client.keys("recs:events:*")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"customer_id": "\\ud800", "type": "view", "item_ids": ["x"]}',
        b'{"customer_id": "c", "type": "view", "item_ids": ["\\udfff-x"]}',
        b'{"customer_id": "c", "type": "view", "item_ids": ["x"], "\\ud800": "\\udc00"}',
        b'{"customer_id": "c", "type": "\\ud800", "item_ids": ["x"]}',
    ],
)
async def test_lone_surrogates_are_a_422_with_valid_json(api: httpx.AsyncClient, raw: bytes) -> None:
    for url in ("/v1/events", "/v1/cart/complements"):
        response = await api.post(url, content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.json()["detail"]  # parseable JSON with the errors


async def test_malformed_bodies_are_a_422_with_valid_json(api: httpx.AsyncClient) -> None:
    bodies = [
        b"\xff\xfe not utf-8",
        b"[" * 1000 + b"]" * 1000,  # deeper than the JSON parser's recursion limit, within the size limit
        b"null",
        b'"just a string"',
        b'{"customer_id": 7, "type": "view", "item_ids": "x"}',
        b'{"customer_id": "c", "type": "view", "item_ids": [], "timestamp": "yesterday"}',
        b'{"customer_id": "c", "type": "view", "item_ids": ["x"], "timestamp": 1e300}',
        b'{"customer_id": "c", "type": "view", "item_ids": ["x"], "timestamp": NaN, "k": -Infinity}',
        b'{"item_ids": ["x"], "k": NaN}',
    ]
    for url in ("/v1/events", "/v1/cart/complements"):
        for raw in bodies:
            response = await api.post(url, content=raw, headers={"content-type": "application/json"})
            assert response.status_code == 422, (url, raw[:30], response.status_code)
            assert response.json()["detail"][0]["msg"]


async def test_timestamps_are_iso_text_or_unix_seconds_never_milliseconds(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    accepted = {"2024-01-01T00:00:00": 1704067200, "2024-01-01T02:00:00+02:00": 1704067200, 1704067200: 1704067200}
    for given, at in accepted.items():
        event = {"customer_id": "clock", "type": "view", "item_ids": ["x"], "timestamp": given}
        response = await api.post("/v1/events", json=event)
        assert response.status_code == 202 and response.json()["at"] == at
    for given in (1704067200000, "1704067200", True, -1):
        event = {"customer_id": "clock", "type": "view", "item_ids": ["x"], "timestamp": given}
        response = await api.post("/v1/events", json=event)
        assert response.status_code == 422 and "Unix seconds" in response.text, given
    assert redis_client.llen(events_key("clock")) == len(accepted)


async def test_a_body_over_the_limit_is_a_413_with_a_message(api: httpx.AsyncClient) -> None:
    big = {"customer_id": "c", "type": "view", "item_ids": [f"item-{i:05d}" for i in range(99)], "pad": "x" * LIMIT}
    for url in ("/v1/events", "/v1/cart/complements"):
        response = await api.post(url, json=big)
        assert response.status_code == 413
        assert f"larger than {LIMIT} bytes" in response.json()["reason"]
    within = await api.post("/v1/events", json={"customer_id": "c", "type": "view", "item_ids": ["x"]})
    assert within.status_code == 202


async def test_a_chunked_body_without_content_length_is_cut_at_the_limit(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    sent: list[int] = []

    async def chunks(total: int) -> AsyncIterator[bytes]:
        head = b'{"customer_id": "chunky", "type": "view", "item_ids": ["x"], "pad": "'
        yield head
        for _ in range(total // 512):
            sent.append(512)
            yield b"y" * 512
        yield b'"}'

    response = await api.post("/v1/events", content=chunks(LIMIT * 4), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers and response.request.headers["transfer-encoding"]
    assert response.status_code == 413 and "RECS_MAX_BODY_BYTES" in response.json()["reason"]
    assert not redis_client.exists(events_key("chunky"))
    small = await api.post(
        "/v1/cart/complements", content=_one_chunk(b'{"item_ids": ["x"]}'), headers={"content-type": "application/json"}
    )
    assert small.status_code == 200 and small.json()["item_ids"] == ["x"]


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_get_routes_never_read_a_body_but_an_oversized_one_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.request("GET", "/v1/popular", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert (await api.get("/v1/popular")).status_code == 200
    assert ids_of((await api.get("/v1/popular", params={"k": 3})).json())
