"""The fast path's table (``serving.fast_routes``) is read from the routes' own declarations: every query
parameter of a route it takes is handled (an ``int`` with a range) or sends the request to FastAPI, never
ignored, and a route it cannot read as FastAPI would is left to FastAPI whole.

Variant routes (with parameters the list routes do not have today) are answered alike with the fast path
and without it; no Redis is needed, the variants echo their arguments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Response

from serving import cache
from serving.app import create_app
from serving.auth import encoded
from serving.event_buffer import EventBuffer
from serving.fast_path import FastPathMiddleware
from serving.fast_routes import fast_routes
from serving.metrics import Metrics
from serving.routes.common import CustomerId, K, StateDep, json_answer
from serving.schemas import DEFAULT_K, MAX_K, MIN_K
from serving.settings import ServingSettings
from serving.state import ServingState

pytestmark = pytest.mark.anyio
UNUSED_REDIS = "redis://unused.invalid:1"
variant = APIRouter(prefix="/v1/users")


@variant.get("/{customer_id:id}/recommendations")
async def more_parameters(
    customer_id: CustomerId,
    state: StateDep,
    k: K = DEFAULT_K,
    page: Annotated[int, Query(ge=0, le=9)] = 0,
    color: str | None = None,
    sizes: Annotated[list[int] | None, Query()] = None,
    budget: int = 5,
) -> Response:
    return json_answer(
        {"customer_id": customer_id, "k": k, "page": page, "color": color, "sizes": sizes, "budget": budget}
    )


@variant.get("/{customer_id:id}/required")
async def required_parameter(customer_id: CustomerId, state: StateDep, must: int) -> Response:
    return json_answer({"customer_id": customer_id, "must": must})


@variant.get("/{customer_id:id}/aliased")
async def aliased_parameter(
    customer_id: CustomerId, state: StateDep, page: Annotated[int, Query(alias="p", ge=0, le=9)] = 0
) -> Response:
    return json_answer({"customer_id": customer_id, "page": page})


@variant.get("/{customer_id:id}/header")
async def header_parameter(
    customer_id: CustomerId, state: StateDep, shop: Annotated[str | None, Header()] = None
) -> Response:
    return json_answer({"customer_id": customer_id, "shop": shop})


async def tenant() -> str:
    return "t1"


@variant.get("/{customer_id:id}/dependency")
async def another_dependency(
    customer_id: CustomerId, state: StateDep, who: Annotated[str, Depends(tenant)]
) -> Response:
    return json_answer({"customer_id": customer_id, "who": who})


@variant.get("/{customer_id:id}/model")
async def returns_a_model(customer_id: CustomerId, state: StateDep, k: K = DEFAULT_K) -> dict[str, Any]:
    return {"customer_id": customer_id, "k": k}


@variant.get("/{customer_id}/plain-id")
async def plain_id(customer_id: str, state: StateDep, k: K = DEFAULT_K) -> Response:
    return json_answer({"customer_id": customer_id, "k": k})


def variant_app(*, fast: bool) -> FastAPI:
    """The variant routes, with a serving state that they never use (the fast path asks for one)."""
    app = FastAPI()
    app.include_router(variant)
    if fast:
        app.add_middleware(FastPathMiddleware, routes=fast_routes(app.routes))
    settings = ServingSettings(redis_url=UNUSED_REDIS)
    reader = cache.CacheReader(cache.connect_async(UNUSED_REDIS))
    app.state.serving = ServingState(settings=settings, reader=reader, metrics=Metrics(), events=EventBuffer(0))
    return app


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        yield client


def test_every_query_parameter_of_a_fast_route_is_handled_or_deferred() -> None:
    table = {route.suffix: route for route in fast_routes(variant_app(fast=False).routes)}
    # required, aliased, header, other dependency, a model answer, an id without the ids' validation: FastAPI's
    assert set(table) == {"/recommendations"}
    route = table["/recommendations"]
    assert {name: (p.low, p.high) for name, p in route.ints.items()} == {"k": (MIN_K, MAX_K), "page": (0, 9)}
    assert route.deferred == {"color", "sizes", "budget"}  # budget: an int without a range
    assert route.defaults == {"k": DEFAULT_K, "page": 0, "color": None, "sizes": None, "budget": 5}
    assert (route.prefix, route.id_argument, route.state_argument) == ("/v1/users/", "customer_id", "state")


async def test_variant_routes_answer_alike_with_and_without_the_fast_path() -> None:
    base = "/v1/users/%20c1%20"
    requests = [
        *(f"{base}/recommendations{q}" for q in ("", "?page=3", "?page=10", "?page=3&page=4", "?k=4&page=9")),
        *(f"{base}/recommendations{q}" for q in ("?color=red", "?sizes=1&sizes=2", "?budget=7", "?budget=x")),
        *(f"{base}/required{q}" for q in ("", "?must=1")),
        *(f"{base}/aliased{q}" for q in ("", "?p=3", "?page=3")),
        f"{base}/header",
        f"{base}/dependency",
        f"{base}/model?k=3",
        f"{base}/plain-id?k=3",
    ]
    fast_app = variant_app(fast=True)
    async with client_of(fast_app) as fast, client_of(variant_app(fast=False)) as plain:
        for path in requests:
            got, want = await fast.get(path), await plain.get(path)
            assert (got.status_code, got.json()) == (want.status_code, want.json()), path
        assert (await fast.get(f"{base}/recommendations?page=3")).json()["page"] == 3
    middleware = FastPathMiddleware(fast_app, routes=fast_routes(fast_app.routes))

    def taken(path: str, query: bytes) -> dict[str, Any] | None:
        scope = {"type": "http", "method": "GET", "path": path, "query_string": query, "headers": [], "app": fast_app}
        found = middleware.take(scope)
        return None if found is None else found[1]

    assert taken("/v1/users/ c1 /recommendations", b"page=3&utm=x") is None  # undeclared: FastAPI's 422
    arguments = taken("/v1/users/ c1 /recommendations", b"page=3")
    assert arguments is not None and {k: arguments[k] for k in ("customer_id", "page", "k")} == {
        "customer_id": "c1",
        "page": 3,
        "k": DEFAULT_K,
    }
    for query in (b"color=red", b"sizes=1", b"budget=7", b"page=10", b"page=3&page=3"):
        assert taken("/v1/users/c1/recommendations", query) is None, query
    assert taken("/v1/users/c1/aliased", b"") is None


def test_the_apps_table_reads_every_query_parameter_of_its_list_routes() -> None:
    """The table against the OpenAPI schema: each GET route with an id in its path is in it, and each of its
    query parameters is handled (with the schema's range and default) or deferred."""
    app = create_app(ServingSettings(redis_url=UNUSED_REDIS, api_keys="read-1", event_api_keys="write-1"))
    table = {f"{r.prefix}{{{r.id_argument}}}{r.suffix}": r for r in fast_routes(app.routes)}
    with_id = {
        path: ops["get"]["parameters"]
        for path, ops in app.openapi()["paths"].items()
        if "get" in ops and any(p["in"] == "path" for p in ops["get"].get("parameters", []))
    }
    assert set(table) == set(with_id)
    assert len(table) == 4
    for path, params in with_id.items():
        route, query = table[path], {p["name"]: p["schema"] for p in params if p["in"] == "query"}
        assert set(route.ints) | route.deferred == set(query), path
        assert not set(route.ints) & route.deferred
        for name, param in route.ints.items():
            schema = query[name]
            assert (param.low, param.high, route.defaults[name]) == (
                schema["minimum"],
                schema["maximum"],
                schema["default"],
            )
        assert route.keys == (encoded(["read-1", "write-1"]),)  # the routes' own key check
