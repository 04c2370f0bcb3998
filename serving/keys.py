"""Every Redis key the project writes, on one node and on a Redis Cluster (``RECS_REDIS_CLUSTER=true``).

On a single node (``SINGLE``):

    recs:active                      STRING  the active version id
    recs:versions                    ZSET    version id -> publish start time (for cleanup)
    recs:v:<version>:meta            STRING  JSON: model name/version, counts, window days, published_at
    recs:v:<version>:items           STRING  JSON list of item ids (index i = packed item i)
    recs:v:<version>:catalog         STRING  npz bytes: category per item, in_stock, price, names, categories
    recs:v:<version>:popular         STRING  npz bytes: overall list + per-category lists
    recs:v:<version>:<surface>       HASH    external id -> packed entries, for surfaces
                                             for_you, next_purchase (customer ids), complements, similar (item ids)
    recs:events:<customer_id>        LIST    recent events, newest first, JSON; bounded length, with a TTL
    recs:experiment                  STRING  JSON: the live experiment (``serving.experiments``), if any
    recs:catalog                     HASH    the live catalog (``serving.catalog_store``): item id -> JSON
    recs:catalog:stamp               STRING  a counter, one more per catalog write (read with every request)
    recs:catalog:changes             ZSET    item id -> the stamp of its last change
    recs:rules, recs:rules:version   HASH, STRING  merchandising rules (``serving.rules_store``)
    recs:log, recs:ans:*, recs:kpi:*, recs:xp:*, recs:touch:*, recs:line:*, recs:cart:*
                                             the feedback keys (``serving.feedback.store``)

On a cluster (``CLUSTER``) the same keys carry hash tags (the part in braces is all Redis hashes to pick
a slot), so that every multi-key read and script stays in one slot:

- the *shared slot* ``{recs}``: every key above but the lists and the recent events, its ``recs:`` prefix
  written ``{recs}:`` (``{recs}:active``, ``{recs}:v:<version>:meta``, ``{recs}:log``, ...): the pointers
  (active version, experiment, catalog stamp: one MGET), a version's small tables (one MGET), the live
  catalog, the rules and every feedback script's keys;
- *list buckets*: each surface's hash is split in ``LIST_BUCKETS`` hashes by a stable hash of the id,
  ``recs:v:<version>:<surface>:{<b>}``, and a customer's recent events live in the bucket of the customer,
  ``recs:events:{<b>}:<customer_id>``: a customer's list and events are read by one script in one slot, and
  the lists (most of the memory) spread over every shard.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

from recommender.vocabulary import LIST_SURFACES

LIST_BUCKETS = 256  # hashes per surface and version on a cluster (several per shard: they spread evenly)
BLOBS = ("meta", "items", "catalog", "popular")  # a version's small tables (meta is written last)


def bucket(identifier: str) -> int:
    """The list bucket of a customer or item id on a cluster (stable across processes and releases)."""
    return zlib.crc32(identifier.encode()) % LIST_BUCKETS


@dataclass(frozen=True)
class Keys:
    """The key names of one layout: ``SINGLE`` (one Redis node) or ``CLUSTER`` (hash tags, bucketed lists)."""

    cluster: bool

    @functools.cached_property
    def prefix(self) -> str:
        """The prefix of every key outside the list buckets (``{recs}:`` on a cluster: the shared slot)."""
        return "{recs}:" if self.cluster else "recs:"

    def shared(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @functools.cached_property
    def active(self) -> str:
        return self.shared("active")

    @functools.cached_property
    def experiment(self) -> str:
        return self.shared("experiment")

    @functools.cached_property
    def versions(self) -> str:
        return self.shared("versions")

    @functools.cached_property
    def catalog(self) -> str:
        return self.shared("catalog")

    @functools.cached_property
    def catalog_stamp(self) -> str:
        return self.shared("catalog:stamp")

    @functools.cached_property
    def catalog_changes(self) -> str:
        return self.shared("catalog:changes")

    @functools.cached_property
    def log(self) -> str:
        return self.shared("log")

    def blob(self, version: str, name: str) -> str:
        """A version's table (``BLOBS``); on one node also a whole surface's hash."""
        return f"{self.prefix}v:{version}:{name}"

    def list_key(self, version: str, surface: str, identifier: str) -> str:
        """The hash holding ``identifier``'s list of ``surface`` in ``version``."""
        if not self.cluster:
            return f"recs:v:{version}:{surface}"
        return f"recs:v:{version}:{surface}:{{{bucket(identifier)}}}"

    def bucket_key(self, version: str, surface: str, number: int) -> str:
        """A cluster's list bucket ``number`` of ``surface`` in ``version``."""
        return f"recs:v:{version}:{surface}:{{{number}}}"

    def events(self, customer_id: str) -> str:
        """A customer's recent events (in the customer's list bucket on a cluster)."""
        if not self.cluster:
            return f"recs:events:{customer_id}"
        return f"recs:events:{{{bucket(customer_id)}}}:{customer_id}"

    def version_keys(self, version: str) -> list[str]:
        """Every key a version may have on a cluster (its tables and every list bucket; absent ones too)."""
        lists = [self.bucket_key(version, s, b) for s in LIST_SURFACES for b in range(LIST_BUCKETS)]
        return [self.blob(version, name) for name in BLOBS] + lists


SINGLE = Keys(cluster=False)
CLUSTER = Keys(cluster=True)
