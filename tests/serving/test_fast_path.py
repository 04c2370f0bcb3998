"""The fast path (``serving.fast_path``) answers exactly what the FastAPI routes answer, and only the requests
it can read as FastAPI would: the same requests sent to an app with it and to one without it get the same
status and body (but the fresh ``recommendation_id``), errors and API keys included.

The requests are derived from the app's OpenAPI schema: every GET route under /v1 (the list routes), each of
its path and query parameters with valid, boundary, out-of-range and malformed values, repeated, and next to
a parameter no route declares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from recommender.bundle import ModelBundle
from serving.app import create_app
from serving.fast_path import FastPathMiddleware
from serving.fast_routes import fast_routes
from serving.publish import PublishReport
from serving.routes.common import get_state
from serving.settings import ServingSettings
from tests.serving.conftest import serve

pytestmark = pytest.mark.anyio
UNKNOWN = "utm_source=mail"  # a parameter no route declares: a 422 on both paths


@pytest.fixture(scope="module")
def bundle(trained) -> ModelBundle:
    return trained.bundle


def comparable(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()
    if isinstance(body, dict):
        body.pop("recommendation_id", None)
    return response.status_code, body


def value_schema(param: dict[str, Any]) -> dict[str, Any]:
    """The parameter's schema without its ``null`` branch (``str | None``)."""
    schema = param["schema"]
    branches = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    return {**schema, **branches[0]}


def query_values(schema: dict[str, Any], known: list[str]) -> list[str]:
    """Values of a query parameter: valid ones, the bounds, past the bounds, malformed ones."""
    kind = schema.get("type")
    if kind == "integer":
        low, high = schema["minimum"], schema["maximum"]
        values = [low, high, (low + high) // 2, schema.get("default", low), low - 1, high + 1, 10 * high]
        return [str(v) for v in values] + ["abc", "", f"+{low}", f"0{low}", f" {low}", f"{low}.0", "1e1", "٣"]
    if kind == "boolean":
        return ["true", "false", "1", "0", "off", "maybe", ""]
    longest = schema.get("maxLength", 256)
    return [*known, "nope", "", "x" * longest, "x" * (longest + 1), "café ☕"]


def path_ids(param: dict[str, Any], known: list[str], suffixes: list[str]) -> list[str]:
    """Ids for a path parameter, percent-encoded: known, unknown, padded, blank, at and past ``maxLength``,
    with slashes, non-ASCII, and ending in another route's suffix (the first template FastAPI tries wins)."""
    longest = param["schema"]["maxLength"]
    raw = [*known, "no-such-id", f" {known[0]} ", "  ", "\t", "x" * longest, "x" * (longest + 1), "café ☕"]
    ids = [quote(value, safe="") for value in raw] + ["", "a%2Fb/c", "a/b"]
    return ids + [f"x{suffix}" for suffix in suffixes]


def answers_a_list(schema: dict[str, Any], operation: dict[str, Any]) -> bool:
    """The operation's 200 answer is a recommendation list (the routes the fast path may take; the others,
    such as ``/v1/kpis``, answer with state that changes between two calls)."""
    ref = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
    name = ref.get("$ref", "").rpartition("/")[2]
    return "recommendation_id" in schema["components"]["schemas"].get(name, {}).get("properties", {})


def list_requests(schema: dict[str, Any], known: dict[str, list[str]]) -> list[str]:
    """Every request of the test, in a fixed order, from the OpenAPI schema (``known``: valid values by name)."""
    routes = [
        (path, ops["get"].get("parameters", []))
        for path, ops in schema["paths"].items()
        if "get" in ops and answers_a_list(schema, ops["get"])
    ]
    suffixes = [path.partition("}")[2] for path, _ in routes if "}" in path]
    requests: list[str] = []
    for template, params in routes:
        path_params = [p for p in params if p["in"] == "path"]
        query = [p for p in params if p["in"] == "query"]
        assert len(path_params) <= 1, template
        base = template
        if path_params:
            name = path_params[0]["name"]
            ids = path_ids(path_params[0], known[name], suffixes)
            requests += [template.replace(f"{{{name}}}", ident) for ident in ids]
            requests.append(template.replace(f"/{{{name}}}", ""))  # no id at all
            base = template.replace(f"{{{name}}}", quote(known[name][0], safe=""))
        valid = {p["name"]: query_values(value_schema(p), known.get(p["name"], []))[0] for p in query}
        requests += [base, f"{base}?{UNKNOWN}", f"{base}?&", f"{base}?%ZZ=1"]
        for param in query:
            name = param["name"]
            values = query_values(value_schema(param), known.get(name, []))
            requests += [f"{base}?{name}={quote(value, safe='')}" for value in values]
            requests.append(f"{base}?{name}={quote(values[0], safe='')}&{name}={quote(values[1], safe='')}")
            requests.append(f"{base}?{UNKNOWN}&{name}={quote(values[0], safe='')}")
            requests.append(f"{base}?{name.upper()}={quote(values[0], safe='')}")  # names are case-sensitive
        if valid:
            requests.append(f"{base}?" + "&".join(f"{n}={quote(v, safe='')}" for n, v in valid.items()))
    return list(dict.fromkeys(requests))


def known_values(bundle: ModelBundle) -> dict[str, list[str]]:
    category = bundle.catalog.categories.external(bundle.catalog.category[[3]]).tolist()
    return {
        "customer_id": [str(bundle.customers.ids[5]), str(bundle.customers.ids[9])],
        "item_id": [str(bundle.items.ids[3]), str(bundle.items.ids[11])],
        "category": [str(category[0])],
    }


def test_the_requests_cover_every_list_route_and_parameter(bundle: ModelBundle) -> None:
    schema = create_app(ServingSettings(redis_url="redis://unused:1")).openapi()
    requests = list_requests(schema, known_values(bundle))
    assert requests == list_requests(schema, known_values(bundle))  # deterministic
    for path in ("/v1/users/{customer_id}/recommendations", "/v1/items/{item_id}/similar", "/v1/popular"):
        assert path in schema["paths"]
    for fragment in ("?k=100", "?k=101", "?offset=1000", "?offset=-1", "?in_stock=maybe", "?k=1&k=100"):
        assert any(fragment in r for r in requests if "/recommendations" in r), fragment
    assert any(r.startswith("/v1/popular?category=") for r in requests)
    assert any("/next-purchase?" + UNKNOWN in r for r in requests)


@pytest.fixture
async def both(redis_url: str, published: PublishReport) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with serve(redis_url, fast_path=True) as fast, serve(redis_url, fast_path=False) as plain:
        yield fast, plain


async def test_both_paths_answer_every_request_alike(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], bundle: ModelBundle
) -> None:
    fast, plain = both
    requests = list_requests((await plain.get("/openapi.json")).json(), known_values(bundle))
    who = bundle.customers.ids[5]
    bought = bundle.items.ids[11]
    for stage in ("before events", "after a purchase and a cart add"):
        for path in requests:
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
        middleware = FastPathMiddleware(app=app, routes=fast_routes(app.routes))

        def taken(s: dict[str, Any]) -> bool:
            return middleware.take({**s, "app": app}) is not None

        assert taken(scope("/v1/users/c1/recommendations", b"k=5&offset=2"))
        assert taken(scope("/v1/users/c1/next-purchase"))
        assert not taken(scope("/v1/items/i1/similar", b"k=3&foo=bar"))  # a 422, from FastAPI
        assert not taken(scope("/v1/users/c1/recommendations", b"category=x"))
        assert not taken(scope("/v1/users/c1/recommendations", b"in_stock=false"))
        assert not taken(scope("/v1/users/c1/recommendations", b"k=0"))
        assert not taken(scope("/v1/users/c1/recommendations", b"k=0010"))  # FastAPI reads leading zeros
        assert not taken(scope("/v1/users/c1/recommendations", method="HEAD"))
        assert not taken(scope("/v1/users/c1/next-purchase", b"offset=1"))  # not declared there: a 422
        assert not taken(scope("/v1/popular"))  # returns a model: FastAPI serializes it
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
