"""The fast path: well-formed GETs of the list routes answered without FastAPI's per-request machinery.

The storefront calls four routes on every page view: a customer's recommendations and next purchase, an
item's complements and similar items. For them, FastAPI's routing, dependency solving and parameter
validation cost more CPU than the answer itself (the Redis read and the merge). This pure ASGI middleware
takes a request only when it can read it exactly as FastAPI would, by the routes' own declarations
(``serving.fast_routes`` reads them once, when the app is created):

- ``GET`` (not ``HEAD``), no ``root_path``, a path of one of the table's route templates (in the order
  FastAPI tries them) with an id that FastAPI would accept (at most 256 characters, not blank once stripped
  of white space);
- query parameters that the route handles (``int`` ones with a range: ``k``, ``offset``), each at most once,
  with plain decimal values in range; any other parameter (the filters, and parameters the route does not
  declare, which FastAPI refuses with a 422) sends the request to FastAPI;
- when the route checks API keys, a key it accepts in ``X-API-Key``;
- no dependency overridden on the app (tests that swap ``get_state`` get FastAPI's routes, which honour it).

Anything else (a bad value, a missing key) goes on to FastAPI, which answers it, 422 and 401 included: the
fast path never writes an error of its own. The answer comes from the route's own endpoint, called with the
arguments FastAPI would pass it (declared defaults for absent parameters), and is sent as FastAPI sends the
``Response`` it returns; ``tests/serving/test_fast_path.py`` compares both paths on requests derived from
the OpenAPI schema. ``RECS_FAST_PATH=false`` turns it off.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from serving.auth import HEADER, matches
from serving.fast_routes import FastRoute, Keys
from serving.schemas import MAX_ID_LENGTH, WHITESPACE
from serving.state import ServingState

API_KEY_HEADER = HEADER.lower().encode("latin-1")


def match_route(routes: tuple[FastRoute, ...], path: str) -> tuple[FastRoute, str] | None:
    """(the route, the id as FastAPI would pass it) for a path the fast path serves, else None."""
    for route in routes:
        if not route.fits(path):
            continue
        if path in route.shadow_paths or (route.shadow_patterns and any(p.match(path) for p in route.shadow_patterns)):
            return None  # FastAPI tries a route it cannot read first
        raw = path[len(route.prefix) : len(path) - len(route.suffix)]
        if len(raw) > MAX_ID_LENGTH:
            return None
        stripped = raw.strip(WHITESPACE)
        return (route, stripped) if stripped else None
    return None


def read_params(route: FastRoute, query: bytes) -> dict[str, Any] | None:
    """The endpoint's query arguments (defaults filled in), or None when FastAPI should read the query."""
    arguments = dict(route.defaults)
    if not query:
        return arguments
    seen: set[str] = set()
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return None
    for name, value in pairs:
        if name in route.deferred or name in seen:
            return None
        param = route.ints.get(name)
        if param is None:
            return None  # a filter (FastAPI reads it), or a parameter the route does not declare (a 422)
        seen.add(name)
        if not (value.isascii() and value.isdigit() and len(value) <= param.digits):
            return None
        number = int(value)
        if not param.low <= number <= param.high:
            return None
        arguments[param.argument] = number
    return arguments


class FastPathMiddleware:
    """``app.add_middleware(FastPathMiddleware, routes=fast_routes(app.routes))``: see the module docstring."""

    def __init__(self, app: ASGIApp, routes: tuple[FastRoute, ...]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        taken = self.take(scope)
        if taken is None:
            await self.app(scope, receive, send)
            return
        route, arguments = taken
        scope["route"] = route.route  # as FastAPI records it (the metrics' route label)
        response = await route.call(**arguments)
        await response(scope, receive, send)

    def take(self, scope: Scope) -> tuple[FastRoute, dict[str, Any]] | None:
        """The route and the endpoint's arguments to answer ``scope`` with, or None to hand it to FastAPI."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        matched = match_route(self.routes, scope["path"])
        if matched is None:
            return None
        route, identifier = matched
        arguments = read_params(route, scope["query_string"])
        if arguments is None or (route.keys and not key_accepted(scope, route.keys)):
            return None
        app = scope.get("app")
        if app is None or getattr(app, "dependency_overrides", None):  # overridden (tests): FastAPI's routes
            return None
        state = getattr(app.state, "serving", None)
        if not isinstance(state, ServingState):  # the lifespan did not run: FastAPI says what it can
            return None
        arguments[route.id_argument] = identifier
        if route.state_argument is not None:
            arguments[route.state_argument] = state
        return route, arguments


def key_accepted(scope: Scope, keys: Keys) -> bool:
    """The first ``X-API-Key`` header holds a key that every check of the route accepts (FastAPI reads the
    first one too)."""
    for name, value in scope["headers"]:
        if name == API_KEY_HEADER:
            return bool(value) and all(matches(value, accepted) for accepted in keys)
    return False
