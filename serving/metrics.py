"""Prometheus metrics of one app: a private registry per app (several apps can live in one process).

- ``recs_requests_total{route,method,status}`` and ``recs_request_seconds{route}``: per route template
  (``/v1/users/{customer_id}/recommendations``), so customer ids never become label values;
- ``recs_fallbacks_total{surface,cause}``: answers that are not the personalized list (unknown id, no
  version published, Redis down);
- ``recs_redis_errors_total{route}``, ``recs_events_total{type}`` (accepted, written or buffered);
- ``recs_event_buffer_size`` (events accepted while Redis was unreachable, waiting in this process),
  ``recs_events_buffered_total``, ``recs_events_flushed_total`` (buffered, then written to Redis) and
  ``recs_events_refused_total`` (503: the buffer was full);
- ``recs_active_version_info{version,model_name,model_version}`` = 1 for the version held in memory;
- the journey KPIs' counters as this process wrote them, per ``{surface,model_version}``: ``recs_answers_total``,
  ``recs_impressions_total``, ``recs_clicks_total``, ``recs_attributed_purchases_total`` and
  ``recs_attributed_revenue_cents_total`` (sum them over the workers; ``GET /v1/kpis`` has the totals).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sized

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.feedback.store import US, Credit

FEEDBACK_METRICS = ("answers", "impressions", "clicks", "attributed_purchases", "attributed_revenue_cents")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED = "unmatched"
MAX_CACHED_LABELS = 1024


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
        self.feedback = {
            metric: Counter(
                f"recs_{metric}",
                f"{metric.replace('_', ' ')} (journey KPIs)",
                ["surface", "model_version"],
                registry=reg,
            )
            for metric in FEEDBACK_METRICS
        }
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

    def credit(self, credits: Iterable[Credit]) -> None:
        """Add what an event batch credited to surfaces (``serving.feedback.store.Credit``)."""
        for c in credits:
            counter = self.feedback.get(c.metric)
            if counter is not None:
                counter.labels(c.surface, c.model_version).inc(c.amount)

    def count_answers(self, counts: Mapping[tuple[int, str], int]) -> None:
        """Add answers written to the KPIs ((hour, "surface US version US answers") -> n)."""
        for (_, field), n in counts.items():
            surface, version, _ = field.split(US)
            self.feedback["answers"].labels(surface, version).inc(n)

    def watch_buffer(self, buffer: Sized) -> None:
        """Report ``len(buffer)`` as ``recs_event_buffer_size`` (read at scrape time, no per-request work)."""
        self.event_buffer_size.set_function(lambda: len(buffer))

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    """The path template of the route that answered (bounded label values), or ``unmatched``.

    The router records the matched route in the ASGI scope; read it after the app has answered."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else UNMATCHED


class MetricsMiddleware:
    """Pure ASGI middleware counting every HTTP request and timing it per route.

    Pure ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs the app in
    a task group with memory streams, which costs more per request than a whole Redis read. A request that
    raises before answering counts as a 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # labelled children, looked up once per label set (route templates, methods and statuses are few)
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._timers: dict[str, Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.observe(route_template(scope), scope["method"], status, time.perf_counter() - start)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self.metrics.requests.labels(route, method, str(status))
            if len(self._counters) < MAX_CACHED_LABELS:  # methods come from clients: bound what is kept
                self._counters[key] = counter
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = self.metrics.latency.labels(route)
        counter.inc()
        timer.observe(seconds)
