"""The live catalog in Redis: writes (``PUT /v1/items``, ``recs catalog push``) and the reads of changes.

Keys (see ``serving.cache``'s layout): ``recs:catalog`` (item id -> JSON of the fields given so far),
``recs:catalog:stamp`` (one more per write) and ``recs:catalog:changes`` (item id -> stamp of its last
change). A write merges each record's given fields into the stored ones, bumps the stamp and marks the
items changed, in one script: a reader never sees half a write. Every request's Redis read also returns the
stamp; a serving process holding an older one reads the items changed since (``read_changes``) and applies
them to its tables (``serving.catalog_overlay``), so the next answer reflects the write.

The records are independent of the published versions: they apply to whichever version is active, and to a
new one when it is published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from serving.cache import AsyncRedis, SyncRedis, keys_of

FIELDS = ("in_stock", "price", "category", "name", "active")  # what a record may set, besides item_id

# ARGV: item id, JSON of its fields, item id, ... -> the new stamp
WRITE_SCRIPT = """
local stamp = redis.call('INCR', KEYS[2])
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  local record = {}
  local old = redis.call('HGET', KEYS[1], id)
  if old then record = cjson.decode(old) end
  for name, value in pairs(cjson.decode(ARGV[i + 1])) do record[name] = value end
  if next(record) == nil then
    redis.call('HSET', KEYS[1], id, '{}')
  else
    redis.call('HSET', KEYS[1], id, cjson.encode(record))
  end
  redis.call('ZADD', KEYS[3], stamp, id)
end
return stamp
"""

# ARGV[1]: the stamp held ('' for none: every record) -> {stamp, {id, record, id, record, ...}}
CHANGES_SCRIPT = """
local stamp = redis.call('GET', KEYS[2])
if ARGV[1] == '' then return {stamp, redis.call('HGETALL', KEYS[1])} end
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf')) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[1], id) or '{}'
end
return {stamp, out}
"""


def catalog_keys(client: AsyncRedis | SyncRedis) -> tuple[str, str, str]:
    """The scripts' KEYS: the records, the stamp, the changes (one slot on a cluster: the shared one)."""
    keys = keys_of(client)
    return keys.catalog, keys.catalog_stamp, keys.catalog_changes


@dataclass(frozen=True)
class Changes:
    """Records read from Redis: the stamp they are as of, and each changed item's whole record."""

    stamp: int
    records: dict[str, dict[str, Any]]
    full: bool  # every record (not only changes since a stamp)


def stamp_of(raw: bytes | None) -> int:
    """The stamp as stored (0: no write yet)."""
    return int(raw) if raw else 0


def write_args(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The write script's arguments: for each record, its item id and the JSON of its other given fields."""
    args: list[str] = []
    for record in records:
        fields = {name: record[name] for name in FIELDS if record.get(name) is not None}
        args += [str(record["item_id"]), json.dumps(fields, separators=(",", ":"))]
    return args


async def write_items(client: AsyncRedis, records: Sequence[Mapping[str, Any]]) -> int:
    """Merge ``records`` (``item_id`` and any of ``FIELDS``; None: not given) into the live catalog; the new stamp."""
    return int(await client.eval(WRITE_SCRIPT, 3, *catalog_keys(client), *write_args(records)))


def write_items_sync(client: SyncRedis, records: Sequence[Mapping[str, Any]], chunk: int = 1000) -> int:
    """``write_items`` for commands (synchronous client), ``chunk`` records per script call; the last stamp."""
    stamp = 0
    for start in range(0, len(records), chunk):
        part = records[start : start + chunk]
        stamp = int(client.eval(WRITE_SCRIPT, 3, *catalog_keys(client), *write_args(part)))  # type: ignore[arg-type]
    return stamp


async def read_changes(client: AsyncRedis, since: int | None) -> Changes:
    """The records changed after stamp ``since`` (None: every record), with the stamp they are as of."""
    keys = catalog_keys(client)
    raw_stamp, flat = await client.eval(CHANGES_SCRIPT, 3, *keys, "" if since is None else str(since))
    records: dict[str, dict[str, Any]] = {}
    for i in range(0, len(flat), 2):
        try:
            record = json.loads(flat[i + 1])
        except ValueError:
            record = {}
        records[flat[i].decode()] = record if isinstance(record, dict) else {}
    return Changes(stamp_of(raw_stamp), records, since is None)
