"""The capacity benchmark's smallest measurement (``benchmarks.capacity``): Redis bytes per list of every
surface, on a tiny shop published into the test Redis. The capacity model in docs/operations.md multiplies
these by millions, so they must be the real keys' bytes: at least the packed entries, plus a small overhead."""

from __future__ import annotations

from pathlib import Path

import redis

from benchmarks.capacity import K, list_costs, publish_shop
from recommender.vocabulary import LIST_SURFACES

MAX_OVERHEAD = 200  # bytes per list beyond its packed entries (the field, the hash entry): about 70 measured


def test_bytes_per_list_are_the_published_lists_bytes(redis_url: str, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        bundle, version, shop = publish_shop(client, tmp_path, customers=300, items=500)
        costs = list_costs(client, version, len(bundle.items.ids))
    finally:
        client.close()
    assert shop["customers"] == 300 and shop["version_used_memory_bytes"] > 0
    surfaces = costs["surfaces"]
    assert set(surfaces) == set(LIST_SURFACES)
    assert surfaces["for_you"]["lists"] == 300
    assert surfaces["complements"]["lists"] == len(bundle.items.ids)
    for surface, cost in surfaces.items():
        packed = cost["entries_per_list"] * costs["entry_bytes"]
        assert 0 < cost["entries_per_list"] <= K, surface
        assert packed < cost["bytes_per_list"] < packed + MAX_OVERHEAD, (surface, cost)
    lists = sum(cost["bytes"] for cost in surfaces.values())
    tables = sum(costs["tables_bytes"].values())
    assert costs["tables_bytes"]["catalog"] > 0 and costs["tables_bytes"]["items"] > 0
    assert 0.8 * shop["version_used_memory_bytes"] < lists + tables < 1.2 * shop["version_used_memory_bytes"]
