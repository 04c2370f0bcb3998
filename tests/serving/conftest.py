"""Serving-only fixtures: a synchronous Redis client on the test's (flushed) server, and a published bundle.

``redis_client``: a client of ``redis_url`` (emptied before each test), closed afterwards: ``redis.Redis``, or
a cluster client where the test runs with ``RECS_REDIS_CLUSTER=true`` (``tests/serving/test_cluster.py``).
``published``: the session's trained bundle (the ``trained`` fixture) published into that Redis with the
default ``k`` (model name "test-recs", model version "1"); the value is the ``PublishReport``.
``serve(redis_url, **settings)``: the app with its lifespan running and an HTTP client talking to it;
``api``: that client on the published bundle; ``bundle``: the trained bundle.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis

from recommender.bundle import ModelBundle
from serving.app import create_app
from serving.cache import connect_sync
from serving.publish import PublishReport, publish_bundle
from serving.settings import ServingSettings


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = connect_sync(redis_url, cluster=os.environ.get("RECS_REDIS_CLUSTER") == "true")
    yield client  # type: ignore[misc]
    client.close()


@pytest.fixture
def published(trained, redis_client: redis.Redis) -> PublishReport:
    return publish_bundle(trained.bundle, redis_client, model_name="test-recs", model_version="1")


@asynccontextmanager
async def serve(redis_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an HTTP client talking to it."""
    app = create_app(ServingSettings(redis_url=redis_url, **settings))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


@pytest.fixture
async def api(redis_url: str, published: PublishReport) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(redis_url) as client:
        yield client


@pytest.fixture(scope="module")
def bundle(trained) -> ModelBundle:
    return trained.bundle
