"""Redis clients and the service's reads of published recommendations, and their packing. Imports redis.

The key layout, on one node and on a Redis Cluster, is ``serving.keys`` (``keys_of(client)`` picks the one
of a client); the feedback keys are described in ``serving.feedback.store``. On a cluster, the clients are
redis-py's cluster clients (``connect_async``/``connect_sync`` with ``cluster=True``), a customer's read is
two commands sent at once (its list and events in the customer's slot, the pointers in the shared slot),
and publish writes each shard's list buckets in parallel (docs/operations.md, "Redis Cluster").

A publish (``serving.version_writer``) writes a whole new version, then flips ``recs:active`` in one command
(one key, on a cluster too): a reader never sees two versions mixed, and a crash mid-publish leaves the old
version serving. Old versions expire after a grace period; unfinished ones are deleted by the next publish.

Packed entries: a little-endian array of ``ENTRY`` records (item index into that version's item table,
score, and one number for the reason: a complement's share of anchor buyers, a repeat item's interval in
days, or -1). Indices never leave the serving process: routes map them back to item ids.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisClusterException
from redis.retry import Retry

from recommender.request_time import ENTRY
from serving.keys import CLUSTER, SINGLE, Keys
from serving.redis_pipe import Address, RedisPipe

# the single-node names (tests and tools read them); a cluster's are ``serving.keys.CLUSTER``'s
ACTIVE_KEY = SINGLE.active
EXPERIMENT_KEY = SINGLE.experiment
VERSIONS_KEY = SINGLE.versions
CATALOG_KEY = SINGLE.catalog
CATALOG_STAMP_KEY = SINGLE.catalog_stamp
CATALOG_CHANGES_KEY = SINGLE.catalog_changes

# the clients' types, for modules that take one (they never import redis): a node's or a cluster's
AsyncRedis = aioredis.Redis | aiocluster.RedisCluster
SyncRedis = redis.Redis | redis.cluster.RedisCluster
# What callers outside this module catch when Redis is down, slow or answers garbage (they never import redis):
# a cluster client raises RedisClusterException (not a RedisError) when no node serves a slot.
RedisUnavailable = (redis.RedisError, RedisClusterException)


def connect_async(
    url: str, *, socket_timeout: float = 0.5, connect_timeout: float = 0.5, cluster: bool = False
) -> AsyncRedis:
    """An asyncio client for the HTTP service: short timeouts and one immediate retry (a stale pooled
    connection after a Redis restart), so an outage turns into a fast fallback instead of a slow request.
    With ``cluster``, ``url`` names one node of a Redis Cluster and the client finds the others."""
    if cluster:
        return aiocluster.RedisCluster.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=AsyncRetry(NoBackoff(), retries=1),
            max_connections=2**31,  # per node, as a node's client: its default (100) refuses a burst, as fallbacks
        )
    return aioredis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=AsyncRetry(NoBackoff(), retries=1),
    )


def lean_pipe(url: str, *, connect_timeout: float = 0.5, cluster: bool = False) -> RedisPipe | None:
    """The lean pipelined connection for the per-request read (``serving.redis_pipe``), or None where the
    URL needs redis-py's client (a cluster, TLS, connection options)."""
    address = None if cluster else Address.of(url)
    return None if address is None else RedisPipe(address, connect_timeout=connect_timeout)


def connect_sync(url: str, *, cluster: bool | None = None) -> SyncRedis:
    """A synchronous client for publish and the command line (a cluster's, with ``cluster``; None: as
    ``RECS_REDIS_CLUSTER`` says, read through ``ServingSettings`` when the command connects)."""
    if cluster is None:
        from serving.settings import ServingSettings

        cluster = ServingSettings().redis_cluster
    if cluster:
        return redis.cluster.RedisCluster.from_url(url, retry=Retry(NoBackoff(), retries=1))
    return redis.Redis.from_url(url)


def keys_of(client: AsyncRedis | SyncRedis) -> Keys:
    """The key layout of ``client``'s Redis: ``CLUSTER`` for a cluster client, else ``SINGLE``."""
    return CLUSTER if isinstance(client, (aiocluster.RedisCluster, redis.cluster.RedisCluster)) else SINGLE


def version_key(version: str, name: str) -> str:
    """A version's key on a single node (a table, or a surface's whole hash)."""
    return SINGLE.blob(version, name)


def events_key(customer_id: str) -> str:
    """A customer's recent events on a single node."""
    return SINGLE.events(customer_id)


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


# a cluster's customer read: the list and the recent events, both in the customer's list bucket (one slot)
CUSTOMER_LISTS_SCRIPT = """
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('LRANGE', KEYS[2], 0, %d)}
"""


class CacheReader:
    """Reads for the HTTP service; every method is one round trip (one command, a script or a pipeline; on a
    cluster, the commands of one read are sent at once, one per slot)."""

    def __init__(self, client: AsyncRedis, events: int = 50, pipe: RedisPipe | None = None) -> None:
        self.client = client
        self.keys = keys_of(client)
        # the lean pipelined connection for a single node's customer read (None: the client's)
        self.pipe = None if self.keys.cluster else pipe
        source = CUSTOMER_LISTS_SCRIPT if self.keys.cluster else CUSTOMER_VIEW_SCRIPT
        self._view_script = (source % (events - 1)).encode()
        self._view_sha = hashlib.sha1(self._view_script).hexdigest()
        self._pointer_keys = (self.keys.active, self.keys.experiment, self.keys.catalog_stamp)

    async def active_version(self) -> str | None:
        raw = await self.client.get(self.keys.active)
        return raw.decode() if raw else None

    async def pointers(self) -> tuple[str | None, bytes | None, bytes | None]:
        """(the active version, the live experiment as stored, the live catalog's stamp): one MGET (one slot)."""
        keys = self.keys
        active, experiment, stamp = await self.client.mget([keys.active, keys.experiment, keys.catalog_stamp])
        return (active.decode() if active else None), experiment, stamp

    async def load_tables(self, version: str) -> VersionTables:
        names = ("meta", "items", "catalog", "popular")
        values = await self.client.mget([self.keys.blob(version, n) for n in names])
        if any(v is None for v in values):
            missing = [n for n, v in zip(names, values, strict=True) if v is None]
            raise VersionIncompleteError(f"version {version} lacks {', '.join(missing)}")
        return VersionTables.from_raw(version, *values)

    async def _eval_view(self, keys: Sequence[str], customer_id: str) -> Any:
        send = self.client.execute_command if self.pipe is None else self.pipe.call
        try:
            return await send("EVALSHA", self._view_sha, len(keys), *keys, customer_id)
        except NoScriptError:
            return await send("EVAL", self._view_script, len(keys), *keys, customer_id)

    async def _nodes_view(self, lists: Sequence[str], customer_id: str) -> tuple[Any, Any]:
        """A cluster's customer read sent straight to the two nodes that serve its slots, by the slot table the
        client holds (half the client work of the cluster client's routing, which checks each command's keys
        and retries); any error, MOVED included, is left to the caller, which sends it the client's way."""
        client: Any = self.client
        view = client.get_node_from_key(lists[0]).execute_command(
            "EVALSHA", self._view_sha, len(lists), *lists, customer_id
        )
        pointers = client.get_node_from_key(self._pointer_keys[0]).execute_command("MGET", *self._pointer_keys)
        return await asyncio.gather(view, pointers)

    async def customer_view(
        self, version: str, surface: str, customer_id: str
    ) -> tuple[str | None, bytes | None, list[bytes], bytes | None, bytes | None]:
        """(active version now, the customer's packed list, its ``events`` most recent events, newest first,
        the live experiment as stored, the live catalog's stamp): one EVALSHA (the script is loaded again when
        Redis lost it, after a restart); on a cluster, the script on the customer's slot and the pointers'
        MGET on the shared slot, sent at once."""
        keys = self.keys
        lists = (keys.list_key(version, surface, customer_id), keys.events(customer_id))
        if keys.cluster:
            try:
                (packed, recent), (active, experiment, stamp) = await self._nodes_view(lists, customer_id)
            except (*RedisUnavailable, AttributeError):  # a moved slot, a lost script, a node down: the client's way
                (packed, recent), (active, experiment, stamp) = await asyncio.gather(
                    self._eval_view(lists, customer_id), self.client.mget(self._pointer_keys)
                )
            return (active.decode() if active else None), packed, list(recent), experiment, stamp
        reply = await self._eval_view((keys.active, *lists, keys.experiment, keys.catalog_stamp), customer_id)
        active, packed, recent, experiment, stamp = reply
        return (active.decode() if active else None), packed, list(recent), experiment, stamp

    async def item_lists(
        self, version: str, surface: str, item_ids: Sequence[str]
    ) -> tuple[str | None, list[bytes | None], bytes | None]:
        """(active version now, packed lists of the items, the live catalog's stamp): one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.active)
            groups = self._hmget(pipe, version, surface, item_ids)
            pipe.get(self.keys.catalog_stamp)
            replies = await pipe.execute()
        active, stamp = replies[0], replies[-1]
        return (active.decode() if active else None), ungroup(groups, replies[1:-1], len(item_ids)), stamp

    async def item_lists_of(
        self, version: str, wanted: Sequence[tuple[str, Sequence[str]]]
    ) -> list[list[bytes | None]]:
        """Packed lists of several (surface, item ids) pairs, one HMGET each (per bucket on a cluster), all in
        one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            grouped = [self._hmget(pipe, version, surface, item_ids) for surface, item_ids in wanted]
            replies = await pipe.execute()
        out: list[list[bytes | None]] = []
        at = 0
        for groups, (_, item_ids) in zip(grouped, wanted, strict=True):
            out.append(ungroup(groups, replies[at : at + len(groups)], len(item_ids)))
            at += len(groups)
        return out

    def _hmget(self, pipe: Any, version: str, surface: str, item_ids: Sequence[str]) -> list[Sequence[int]]:
        """Queue the HMGETs of ``item_ids`` on ``pipe`` (one per hash holding them); the positions of each."""
        if not self.keys.cluster:  # one hash per surface
            pipe.hmget(self.keys.list_key(version, surface, ""), list(item_ids))
            return [range(len(item_ids))]
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(item_ids):
            groups.setdefault(self.keys.list_key(version, surface, item), []).append(i)
        for key, positions in groups.items():
            pipe.hmget(key, [item_ids[i] for i in positions])
        return list(groups.values())

    async def ping(self) -> bool:
        return bool(await self.client.ping())


def ungroup(groups: Sequence[Sequence[int]], replies: Sequence[Sequence[bytes | None]], n: int) -> list[bytes | None]:
    """HMGET replies of ``groups`` (positions in the asked order) back in the asked order."""
    if len(groups) == 1:
        return list(replies[0])
    out: list[bytes | None] = [None] * n
    for positions, reply in zip(groups, replies, strict=True):
        for i, value in zip(positions, reply, strict=True):
            out[i] = value
    return out
