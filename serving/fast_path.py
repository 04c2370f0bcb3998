"""The fast path: well-formed GETs of the list routes answered without FastAPI's per-request machinery.

The storefront calls four routes on every page view: a customer's recommendations and next purchase, an
item's complements and similar items. For them, FastAPI's routing, dependency solving and parameter
validation cost more CPU than the answer itself (the Redis read and the merge). This pure ASGI middleware
takes a request only when it can read it exactly as FastAPI would:

- ``GET`` (not ``HEAD``), no ``root_path``, a path of one of the four route templates with an id that
  FastAPI would accept (at most 256 characters, not blank once stripped of white space);
- query parameters that the route takes, each at most once, with plain decimal values in range (``k``
  1..100, ``offset`` 0..1000); parameters no route declares are ignored, as FastAPI ignores them;
- when API keys are configured, a valid read key in ``X-API-Key``;
- no dependency overridden on the app (tests that swap ``get_state`` get FastAPI's routes, which honour it).

Anything else (``category``, ``in_stock``, a bad value, a missing key) goes on to FastAPI, which answers
it, 422 and 401 included: the fast path never writes an error of its own. The answer itself comes from the
same functions the FastAPI routes call (``customer_answer``, ``item_answer``), so both paths answer alike;
``tests/serving/test_fast_path.py`` holds them to that. ``RECS_FAST_PATH=false`` turns it off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from serving.auth import HEADER, encoded, matches
from serving.routes.common import json_bytes
from serving.routes.items import item_answer
from serving.routes.users import customer_answer
from serving.schemas import MAX_ID_LENGTH, MAX_K, WHITESPACE
from serving.state import ServingState

MAX_OFFSET = 1000
API_KEY_HEADER = HEADER.lower().encode("latin-1")
Answer = Callable[[ServingState, str, dict[str, int]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class RouteLabel:
    """What ``serving.metrics.route_template`` reads from ``scope["route"]``: the route's template."""

    path_format: str


@dataclass(frozen=True)
class FastRoute:
    """One route the fast path serves: ``prefix{id}suffix``, its integer query parameters (name -> range),
    the parameters it leaves to FastAPI, and the function that answers."""

    prefix: str
    suffix: str
    ints: dict[str, tuple[int, int]]
    deferred: frozenset[str]
    answer: Answer

    @cached_property
    def label(self) -> RouteLabel:
        param = "customer_id" if self.prefix == "/v1/users/" else "item_id"
        return RouteLabel(f"{self.prefix}{{{param}}}{self.suffix}")


async def _for_you(state: ServingState, customer_id: str, params: dict[str, int]) -> dict[str, Any]:
    return await customer_answer(state, "for_you", customer_id, k=params["k"], offset=params["offset"])


async def _next_purchase(state: ServingState, customer_id: str, params: dict[str, int]) -> dict[str, Any]:
    return await customer_answer(state, "next_purchase", customer_id, k=params["k"])


async def _complements(state: ServingState, item_id: str, params: dict[str, int]) -> dict[str, Any]:
    return await item_answer(state, "complements", item_id, k=params["k"])


async def _similar(state: ServingState, item_id: str, params: dict[str, int]) -> dict[str, Any]:
    return await item_answer(state, "similar", item_id, k=params["k"])


K_RANGE = {"k": (1, MAX_K)}
# in the order FastAPI tries them (the order of registration): an id may itself end in "/next-purchase"
ROUTES = (
    FastRoute(
        "/v1/users/",
        "/recommendations",
        {**K_RANGE, "offset": (0, MAX_OFFSET)},
        frozenset({"category", "in_stock"}),
        _for_you,
    ),
    FastRoute("/v1/users/", "/next-purchase", K_RANGE, frozenset(), _next_purchase),
    FastRoute("/v1/items/", "/complements", K_RANGE, frozenset(), _complements),
    FastRoute("/v1/items/", "/similar", K_RANGE, frozenset(), _similar),
)
DEFAULTS = {"k": 10, "offset": 0}


def match_route(path: str) -> tuple[FastRoute, str] | None:
    """(the route, the id as FastAPI would pass it) for a path the fast path serves, else None."""
    for route in ROUTES:
        if path.startswith(route.prefix) and path.endswith(route.suffix):
            if len(path) < len(route.prefix) + len(route.suffix):
                return None
            raw = path[len(route.prefix) : len(path) - len(route.suffix)]
            if len(raw) > MAX_ID_LENGTH:
                return None
            stripped = raw.strip(WHITESPACE)
            return (route, stripped) if stripped else None
    return None


def read_params(route: FastRoute, query: bytes) -> dict[str, int] | None:
    """The route's integer parameters (defaults filled in), or None when FastAPI should read the query."""
    params = {name: DEFAULTS[name] for name in route.ints}
    if not query:
        return params
    seen: set[str] = set()
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return None
    for name, value in pairs:
        if name in route.deferred or name in seen:
            return None
        if name not in route.ints:
            continue  # FastAPI ignores parameters a route does not declare
        seen.add(name)
        low, high = route.ints[name]
        if not (value.isascii() and value.isdigit() and len(value) <= 4 and low <= int(value) <= high):
            return None
        params[name] = int(value)
    return params


class FastPathMiddleware:
    """``app.add_middleware(FastPathMiddleware, keys=...)``: see the module docstring. ``keys``: the keys the
    list routes accept (``serving.auth.read_check``'s), empty when they are open."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...] = ()) -> None:
        self.app = app
        self.keys = encoded(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        taken = self.take(scope)
        if taken is None:
            await self.app(scope, receive, send)
            return
        state, route, item_or_customer, params = taken
        scope["route"] = route.label  # for the metrics' route label
        body = json_bytes(await route.answer(state, item_or_customer, params))
        # the two messages a Starlette ``Response`` would send, without building one
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def take(self, scope: Scope) -> tuple[ServingState, FastRoute, str, dict[str, int]] | None:
        """What the fast path needs to answer ``scope``, or None to hand it to FastAPI."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        matched = match_route(scope["path"])
        if matched is None:
            return None
        route, identifier = matched
        params = read_params(route, scope["query_string"])
        if params is None or (self.keys and not self.key_accepted(scope)):
            return None
        app = scope.get("app")
        if app is None or getattr(app, "dependency_overrides", None):  # overridden (tests): FastAPI's routes
            return None
        state = getattr(app.state, "serving", None)
        if not isinstance(state, ServingState):  # the lifespan did not run: FastAPI says what it can
            return None
        return state, route, identifier, params

    def key_accepted(self, scope: Scope) -> bool:
        """The first ``X-API-Key`` header holds a read key (FastAPI reads the first one too)."""
        for name, value in scope["headers"]:
            if name == API_KEY_HEADER:
                return bool(value) and matches(value, self.keys)
        return False
