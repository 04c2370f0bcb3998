"""The events' fast path: valid ``POST /v1/events`` and ``POST /v1/events/batch`` bodies handled without
FastAPI's per-request machinery.

A storefront sends an event per impression and click; FastAPI's routing, dependency solving, JSON parsing into
Python objects and then validation cost more CPU than storing the event. This pure ASGI middleware takes a
request only when it can read it exactly as FastAPI would:

- ``POST`` to one of the two paths, no ``root_path``, no query string (FastAPI refuses parameters these
  routes do not take), a ``Content-Type`` of ``application/json``;
- when the route checks API keys, a key it accepts in the first ``X-API-Key`` header;
- a body that the route's own body type validates (``TypeAdapter.validate_json``: pydantic reads the JSON
  bytes straight into the models);
- no dependency overridden on the app (tests that swap ``get_state`` get FastAPI's routes).

Anything else goes on to FastAPI with the body it was sent, which answers it (422 with its message, 401,
403): the fast path never writes an error of its own. The answer comes from the route's own endpoint
(``serving.routes.events``), called with the validated body, as FastAPI would call it.
``tests/serving/test_fast_events.py`` compares both paths. ``RECS_FAST_PATH=false`` turns it off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.auth import HEADER, KeyCheck, matches
from serving.body_limit import receive_body, replay
from serving.state import ServingState

API_KEY_HEADER = HEADER.lower().encode("latin-1")
Endpoint = Callable[[Any, ServingState], Awaitable[Response]]


@dataclass(frozen=True)
class EventRoute:
    """A path the fast path takes: its route (the metrics' label), body type and endpoint, and the keys."""

    route: APIRoute
    body: TypeAdapter[Any]
    endpoint: Endpoint
    keys: tuple[bytes, ...] | None  # accepted keys; None: the route checks none


def event_routes(
    routes: Sequence[BaseRoute], endpoints: dict[str, Endpoint], check: KeyCheck | None
) -> dict[str, EventRoute]:
    """``{path: EventRoute}`` for the POST routes of ``endpoints`` (path -> the route's endpoint function),
    their body types read from the routes' declarations (``iter_route_contexts``: included routers too)."""
    found: dict[str, EventRoute] = {}
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or "POST" not in (context.methods or ()):
            continue
        if context.path_format not in endpoints or context.path_format in found:
            continue
        (body,) = context.dependant.body_params
        found[context.path_format] = EventRoute(
            route=route,
            body=TypeAdapter(Annotated[body.field_info.annotation, body.field_info]),
            endpoint=endpoints[context.path_format],
            keys=None if check is None else check.accepted,
        )
    missing = set(endpoints) - set(found)
    if missing:
        raise LookupError(f"no POST route for {', '.join(sorted(missing))}")
    return found


class FastEventsMiddleware:
    """``app.add_middleware(FastEventsMiddleware, routes=event_routes(...))``: see the module docstring."""

    def __init__(self, app: ASGIApp, routes: dict[str, EventRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.take(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        body = await receive_body(receive) or b""  # bounded by the body limit middleware, outside
        try:
            value = route.body.validate_json(body)
        except ValidationError:  # FastAPI answers (422 with its message)
            await self.app(scope, replay(body, receive), send)
            return
        scope["route"] = route.route  # as FastAPI records it (the metrics' route label)
        response = await route.endpoint(value, scope["app"].state.serving)
        await response(scope, receive, send)

    def take(self, scope: Scope) -> EventRoute | None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path") or scope.get("query_string"):
            return None  # a query string: FastAPI refuses the parameters these routes do not take (422)
        route = self.routes.get(scope["path"])
        if route is None:
            return None
        content_type, key = b"", None
        for name, value in scope["headers"]:
            if name == b"content-type" and not content_type:
                content_type = value
            elif name == API_KEY_HEADER and key is None:
                key = value
        if content_type.split(b";")[0].strip().lower() != b"application/json":
            return None
        if route.keys is not None and not (key and matches(key, route.keys)):
            return None
        app = scope.get("app")
        if app is None or getattr(app, "dependency_overrides", None):
            return None
        if not isinstance(getattr(app.state, "serving", None), ServingState):
            return None
        return route
