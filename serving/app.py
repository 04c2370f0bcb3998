"""The FastAPI application: ``create_app(settings)`` wires settings, the Redis client, state and routes.

The lifespan opens the asyncio Redis client (``serving.cache.connect_async``) and builds the
``ServingState`` holding the active version's tables; it loads them at startup when Redis is reachable
and a version is published, and otherwise starts anyway (``/readyz`` says why it is not ready, list
endpoints answer marked fallbacks). Nothing is created at import time: several apps can live in one
process (tests), each with its own client, state and metrics registry.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from serving import cache
from serving.metrics import Metrics, metrics_middleware
from serving.routes import cart, events, health, items, popular, users
from serving.settings import ServingSettings
from serving.state import ServingState

log = logging.getLogger(__name__)
API_VERSION = "1"


class MissingRedisUrlError(ValueError):
    """The service was created without a Redis URL (the CLI starts an embedded server and passes its URL)."""


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """The v1 HTTP API; ``settings`` default to the ``RECS_*`` environment."""
    cfg = settings if settings is not None else ServingSettings()
    if not cfg.redis_url:
        raise MissingRedisUrlError("RECS_REDIS_URL is not set; `recs serve` starts a local Redis server for you")
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = cache.connect_async(
            cfg.redis_url or "", socket_timeout=cfg.redis_socket_timeout, connect_timeout=cfg.redis_connect_timeout
        )
        state = ServingState(settings=cfg, reader=cache.CacheReader(client), metrics=metrics)
        app.state.serving = state
        try:
            await state.refresh()
        except cache.RedisUnavailable as exc:
            state.problem = f"Redis unreachable at startup: {exc}"
            log.warning("starting without a loaded version: %s", state.problem)
        try:
            yield
        finally:
            await client.aclose()

    app = FastAPI(
        title="recs: recommendations for e-commerce storefronts",
        version=API_VERSION,
        summary="Personalized, similar, complementary, next-purchase and popular items, served from Redis.",
        lifespan=lifespan,
    )
    app.state.settings = cfg
    app.state.metrics = metrics
    app.middleware("http")(metrics_middleware(metrics))
    for module in (users, items, cart, popular, events, health):
        app.include_router(module.router)
    return app
