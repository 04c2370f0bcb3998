"""The Redis layout of published recommendations, and its packing. The one module that imports redis.

Layout (every precomputed key carries its version; one small key names the active version):

    recs:active                      STRING  the active version id
    recs:versions                    ZSET    version id -> publish start time (for cleanup)
    recs:v:<version>:meta            STRING  JSON: model name/version, counts, window days, published_at
    recs:v:<version>:items           STRING  JSON list of item ids (index i = packed item i)
    recs:v:<version>:catalog         STRING  npz bytes: category per item, in_stock, price, names, categories
    recs:v:<version>:popular         STRING  npz bytes: overall list + per-category lists
    recs:v:<version>:<surface>       HASH    external id -> packed entries, for surfaces
                                             for_you, next_purchase (customer ids), complements, similar (item ids)
    recs:events:<customer_id>        LIST    recent events, newest first, JSON; bounded length, with a TTL
    recs:experiment                  STRING  JSON: the live experiment (``serving.experiments``), if any; its
                                             challenger's version is published like any other, never active
    recs:catalog                     HASH    the live catalog (``serving.catalog_store``), independent of versions:
                                             item id -> JSON {in_stock?, price?, category?, name?, active?}
    recs:catalog:stamp               STRING  a counter, one more per catalog write (read with every request)
    recs:catalog:changes             ZSET    item id -> the stamp of its last change (processes read only those
                                             changed since the stamp they hold)

The feedback keys (the event log, answer records, attribution, KPIs) are laid out in ``serving.feedback.store``.

A publish writes a whole new version, then flips ``recs:active`` in one command: a reader never sees two
versions mixed, and a crash mid-publish leaves the old version serving. Old versions expire after a grace
period; unfinished ones are deleted by the next publish.

Packed entries: a little-endian array of ``ENTRY`` records (item index into that version's item table,
score, and one number for the reason: a complement's share of anchor buyers, a repeat item's interval in
days, or -1). Indices never leave the serving process: routes map them back to item ids.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

from recommender.request_time import ENTRY
from serving.redis_pipe import Address, RedisPipe

ACTIVE_KEY = "recs:active"
EXPERIMENT_KEY = "recs:experiment"
VERSIONS_KEY = "recs:versions"
EVENTS_PREFIX = "recs:events:"
CATALOG_KEY = "recs:catalog"
CATALOG_STAMP_KEY = "recs:catalog:stamp"
CATALOG_CHANGES_KEY = "recs:catalog:changes"

AsyncRedis = aioredis.Redis  # the asyncio client's type, for modules that take one (they never import redis)
SyncRedis = redis.Redis  # the synchronous client's type (commands, publish)
# What callers outside this module catch when Redis is down, slow or answers garbage (they never import redis).
RedisUnavailable = redis.RedisError


def connect_async(url: str, *, socket_timeout: float = 0.5, connect_timeout: float = 0.5) -> aioredis.Redis:
    """An asyncio client for the HTTP service: short timeouts and one immediate retry (a stale pooled
    connection after a Redis restart), so an outage turns into a fast fallback instead of a slow request."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), retries=1),
    )


def lean_pipe(url: str, *, connect_timeout: float = 0.5) -> RedisPipe | None:
    """The lean pipelined connection for the per-request read (``serving.redis_pipe``), or None where the
    URL needs redis-py's client (TLS, connection options)."""
    address = Address.of(url)
    return None if address is None else RedisPipe(address, connect_timeout=connect_timeout)


def connect_sync(url: str) -> redis.Redis:
    """A synchronous client for publish and the command line."""
    return redis.Redis.from_url(url)


def version_key(version: str, name: str) -> str:
    return f"recs:v:{version}:{name}"


def events_key(customer_id: str) -> str:
    return f"{EVENTS_PREFIX}{customer_id}"


# packing --------------------------------------------------------------------------------------------------
def pack_entries(items: np.ndarray, scores: np.ndarray, reasons: np.ndarray | None = None) -> bytes:
    """One list as bytes (padding, item < 0, is dropped)."""
    keep = np.asarray(items) >= 0
    out = np.empty(int(keep.sum()), dtype=ENTRY)
    out["item"] = np.asarray(items)[keep]
    out["score"] = np.asarray(scores)[keep]
    out["reason"] = -1.0 if reasons is None else np.asarray(reasons)[keep]
    return out.tobytes()


def pack_rows(items: np.ndarray, scores: np.ndarray, reasons: np.ndarray | None = None) -> list[bytes]:
    """Every row of (n, k) arrays as packed bytes, vectorized (one ``tobytes`` then slicing)."""
    items = np.asarray(items)
    n, k = items.shape
    table = np.empty((n, k), dtype=ENTRY)
    table["item"] = items
    table["score"] = scores
    table["reason"] = -1.0 if reasons is None else reasons
    lengths = (items >= 0).sum(axis=1)
    # rows are best first with padding at the end, so each row's valid part is a prefix
    raw = table.tobytes()
    width = k * ENTRY.itemsize
    return [raw[i * width : i * width + int(lengths[i]) * ENTRY.itemsize] for i in range(n)]


def unpack_entries(raw: bytes | None) -> np.ndarray:
    """Packed bytes -> structured array of ``ENTRY`` (empty for a missing value)."""
    if not raw:
        return np.zeros(0, dtype=ENTRY)
    return np.frombuffer(raw, dtype=ENTRY)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npz_arrays(raw: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


# the version's small, immutable tables, held in process ---------------------------------------------------
@dataclass(frozen=True)
class VersionTables:
    """What a serving process keeps in memory for the active version (immutable within a version)."""

    version: str
    meta: dict[str, Any]
    item_ids: np.ndarray  # str per item index
    item_index: dict[str, int]
    category: np.ndarray  # int32 per item, -1 unknown
    categories: list[str]
    in_stock: np.ndarray  # bool per item
    price: np.ndarray  # float32 per item (0: unknown)
    names: np.ndarray  # str per item ("" unknown)
    popular_items: np.ndarray  # int32, best first
    popular_scores: np.ndarray  # float32
    popular_by_category: dict[int, tuple[np.ndarray, np.ndarray]]
    category_repeat_rate: np.ndarray | None = None  # float32 per category, when publish stored it
    listed: np.ndarray | None = None  # bool per item, False: never shown (live catalog ``active=false``)
    published_items: int = -1  # items of the version itself; later indices are live catalog additions (-1: all)

    @classmethod
    def from_raw(cls, version: str, meta: bytes, items: bytes, catalog: bytes, popular: bytes) -> VersionTables:
        ids = np.asarray(json.loads(items), dtype=str)
        cat = npz_arrays(catalog)
        pop = npz_arrays(popular)
        by_cat: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        indptr = pop["category_indptr"]
        for c in range(len(indptr) - 1):
            lo, hi = int(indptr[c]), int(indptr[c + 1])
            by_cat[c] = (pop["category_items"][lo:hi], pop["category_scores"][lo:hi])
        return cls(
            version=version,
            meta=json.loads(meta),
            item_ids=ids,
            item_index={item: i for i, item in enumerate(ids.tolist())},
            category=cat["category"].astype(np.int32),
            categories=[str(c) for c in cat["categories"]],
            in_stock=cat["in_stock"].astype(bool),
            price=cat["price"].astype(np.float32) if "price" in cat else np.zeros(len(ids), dtype=np.float32),
            names=cat["name"].astype(str),
            popular_items=pop["items"].astype(np.int32),
            popular_scores=pop["scores"].astype(np.float32),
            popular_by_category=by_cat,
            category_repeat_rate=(
                cat["category_repeat_rate"].astype(np.float32) if "category_repeat_rate" in cat else None
            ),
        )

    def category_index(self, name: str) -> int:
        """Index of a category name, or -1."""
        try:
            return self.categories.index(name)
        except ValueError:
            return -1


class VersionIncompleteError(RuntimeError):
    """The named version lacks one of its tables (a publish that did not finish)."""


# reading (the service, asyncio) ---------------------------------------------------------------------------
# One customer's view in one command: the active version, the customer's list in the held version, the
# recent events, and the live experiment (a few hundred bytes at most; usually nil). A script rather than a
# pipeline of four commands: one request and one reply to encode and parse, which is most of what a read
# costs the service (redis-py's client work, not Redis's).
CUSTOMER_VIEW_SCRIPT = """
return {redis.call('GET', KEYS[1]), redis.call('HGET', KEYS[2], ARGV[1]),
        redis.call('LRANGE', KEYS[3], 0, %d), redis.call('GET', KEYS[4]), redis.call('GET', KEYS[5])}
"""  # %d: the number of events read, less one (fixed per reader: one argument fewer to send)


@dataclass(frozen=True)
class Script:
    """A Lua script run by its SHA1 (``EVALSHA``), sent again in full when Redis lost it (after a restart)."""

    source: bytes

    @functools.cached_property
    def sha(self) -> str:
        return hashlib.sha1(self.source).hexdigest()

    async def run(self, client: AsyncRedis, keys: Sequence[str], args: Sequence[bytes | str | int]) -> Any:
        try:
            return await client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.execute_command("EVAL", self.source, len(keys), *keys, *args)


class CacheReader:
    """Reads for the HTTP service; every method is one round trip (one command, a script or a pipeline)."""

    def __init__(self, client: aioredis.Redis, events: int = 50, pipe: RedisPipe | None = None) -> None:
        self.client = client
        self.pipe = pipe  # the lean pipelined connection for ``customer_view`` (None: the client's)
        self._view_script = (CUSTOMER_VIEW_SCRIPT % (events - 1)).encode()
        self._view_sha = hashlib.sha1(self._view_script).hexdigest()

    async def active_version(self) -> str | None:
        raw = await self.client.get(ACTIVE_KEY)
        return raw.decode() if raw else None

    async def pointers(self) -> tuple[str | None, bytes | None, bytes | None]:
        """(the active version, the live experiment as stored, the live catalog's stamp): one MGET."""
        active, experiment, stamp = await self.client.mget([ACTIVE_KEY, EXPERIMENT_KEY, CATALOG_STAMP_KEY])
        return (active.decode() if active else None), experiment, stamp

    async def load_tables(self, version: str) -> VersionTables:
        names = ("meta", "items", "catalog", "popular")
        values = await self.client.mget([version_key(version, n) for n in names])
        if any(v is None for v in values):
            missing = [n for n, v in zip(names, values, strict=True) if v is None]
            raise VersionIncompleteError(f"version {version} lacks {', '.join(missing)}")
        return VersionTables.from_raw(version, *values)

    async def customer_view(
        self, version: str, surface: str, customer_id: str
    ) -> tuple[str | None, bytes | None, list[bytes], bytes | None, bytes | None]:
        """(active version now, the customer's packed list, its ``events`` most recent events, newest first,
        the live experiment as stored, the live catalog's stamp): one EVALSHA (the script is loaded again when
        Redis lost it, after a restart)."""
        keys = (ACTIVE_KEY, version_key(version, surface), events_key(customer_id), EXPERIMENT_KEY, CATALOG_STAMP_KEY)
        send = self.client.execute_command if self.pipe is None else self.pipe.call
        try:
            reply = await send("EVALSHA", self._view_sha, 5, *keys, customer_id)
        except NoScriptError:
            reply = await send("EVAL", self._view_script, 5, *keys, customer_id)
        active, packed, recent, experiment, stamp = reply
        return (active.decode() if active else None), packed, list(recent), experiment, stamp

    async def item_lists(
        self, version: str, surface: str, item_ids: Sequence[str]
    ) -> tuple[str | None, list[bytes | None], bytes | None]:
        """(active version now, packed lists of the items, the live catalog's stamp): one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.get(ACTIVE_KEY)
            pipe.hmget(version_key(version, surface), list(item_ids))
            pipe.get(CATALOG_STAMP_KEY)
            active, packed, stamp = await pipe.execute()
        return (active.decode() if active else None), list(packed), stamp

    async def item_lists_of(
        self, version: str, wanted: Sequence[tuple[str, Sequence[str]]]
    ) -> list[list[bytes | None]]:
        """Packed lists of several (surface, item ids) pairs, one HMGET each, all in one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            for surface, item_ids in wanted:
                pipe.hmget(version_key(version, surface), list(item_ids))
            replies = await pipe.execute()
        return [list(reply) for reply in replies]

    async def ping(self) -> bool:
        return bool(await self.client.ping())


# writing (publish, synchronous) ---------------------------------------------------------------------------
def hset_command(key: bytes, fields: Sequence[str], values: Sequence[bytes]) -> bytes:
    """``HSET key field value ...`` in the Redis protocol (RESP), fields encoded as UTF-8."""
    head = b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n" % (2 + 2 * len(fields), len(key), key)
    body = [
        b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(value), value)
        for name, value in zip([field.encode() for field in fields], values, strict=True)
    ]
    return head + b"".join(body)


class VersionWriter:
    """Writes one new version through pipelines, then activates it atomically."""

    def __init__(self, client: redis.Redis, version: str, chunk: int = 5_000) -> None:
        self.client = client
        self.version = version
        self.chunk = chunk
        client.zadd(VERSIONS_KEY, {version: time.time()})

    def put_blob(self, name: str, value: bytes | str) -> None:
        self.client.set(version_key(self.version, name), value)

    def put_hash(self, surface: str, keys: Sequence[str], values: Sequence[bytes]) -> int:
        """Write ``keys[i] -> values[i]`` into the version's hash for ``surface``, ``chunk`` fields per HSET,
        every HSET of the call sent in one round trip.

        The commands are packed here (``hset_commands``, about 5x cheaper than redis-py's general packer,
        which was a third of a publish's Redis time) and sent on one of the client's pooled connections.
        Returns the number of fields written (distinct ``keys`` are assumed, as publish gives them).
        """
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values")
        if not keys:
            return 0
        key = version_key(self.version, surface).encode()
        commands = [
            hset_command(key, keys[start : start + self.chunk], values[start : start + self.chunk])
            for start in range(0, len(keys), self.chunk)
        ]
        pool = self.client.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_packed_command(commands)
            for _ in commands:  # an error reply raises here (ResponseError), after the others were sent
                connection.read_response()
        except BaseException:
            connection.disconnect()  # replies may be left unread: never hand this connection out again as is
            raise
        finally:
            pool.release(connection)
        return len(keys)

    def activate(self, grace_seconds: int) -> str | None:
        """Switch ``recs:active`` to this version (one atomic SET); the previous one expires after the grace.

        Returns the previous active version, if any.
        """
        previous = self.client.set(ACTIVE_KEY, self.version, get=True)
        previous_version = previous.decode() if previous else None
        if previous_version and previous_version != self.version:
            expire_version(self.client, previous_version, grace_seconds)
        return previous_version


def version_keys(client: redis.Redis, version: str) -> list[bytes]:
    return list(client.scan_iter(match=version_key(version, "*"), count=1000))


def expire_version(client: redis.Redis, version: str, seconds: int) -> None:
    keys = version_keys(client, version)
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.expire(key, seconds)
        pipe.execute()


def cleanup_versions(client: redis.Redis, keep: set[str], older_than: float) -> list[str]:
    """Delete versions not in ``keep`` that started before ``older_than`` (unfinished or superseded)."""
    removed: list[str] = []
    for raw, started in client.zrange(VERSIONS_KEY, 0, -1, withscores=True):
        version = raw.decode()
        if version in keep or started >= older_than:
            continue
        keys = version_keys(client, version)
        if keys:
            client.delete(*keys)
        client.zrem(VERSIONS_KEY, version)
        removed.append(version)
    return removed
