"""Writing a version (publish, synchronous): its lists and tables, then the atomic switch, and cleanup.

``VersionWriter`` writes each surface's lists with hand-packed HSETs (``hset_command``), on one node into
one hash per surface, on a Redis Cluster into the list buckets of ``serving.keys``, every shard's HSETs sent
by its own thread at once; the tables (``meta`` last), then ``activate`` flips the active version with one
SET. A version's keys are found by SCAN on one node and named outright on a cluster (``version_keys``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from serving.cache import SyncRedis, keys_of, version_key
from serving.keys import LIST_BUCKETS, bucket


def hset_command(key: bytes, fields: Sequence[str], values: Sequence[bytes]) -> bytes:
    """``HSET key field value ...`` in the Redis protocol (RESP), fields encoded as UTF-8."""
    head = b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n" % (2 + 2 * len(fields), len(key), key)
    body = [
        b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(value), value)
        for name, value in zip([field.encode() for field in fields], values, strict=True)
    ]
    return head + b"".join(body)


def send_packed(node: Any, commands: Sequence[bytes]) -> None:
    """Send packed commands to one node on one of its pooled connections, in one write, and read the replies
    (an error reply raises here, ``ResponseError``, after the others were sent)."""
    pool = node.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command(list(commands))
        for _ in commands:
            connection.read_response()
    except BaseException:
        connection.disconnect()  # replies may be left unread: never hand this connection out again as is
        raise
    finally:
        pool.release(connection)


class VersionWriter:
    """Writes one new version through pipelines, then activates it atomically."""

    def __init__(self, client: SyncRedis, version: str, chunk: int = 5_000) -> None:
        self.client = client
        self.keys = keys_of(client)
        self.version = version
        self.chunk = chunk
        client.zadd(self.keys.versions, {version: time.time()})

    def put_blob(self, name: str, value: bytes | str) -> None:
        self.client.set(self.keys.blob(self.version, name), value)

    def put_hash(self, surface: str, keys: Sequence[str], values: Sequence[bytes]) -> int:
        """Write ``keys[i] -> values[i]`` into the version's hash for ``surface``, ``chunk`` fields per HSET,
        every HSET of the call sent in one round trip (on a cluster: into the list buckets, one round trip
        per shard, the shards written in parallel).

        The commands are packed here (``hset_commands``, about 5x cheaper than redis-py's general packer,
        which was a third of a publish's Redis time) and sent on one of the client's pooled connections.
        Returns the number of fields written (distinct ``keys`` are assumed, as publish gives them).
        """
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values")
        if not keys:
            return 0
        if self.keys.cluster:
            self._put_buckets(surface, keys, values)
            return len(keys)
        key = self.keys.list_key(self.version, surface, "").encode()
        send_packed(self.client, self._hsets(key, keys, values))
        return len(keys)

    def _hsets(self, key: bytes, keys: Sequence[str], values: Sequence[bytes]) -> list[bytes]:
        return [
            hset_command(key, keys[start : start + self.chunk], values[start : start + self.chunk])
            for start in range(0, len(keys), self.chunk)
        ]

    def _put_buckets(self, surface: str, keys: Sequence[str], values: Sequence[bytes]) -> None:
        """A cluster's ``put_hash``: the fields grouped by list bucket, each shard's HSETs sent by a thread."""
        client: Any = self.client  # a redis.cluster.RedisCluster
        names: list[list[str]] = [[] for _ in range(LIST_BUCKETS)]
        packed: list[list[bytes]] = [[] for _ in range(LIST_BUCKETS)]
        for field, value, number in zip(keys, values, map(bucket, keys), strict=True):
            names[number].append(field)
            packed[number].append(value)
        by_node: dict[str, tuple[Any, list[bytes]]] = {}
        for number in range(LIST_BUCKETS):
            if not names[number]:
                continue
            key = self.keys.bucket_key(self.version, surface, number)
            node = client.get_node_from_key(key)
            target = by_node.setdefault(node.name, (client.get_redis_connection(node), []))
            target[1].extend(self._hsets(key.encode(), names[number], packed[number]))
        with ThreadPoolExecutor(len(by_node), thread_name_prefix="publish-shard") as shards:
            for future in [shards.submit(send_packed, node, commands) for node, commands in by_node.values()]:
                future.result()

    def activate(self, grace_seconds: int) -> str | None:
        """Switch ``recs:active`` to this version (one atomic SET); the previous one expires after the grace.

        Returns the previous active version, if any.
        """
        previous = self.client.set(self.keys.active, self.version, get=True)
        previous_version = previous.decode() if previous else None
        if previous_version and previous_version != self.version:
            expire_version(self.client, previous_version, grace_seconds)
        return previous_version


def version_keys(client: SyncRedis, version: str) -> list[bytes]:
    """The keys of ``version`` (on a cluster, every key it may have: no SCAN over every shard)."""
    keys = keys_of(client)
    if keys.cluster:
        return [key.encode() for key in keys.version_keys(version)]
    return list(client.scan_iter(match=version_key(version, "*"), count=1000))


def expire_version(client: SyncRedis, version: str, seconds: int) -> None:
    keys = version_keys(client, version)
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.expire(key, seconds)
        pipe.execute()


def cleanup_versions(client: SyncRedis, keep: set[str], older_than: float) -> list[str]:
    """Delete versions not in ``keep`` that started before ``older_than`` (unfinished or superseded)."""
    removed: list[str] = []
    versions_key = keys_of(client).versions
    for raw, started in client.zrange(versions_key, 0, -1, withscores=True):
        version = raw.decode()
        if version in keep or started >= older_than:
            continue
        keys = version_keys(client, version)
        if keys:
            client.delete(*keys)
        client.zrem(versions_key, version)
        removed.append(version)
    return removed
