"""Prometheus metrics of one app: a private registry per app (several apps can live in one process).

- ``recs_requests_total{route,method,status}`` and ``recs_request_seconds{route}``: per route template
  (``/v1/users/{customer_id}/recommendations``), so customer ids never become label values;
- ``recs_fallbacks_total{surface,cause}``: answers that are not the personalized list (unknown id, no
  version published, Redis down);
- ``recs_redis_errors_total{route}``, ``recs_events_total{type}`` (accepted, written or buffered);
- ``recs_event_buffer_size`` (events accepted while Redis was unreachable, waiting in this process),
  ``recs_events_buffered_total``, ``recs_events_flushed_total`` (buffered, then written to Redis) and
  ``recs_events_refused_total`` (503: the buffer was full);
- ``recs_active_version_info{version,model_name,model_version}`` = 1 for the version held in memory.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sized

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED = "unmatched"


class Metrics:
    """The app's collectors, all registered in its own ``registry``."""

    requests: Counter
    latency: Histogram
    fallbacks: Counter
    redis_errors: Counter
    events: Counter
    events_buffered: Counter
    events_flushed: Counter
    events_refused: Counter
    event_buffer_size: Gauge
    active_version: Gauge

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter("recs_requests", "HTTP requests answered", ["route", "method", "status"], registry=reg)
        self.latency = Histogram(
            "recs_request_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=reg
        )
        self.fallbacks = Counter(
            "recs_fallbacks",
            "answers that are a fallback, not the personalized list",
            ["surface", "cause"],
            registry=reg,
        )
        self.redis_errors = Counter(
            "recs_redis_errors", "Redis errors and timeouts met by requests", ["route"], registry=reg
        )
        self.events = Counter("recs_events", "events accepted", ["type"], registry=reg)
        self.events_buffered = Counter(
            "recs_events_buffered", "events accepted into the buffer while Redis was unreachable", registry=reg
        )
        self.events_flushed = Counter("recs_events_flushed", "buffered events written to Redis later", registry=reg)
        self.events_refused = Counter(
            "recs_events_refused", "events refused with 503 because the buffer was full", registry=reg
        )
        self.event_buffer_size = Gauge(
            "recs_event_buffer_size", "events accepted while Redis was unreachable, not yet written", registry=reg
        )
        self.active_version = Gauge(
            "recs_active_version_info",
            "the published version held in memory (value 1)",
            ["version", "model_name", "model_version"],
            registry=reg,
        )

    def set_active(self, version: str | None, model_name: str = "", model_version: str = "") -> None:
        self.active_version.clear()
        if version is not None:
            self.active_version.labels(version=version, model_name=model_name, model_version=model_version).set(1)

    def watch_buffer(self, buffer: Sized) -> None:
        """Report ``len(buffer)`` as ``recs_event_buffer_size`` (read at scrape time, no per-request work)."""
        self.event_buffer_size.set_function(lambda: len(buffer))

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(request: Request) -> str:
    """The path template of the route that answered ``request`` (bounded label values), or ``unmatched``.

    The router records the matched route in the ASGI scope; read it after the app has answered."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else UNMATCHED


def metrics_middleware(
    metrics: Metrics,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """An ``@app.middleware("http")`` function counting every request and timing it per route."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = route_template(request)
            metrics.requests.labels(route=route, method=request.method, status=str(status)).inc()
            metrics.latency.labels(route=route).observe(time.perf_counter() - start)

    return middleware
