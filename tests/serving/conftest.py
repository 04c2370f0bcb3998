"""Serving-only fixtures: a synchronous Redis client on the test's (flushed) server, and a published bundle.

``redis_client``: ``redis.Redis`` on ``redis_url`` (emptied before each test), closed afterwards.
``published``: the session's trained bundle (the ``trained`` fixture) published into that Redis with the
default ``k`` (model name "test-recs", model version "1"); the value is the ``PublishReport``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from serving.publish import PublishReport, publish_bundle


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def published(trained, redis_client: redis.Redis) -> PublishReport:
    return publish_bundle(trained.bundle, redis_client, model_name="test-recs", model_version="1")
