"""The FastAPI application: ``create_app(settings)`` wires settings, the Redis client, state and routes.

The lifespan opens the asyncio Redis client (``serving.cache.connect_async``) and builds the
``ServingState`` holding the active version's tables; it loads them at startup when Redis is reachable
and a version is published, and otherwise starts anyway (``/readyz`` says why it is not ready, list
endpoints answer marked fallbacks). It also runs the flusher of events accepted while Redis was
unreachable (``serving.event_buffer``): at startup it takes back what a previous process spooled, and at
shutdown it tries a last flush, then spools (or logs) what is left.

Around the routes: the request body limit (``serving.body_limit``, pure ASGI), the fast path for the list
routes (``serving.fast_path``, its table read from the routes), API keys on /v1 when configured
(``serving.auth``), and error answers that are always valid JSON. Nothing is created at import
time: several apps can live in one process (tests), each with its own client, state and metrics registry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from serving import cache, event_buffer
from serving.auth import CHALLENGE, ApiKeyError, KeyCheck, event_check, read_check, rules_check
from serving.body_limit import BodyTooLargeMiddleware
from serving.event_buffer import EventBuffer
from serving.fast_events import FastEventsMiddleware, event_routes
from serving.fast_path import FastPathMiddleware
from serving.fast_routes import fast_routes
from serving.metrics import Metrics, MetricsMiddleware
from serving.routes import cart, catalog, dashboard, events, health, items, kpis, popular, rules, users
from serving.schemas import Problem
from serving.settings import ServingSettings
from serving.state import ServingState, settle_heap

log = logging.getLogger(__name__)
API_VERSION = "1"
SHUTDOWN_FLUSH_SECONDS = 2.0


class MissingRedisUrlError(ValueError):
    """The service was created without a Redis URL (the CLI starts an embedded server and passes its URL)."""


class AsciiJSONResponse(JSONResponse):
    """JSON that any echo of hostile input fits in: non-ASCII escaped (a lone surrogate stays encodable),
    non-finite numbers (``NaN`` is accepted by Python's JSON parser) as text."""

    def render(self, content: Any) -> bytes:
        return json.dumps(finite(content), ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def finite(content: Any) -> Any:
    """``content`` with every non-finite float replaced by its text (``"nan"``, ``"inf"``)."""
    if isinstance(content, float) and not math.isfinite(content):
        return str(content)
    if isinstance(content, dict):
        return {key: finite(value) for key, value in content.items()}
    if isinstance(content, list | tuple):
        return [finite(value) for value in content]
    return content


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """The v1 HTTP API; ``settings`` default to the ``RECS_*`` environment."""
    cfg = settings if settings is not None else ServingSettings()
    if not cfg.redis_url:
        raise MissingRedisUrlError("RECS_REDIS_URL is not set; `recs serve` starts a local Redis server for you")
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = cache.connect_async(
            cfg.redis_url or "",
            socket_timeout=cfg.redis_socket_timeout,
            connect_timeout=cfg.redis_connect_timeout,
            cluster=cfg.redis_cluster,
        )
        buffer = EventBuffer(
            capacity=cfg.event_buffer_max,
            max_backoff=cfg.event_flush_max_backoff_seconds,
            on_flushed=metrics.events_flushed.inc,
        )
        metrics.watch_buffer(buffer)
        pipe = cache.lean_pipe(
            cfg.redis_url or "", connect_timeout=cfg.redis_connect_timeout, cluster=cfg.redis_cluster
        )
        state = ServingState(
            settings=cfg, reader=cache.CacheReader(client, cfg.events_max, pipe), metrics=metrics, events=buffer
        )
        app.state.serving = state
        if cfg.event_spool_dir is not None:
            restored = buffer.restore(event_buffer.read_spool(cfg.event_spool_dir))
            if restored:
                log.warning("took back %d spooled events from %s", restored, cfg.event_spool_dir)
        try:
            await state.refresh()
        except cache.RedisUnavailable as exc:
            state.problem = f"Redis unreachable at startup: {exc}"
            log.warning("starting without a loaded version: %s", state.problem)
        if state.active is None:  # loading a version settles the heap; without one, settle it now (events)
            settle_heap()
        tasks = [
            asyncio.create_task(buffer.run(state.write_events), name="recs-event-flusher"),
            asyncio.create_task(state.answers.run(), name="recs-answer-recorder"),
        ]
        try:
            yield
        finally:
            state.answers.stop()
            for task in tasks:
                task.cancel()
            # bounded: a cancellation absorbed by the Redis client mid-command must not hang the shutdown
            await asyncio.wait(tasks, timeout=SHUTDOWN_FLUSH_SECONDS)
            await last_flush(state, cfg)
            await client.aclose()
            if pipe is not None:
                await pipe.close()

    app = FastAPI(
        title="recs: recommendations for e-commerce storefronts",
        version=API_VERSION,
        summary="Personalized, similar, complementary, next-purchase and popular items, served from Redis.",
        lifespan=lifespan,
        telemetry={"tracing": cfg.opentelemetry, "metrics": cfg.opentelemetry, "logs": cfg.opentelemetry},
    )
    app.state.settings = cfg
    app.state.metrics = metrics
    include_routes(app, cfg)
    if cfg.fast_path:  # inside the body limit and the metrics, like the routes; their tables read from them once
        app.add_middleware(FastPathMiddleware, routes=fast_routes(app.routes))
        endpoints = {"/v1/events": events.post_event, "/v1/events/batch": events.post_events}
        check = event_check(cfg.read_keys, cfg.write_keys)
        app.add_middleware(FastEventsMiddleware, routes=event_routes(app.routes, endpoints, check))
    app.add_middleware(
        BodyTooLargeMiddleware,
        max_bytes=cfg.max_body_bytes,
        path_limits={
            "/v1/events/batch": (cfg.max_batch_body_bytes, "RECS_MAX_BATCH_BODY_BYTES"),
            "/v1/items": (cfg.max_batch_body_bytes, "RECS_MAX_BATCH_BODY_BYTES"),
        },
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last, so outermost: counts 413s too
    app.add_exception_handler(ApiKeyError, api_key_refused)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    return app


def include_routes(app: FastAPI, cfg: ServingSettings) -> None:
    """Every router, with the API key checks that the settings ask for (and their 401/403 documented)."""
    reads, writes = cfg.read_keys, cfg.write_keys
    for module in (users, items, popular, kpis):
        app.include_router(module.router, **guarded(read_check(reads, writes)))
    app.include_router(cart.router, **with_body(guarded(read_check(reads, writes))))
    writing = guarded(event_check(reads, writes), forbidden=bool(writes and reads))
    app.include_router(events.router, **with_body(writing))
    app.include_router(rules.router, **guarded(read_check(reads, writes)))
    app.include_router(
        rules.write_router, **with_body(guarded(rules_check(reads, writes), forbidden=bool(writes and reads)))
    )
    app.include_router(catalog.router, **with_body(writing))
    app.include_router(health.router)
    app.include_router(dashboard.router)


TOO_LARGE: dict[str, Any] = {
    "model": Problem,
    "description": "the body is larger than RECS_MAX_BODY_BYTES (RECS_MAX_BATCH_BODY_BYTES for batches and items)",
}


def with_body(arguments: dict[str, Any]) -> dict[str, Any]:
    """``include_router`` arguments with the body limit's 413 documented (routers whose routes take a body)."""
    return {**arguments, "responses": {**arguments.get("responses", {}), 413: TOO_LARGE}}


def guarded(check: KeyCheck | None, *, forbidden: bool = False) -> dict[str, Any]:
    """``include_router`` arguments adding ``check`` (nothing when None)."""
    if check is None:
        return {}
    responses: dict[int | str, dict[str, Any]] = {
        401: {"model": Problem, "description": "no API key in the X-API-Key header, or an unknown one"}
    }
    if forbidden:
        responses[403] = {"model": Problem, "description": "a read key: events need a key of RECS_EVENT_API_KEYS"}
    return {"dependencies": [Depends(check)], "responses": responses}


async def api_key_refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiKeyError)
    body = Problem(status="unauthorized" if exc.status_code == 401 else "forbidden", reason=exc.reason)
    headers = CHALLENGE if exc.status_code == 401 else None
    return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=headers)


async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 body, rendered so that any echoed input (even a lone surrogate) is valid JSON."""
    assert isinstance(exc, RequestValidationError)
    return AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own answer, except for a body it could not parse (not UTF-8, nested too deep): FastAPI
    says 400 there, the API says 422 for every malformed body."""
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, ValueError | RecursionError):
        kind = "not UTF-8 text" if isinstance(cause, UnicodeError) else "nested too deeply"
        error = {"type": "json_invalid", "loc": ["body"], "msg": f"the body is not valid JSON: {kind}"}
        return AsciiJSONResponse({"detail": [error]}, status_code=422)
    if exc.status_code == 405:  # a path served by routes of several routers (/v1/rules): every method of it
        methods = {
            method
            for route in request.app.router.routes
            if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE
            for method in route.methods or ()
        }
        exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(sorted(methods))})
    return await http_exception_handler(request, exc)


async def last_flush(state: ServingState, cfg: ServingSettings) -> None:
    """Shutdown: one more flush of answer records (lost if Redis is down: they only serve attribution) and
    of buffered events; events left go to the spool directory, or to the log."""
    if len(state.answers):
        try:
            async with asyncio.timeout(SHUTDOWN_FLUSH_SECONDS):
                await state.answers.flush()
        except event_buffer.FLUSH_FAILURES as exc:
            log.warning("could not write %d answer records at shutdown: %r", len(state.answers), exc)
    if not len(state.events):
        return
    try:
        async with asyncio.timeout(SHUTDOWN_FLUSH_SECONDS):
            await state.events.flush(state.write_events)
        return
    except event_buffer.FLUSH_FAILURES as exc:
        log.warning("could not flush %d buffered events at shutdown: %r", len(state.events), exc)
    left = state.events.drain()
    if cfg.event_spool_dir is not None:
        try:
            path = event_buffer.write_spool(cfg.event_spool_dir, left)
        except OSError as exc:
            log.error("could not write the event spool in %s: %r", cfg.event_spool_dir, exc)
        else:
            log.warning("spooled %d unflushed events to %s; the next start writes them to Redis", len(left), path)
            return
    event_buffer.log_unflushed(left)
