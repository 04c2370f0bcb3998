"""The fast path (``serving.fast_path``) answers exactly what the FastAPI routes answer, and only the requests
it can read as FastAPI would: the same requests sent to an app with it and to one without it get the same
status and body (but the fresh ``recommendation_id``), errors and API keys included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from recommender.bundle import ModelBundle
from serving.fast_path import FastPathMiddleware
from serving.publish import PublishReport
from serving.routes.common import get_state
from tests.serving.test_api import serve

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def bundle(trained) -> ModelBundle:
    return trained.bundle


def comparable(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()
    if isinstance(body, dict):
        body.pop("recommendation_id", None)
    return response.status_code, body


def paths(bundle: ModelBundle) -> list[str]:
    who, other = bundle.customers.ids[5], bundle.customers.ids[9]
    item = bundle.items.ids[3]
    return [
        f"/v1/users/{who}/recommendations",
        f"/v1/users/{who}/recommendations?k=3",
        f"/v1/users/{who}/recommendations?k=5&offset=7",
        f"/v1/users/{who}/recommendations?k=100&offset=1000",
        f"/v1/users/{who}/recommendations?k=0",  # 422, from FastAPI
        f"/v1/users/{who}/recommendations?k=101",
        f"/v1/users/{who}/recommendations?k=abc",
        f"/v1/users/{who}/recommendations?k=",
        f"/v1/users/{who}/recommendations?k=%2B5",
        f"/v1/users/{who}/recommendations?k=3&k=4",
        f"/v1/users/{who}/recommendations?offset=-1",
        f"/v1/users/{who}/recommendations?utm_source=mail&k=4",  # undeclared parameters are ignored
        f"/v1/users/{who}/recommendations?in_stock=true",
        f"/v1/users/{who}/recommendations?category=nope",
        f"/v1/users/%20{who}%20/recommendations",  # stripped like the training data's ids
        "/v1/users/%20%20/recommendations",  # blank: 422
        "/v1/users//recommendations",
        f"/v1/users/{'x' * 256}/recommendations",
        f"/v1/users/{'x' * 257}/recommendations",
        "/v1/users/a%2Fb/c/recommendations",  # slashes in an id
        "/v1/users/caf%C3%A9%20%E2%98%95/recommendations",  # unknown, unicode: a marked fallback
        "/v1/users/x/next-purchase/recommendations",  # the first template wins, as in FastAPI
        f"/v1/users/{other}/next-purchase",
        f"/v1/users/{other}/next-purchase?k=2",
        f"/v1/users/{other}/next-purchase?offset=3",
        f"/v1/items/{item}/complements",
        f"/v1/items/{item}/complements?k=4",
        f"/v1/items/{item}/similar?k=7",
        "/v1/items/no-such-item/similar",
        "/v1/users/recommendations",  # no id at all: 404
    ]


@pytest.fixture
async def both(redis_url: str, published: PublishReport) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with serve(redis_url, fast_path=True) as fast, serve(redis_url, fast_path=False) as plain:
        yield fast, plain


async def test_both_paths_answer_every_request_alike(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], bundle: ModelBundle
) -> None:
    fast, plain = both
    who = bundle.customers.ids[5]
    bought = bundle.items.ids[11]
    for stage in ("before events", "after a purchase and a cart add"):
        for path in paths(bundle):
            got, want = comparable(await fast.get(path)), comparable(await plain.get(path))
            assert got == want, (stage, path)
        event = {"customer_id": who, "type": "purchase", "item_ids": [bought]}
        assert (await fast.post("/v1/events", json=event)).status_code == 202
        cart = {"customer_id": who, "type": "add_to_cart", "item_ids": [bundle.items.ids[12]]}
        assert (await fast.post("/v1/events", json=cart)).status_code == 202
    # the purchase reached the answer on both paths
    after = (await fast.get(f"/v1/users/{who}/recommendations?k=100")).json()
    assert bought not in [row["item_id"] for row in after["items"]]


def scope(path: str, query: bytes = b"", method: str = "GET", headers: list[Any] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query, "headers": headers or []}


async def test_the_fast_path_takes_well_formed_list_requests_only(redis_url: str, published: PublishReport) -> None:
    async with serve(redis_url) as client:
        app = client._transport.app  # type: ignore[attr-defined]
        middleware = FastPathMiddleware(app=app)

        def taken(s: dict[str, Any]) -> bool:
            return middleware.take({**s, "app": app}) is not None

        assert taken(scope("/v1/users/c1/recommendations", b"k=5&offset=2"))
        assert taken(scope("/v1/users/c1/next-purchase"))
        assert taken(scope("/v1/items/i1/similar", b"k=3&foo=bar"))
        assert not taken(scope("/v1/users/c1/recommendations", b"category=x"))
        assert not taken(scope("/v1/users/c1/recommendations", b"k=0"))
        assert not taken(scope("/v1/users/c1/recommendations", method="HEAD"))
        assert taken(scope("/v1/users/c1/next-purchase", b"offset=1"))  # not declared there: ignored
        assert not taken(scope("/v1/popular"))
        assert not taken({**scope("/v1/users/c1/recommendations"), "root_path": "/api"})
        app.dependency_overrides[get_state] = get_state  # an override: FastAPI's routes honour it
        assert not taken(scope("/v1/users/c1/recommendations"))
        app.dependency_overrides.clear()


async def test_fast_answers_are_counted_under_their_route_template(redis_url: str, published: PublishReport) -> None:
    async with serve(redis_url) as client:
        assert (await client.get("/v1/users/someone/recommendations?k=2")).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert (
        'recs_requests_total{method="GET",route="/v1/users/{customer_id}/recommendations",status="200"} 1.0' in metrics
    )


async def test_api_keys_hold_on_the_fast_path(redis_url: str, published: PublishReport, bundle: ModelBundle) -> None:
    path = f"/v1/users/{bundle.customers.ids[2]}/recommendations"
    async with serve(redis_url, api_keys="read-1", event_api_keys="write-1") as client:
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers={"X-API-Key": "wrong"})).status_code == 401
        assert (await client.get(path, headers={"X-API-Key": ""})).status_code == 401
        assert (await client.get(path, headers={"X-API-Key": "read-1"})).status_code == 200
        assert (await client.get(path, headers={"X-API-Key": "write-1"})).status_code == 200
