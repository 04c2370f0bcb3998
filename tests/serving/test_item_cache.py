"""Item lists (complements, similar) are kept in process after their first read: the next request for the
item reads nothing from Redis, and a new published version is answered within ``version_check_seconds``."""

from __future__ import annotations

import anyio
import pytest
import redis

from serving.cache import version_key
from serving.publish import PublishReport, publish_bundle
from tests.serving.conftest import serve

pytestmark = pytest.mark.anyio


async def test_an_item_list_read_once_is_answered_from_memory(
    redis_url: str, redis_client: redis.Redis, published: PublishReport, trained
) -> None:
    item = trained.bundle.items.ids[4]
    async with serve(redis_url) as api:
        first = (await api.get(f"/v1/items/{item}/complements")).json()
        # the version's stored list goes away: the process still holds it
        redis_client.delete(version_key(published.version, "complements"))
        second = (await api.get(f"/v1/items/{item}/complements")).json()
        other = trained.bundle.items.ids[5]  # never read: it had to come from Redis, which lost it
        missing = (await api.get(f"/v1/items/{other}/complements")).json()
    assert not first["fallback"] and first["items"]
    assert second["items"] == first["items"] and not second["fallback"]
    assert missing["fallback"]


async def test_a_new_version_replaces_the_held_lists(
    redis_url: str, redis_client: redis.Redis, published: PublishReport, trained
) -> None:
    item = trained.bundle.items.ids[4]
    async with serve(redis_url, version_check_seconds=0.2) as api:
        before = (await api.get(f"/v1/items/{item}/similar")).json()
        newer = publish_bundle(trained.bundle, redis_client, model_name="test-recs", model_version="2")
        await anyio.sleep(0.3)
        after = (await api.get(f"/v1/items/{item}/similar")).json()
    assert before["model_version"] == f"1@{published.version}"
    assert after["model_version"] == f"2@{newer.version}"
    assert after["items"] == before["items"]  # the same bundle, published again
