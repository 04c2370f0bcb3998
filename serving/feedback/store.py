"""The feedback keys in Redis and the two Lua scripts that write them, each in one round trip per batch.

Layout (next to ``serving.cache``'s published lists; ``<n>:`` is the byte length of the id that follows, so
that no two (customer, item) pairs share a key whatever characters their ids hold):

    recs:log                                  STREAM  every accepted event, field ``e``: the event as JSON;
                                                      trimmed by length (MAXLEN ~) and age (MINID ~)
    recs:ans:<recommendation_id>              HASH    an answer's record: " s" surface, " v" model version,
                                                      " c" customer, " t" time, then item id -> position
                                                      (1-based); ids never start with a space). TTL
    recs:touch:<n>:<customer>:<item>          STRING  the customer's last click on the item from an answer:
                                                      "surface US model_version US time"; TTL = the window
    recs:line:<n>:<order_id>:<item>           STRING  an order line already attributed; TTL = the window
    recs:cart:<customer>                      STRING  when the customer's open cart opened (Unix seconds)
    recs:kpi:<hour>                           HASH    the hour's counters (hour = Unix seconds // 3600):
                                                      "surface US version US metric" and "funnel US metric"
    recs:xp:<experiment>:<variant>:<metric>   HASH    an experiment's counters per customer: customer ->
                                                      answers, impressions, clicks, purchases (attributed
                                                      order lines) or revenue_cents; TTL = the KPIs'

An answer given in an experiment records ``" x"`` = ``"<experiment>:<variant>"``; the touch of a click on it
carries the same after its time, so the purchases it leads to are credited to the variant too.

On a Redis Cluster every key above carries the shared slot's hash tag, ``{recs}:`` in place of ``recs:``
(``serving.keys``), so that each script stays in one slot; the customers' recent events
(``recs:events:{<bucket>}:<customer>``, in the customer's list bucket) are then written after the script,
with one pipeline, and a shard that is down loses them (logged), never the log or the counters.

US is the unit separator, ``\\x1f`` (surfaces, metrics and version labels never hold it). Every counter is
an integer (revenue in cents), so sums are exact. The scripts do O(1) work per event or answer: a handful of
commands on keys named by it, never a scan. What they count is in ``docs/feedback.md``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from serving.cache import AsyncRedis, RedisUnavailable, Script, keys_of
from serving.keys import SINGLE, Keys

log = logging.getLogger(__name__)

US = "\x1f"
LOG_KEY = "recs:log"
FUNNEL = "funnel"
HOUR = 3600

# KEYS[1]: the log (where a cluster client sends the script; the others are built here, in its slot).
# ARGV: events_max, events_ttl, log max length, log min id ("" for none), window, kpi ttl, then the events
EVENTS_SCRIPT = Script(
    b"""
local events_max, events_ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local log_max, log_min_id = ARGV[3], ARGV[4]
local window, kpi_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local US = '\\31'
local touched, counted = {}, {}
local function bump(at, field, by)
  local key = 'recs:kpi:' .. math.floor(at / 3600)
  redis.call('HINCRBY', key, field, by)
  touched[key] = true
end
local function credit(at, s, v, metric, by)
  local field = s .. US .. v .. US .. metric
  bump(at, field, by)
  counted[#counted + 1] = field
  counted[#counted + 1] = by
end
local function text(x) if type(x) == 'string' then return x end return nil end
local function pair_key(prefix, a, b) return prefix .. #a .. ':' .. a .. ':' .. b end
local function funnel(at, metric) bump(at, 'funnel' .. US .. metric, 1) end
local function per_customer(x, metric, customer, by)
  if x and x ~= '' then
    local key = 'recs:xp:' .. x .. ':' .. metric
    redis.call('HINCRBY', key, customer, by)
    redis.call('EXPIRE', key, kpi_ttl)
  end
end

for i = 7, #ARGV do
  local raw = ARGV[i]
  local e = cjson.decode(raw)
  local c, kind, at, items = e.customer_id, e.type, tonumber(e.at), e.item_ids
  redis.call('XADD', 'recs:log', 'MAXLEN', '~', log_max, '*', 'e', raw)
  if kind ~= 'impression' then
    local k = 'recs:events:' .. c
    redis.call('LPUSH', k, raw)
    redis.call('LTRIM', k, 0, events_max - 1)
    redis.call('EXPIRE', k, events_ttl)
  end
  local rid = text(e.recommendation_id)
  local answer = rid and ('recs:ans:' .. rid)
  if kind == 'impression' then
    if answer then
      local sv = redis.call('HMGET', answer, ' s', ' v', ' x')
      if sv[1] then
        credit(at, sv[1], sv[2], 'impressions', 1)
        per_customer(sv[3], 'impressions', c, 1)
      end
    end
  elseif kind == 'click' then
    funnel(at, 'clicks')
    if answer then
      local shown = redis.call('HMGET', answer, ' s', ' v', ' x', unpack(items))
      if shown[1] then
        local n = 0
        local touch = shown[1] .. US .. shown[2] .. US .. string.format('%d', at) .. US .. (shown[3] or '')
        for j = 1, #items do
          if shown[j + 3] then
            n = n + 1
            redis.call('SET', pair_key('recs:touch:', c, items[j]), touch, 'EX', window)
          end
        end
        if n > 0 then
          credit(at, shown[1], shown[2], 'clicks', n)
          per_customer(shown[3], 'clicks', c, n)
        end
      end
    end
  elseif kind == 'view' then
    funnel(at, 'views')
  elseif kind == 'remove_from_cart' then
    funnel(at, 'remove_from_carts')
  elseif kind == 'add_to_cart' then
    funnel(at, 'add_to_carts')
    local cart = 'recs:cart:' .. c
    local opened = tonumber(redis.call('GET', cart))
    if not opened or at - opened > window then
      redis.call('SET', cart, string.format('%d', at), 'EX', window + 3600)
      funnel(at, 'carts')
    end
  elseif kind == 'purchase' then
    funnel(at, 'purchases')
    local cart = 'recs:cart:' .. c
    local opened = tonumber(redis.call('GET', cart))
    if opened and at >= opened and at - opened <= window then
      redis.call('DEL', cart)
      funnel(opened, 'converted_carts')
    end
    local shown = false
    if answer then shown = redis.call('HMGET', answer, ' s', ' v', ' x', unpack(items)) end
    local order, cents = text(e.order_id), e.line_cents
    for j = 1, #items do
      local s, v, x = nil, nil, nil
      if shown and shown[1] and shown[j + 3] then
        s, v, x = shown[1], shown[2], shown[3]
      else
        local touch = redis.call('GET', pair_key('recs:touch:', c, items[j]))
        if touch then
          local ts, tv, tat, tx = string.match(touch, '^(.-)\\31(.-)\\31(%-?%d+)\\31?(.*)$')
          tat = tonumber(tat)
          if tat and at >= tat and at - tat <= window then s, v, x = ts, tv, tx end
        end
      end
      if s and (not order or redis.call('SET', pair_key('recs:line:', order, items[j]), 1, 'NX', 'EX', window)) then
        credit(at, s, v, 'attributed_purchases', 1)
        credit(at, s, v, 'attributed_revenue_cents', cents[j])
        per_customer(x, 'purchases', c, 1)
        per_customer(x, 'revenue_cents', c, cents[j])
      end
    end
  end
end
for key in pairs(touched) do redis.call('EXPIRE', key, kpi_ttl) end
if log_min_id ~= '' then redis.call('XTRIM', 'recs:log', 'MINID', '~', log_min_id) end
return counted
"""
)

# KEYS[1]: the log (routing only). ARGV: answer ttl, kpi ttl, n, then n triples (hour, field, count), then
# the answers as JSON arrays [recommendation_id, surface, model_version, customer, time, [item ids]] and, in an
# experiment, "<experiment>:<variant>" last
ANSWERS_SCRIPT = Script(
    b"""
local ttl, kpi_ttl, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local i = 4
for _ = 1, n do
  local key = 'recs:kpi:' .. ARGV[i]
  redis.call('HINCRBY', key, ARGV[i + 1], ARGV[i + 2])
  redis.call('EXPIRE', key, kpi_ttl)
  i = i + 3
end
for j = i, #ARGV do
  local a = cjson.decode(ARGV[j])
  local items = a[6]
  if #items > 0 then
    local args = {' s', a[2], ' v', a[3], ' c', a[4], ' t', a[5]}
    for p = 1, #items do
      args[#args + 1] = items[p]
      args[#args + 1] = p
    end
    if a[7] then
      args[#args + 1] = ' x'
      args[#args + 1] = a[7]
      local exposed = 'recs:xp:' .. a[7] .. ':answers'
      redis.call('HINCRBY', exposed, a[4], 1)
      redis.call('EXPIRE', exposed, kpi_ttl)
    end
    local key = 'recs:ans:' .. a[1]
    redis.call('HSET', key, unpack(args))
    redis.call('EXPIRE', key, ttl)
  end
end
return n
"""
)


RECENT_EVENTS_LUA = b"""  if kind ~= 'impression' then
    local k = 'recs:events:' .. c
    redis.call('LPUSH', k, raw)
    redis.call('LTRIM', k, 0, events_max - 1)
    redis.call('EXPIRE', k, events_ttl)
  end
"""  # the recent events' part of EVENTS_SCRIPT: in another slot on a cluster, written after the script there


def cluster_script(script: Script) -> Script:
    """``script`` for a cluster: its keys in the shared slot, without the recent events (other slots)."""
    if script is EVENTS_SCRIPT and RECENT_EVENTS_LUA not in script.source:
        raise AssertionError("EVENTS_SCRIPT lost its recent events' part")
    return Script(script.source.replace(RECENT_EVENTS_LUA, b"").replace(b"'recs:", b"'{recs}:"))


@dataclass(frozen=True)
class Retention:
    """How long each feedback key lives, and the attribution window (seconds unless said)."""

    events_max: int  # a customer's recent events kept
    events_ttl: int
    log_max_length: int
    log_max_age: int
    window: int  # attribution window after a click, and a cart's life
    kpi_ttl: int
    answer_ttl: int


@dataclass(frozen=True)
class Credit:
    """What one event batch added to a surface's counters (for the process's Prometheus counters)."""

    surface: str
    model_version: str
    metric: str  # impressions, clicks, attributed_purchases, attributed_revenue_cents
    amount: int


EXPERIMENT_METRICS = ("answers", "impressions", "clicks", "purchases", "revenue_cents")


def experiment_key(experiment: str, variant: str, metric: str, keys: Keys = SINGLE) -> str:
    """The hash of an experiment's per-customer counters of ``metric`` in ``variant``."""
    return keys.shared(f"xp:{experiment}:{variant}:{metric}")


def kpi_key(hour: int, keys: Keys = SINGLE) -> str:
    """The hash of an hour's KPI counters."""
    return keys.shared(f"kpi:{hour}")


def scripts_of(client: AsyncRedis) -> tuple[Script, Script]:
    """(the events script, the answers script) for ``client``'s Redis (a node's or a cluster's)."""
    if not keys_of(client).cluster:
        return EVENTS_SCRIPT, ANSWERS_SCRIPT
    return CLUSTER_SCRIPTS


def kpi_field(surface: str, model_version: str, metric: str) -> str:
    return f"{surface}{US}{model_version}{US}{metric}"


async def write_events(client: AsyncRedis, events: Sequence[bytes], keep: Retention, now: float) -> list[Credit]:
    """Store events (JSON, oldest first; see ``serving.feedback.ingest``) in one script call: the log, the
    customers' recent events, attribution and the KPIs. Returns what was credited to surfaces."""
    min_id = f"{max(0, int((now - keep.log_max_age) * 1000))}-0"
    args: list[bytes | str | int] = [
        keep.events_max,
        keep.events_ttl,
        keep.log_max_length,
        min_id,
        keep.window,
        keep.kpi_ttl,
        *events,
    ]
    keys = keys_of(client)
    reply = await scripts_of(client)[0].run(client, (keys.log,), args)
    if keys.cluster:
        await push_recent(client, keys, events, keep)
    credits = []
    for field, amount in zip(reply[::2], reply[1::2], strict=True):
        surface, version, metric = field.decode().split(US)
        credits.append(Credit(surface, version, metric, int(amount)))
    return credits


async def write_answers(
    client: AsyncRedis, answers: Sequence[bytes], counts: Mapping[tuple[int, str], int], keep: Retention
) -> None:
    """Store answer records (JSON arrays, see ``serving.feedback.answers``) and add ``counts`` ((hour, field)
    -> n) to the KPIs, in one script call."""
    args: list[bytes | str | int] = [keep.answer_ttl, keep.kpi_ttl, len(counts)]
    for (hour, field), n in counts.items():
        args.extend((hour, field, n))
    args.extend(answers)
    await scripts_of(client)[1].run(client, (keys_of(client).log,), args)


async def push_recent(client: AsyncRedis, keys: Keys, events: Sequence[bytes], keep: Retention) -> None:
    """A cluster's recent events (every event but impressions, newest first per customer), one pipeline over
    the shards after the script; a shard that fails loses its customers' events, logged, not raised (the log
    and the counters are written: raising would count the batch again when it is retried)."""
    async with client.pipeline(transaction=False) as pipe:
        for raw in events:
            event = json.loads(raw)
            if event.get("type") != "impression":
                key = keys.events(str(event["customer_id"]))
                pipe.lpush(key, raw)
                pipe.ltrim(key, 0, keep.events_max - 1)
                pipe.expire(key, keep.events_ttl)
        try:
            await pipe.execute()
        except RedisUnavailable as exc:
            log.warning("recent events of %d events not all stored (a shard failed): %s", len(events), exc)


async def read_hours(client: AsyncRedis, hours: Sequence[int]) -> list[dict[str, int]]:
    """The KPI counters of each hour (one pipeline of HGETALL); an hour without traffic is ``{}``."""
    async with client.pipeline(transaction=False) as pipe:
        for hour in hours:
            pipe.hgetall(kpi_key(hour, keys_of(client)))
        replies: list[dict[bytes, bytes]] = await pipe.execute()
    return [hour_counters(reply) for reply in replies]


def hour_counters(reply: Mapping[bytes, bytes]) -> dict[str, int]:
    """An hour's KPI hash as Redis returns it (HGETALL), as field -> count."""
    return {k.decode(): int(v) for k, v in reply.items()}


async def log_length(client: AsyncRedis) -> int:
    """How many events the log holds now."""
    return int(await client.xlen(keys_of(client).log))


def parse_fields(counters: Mapping[str, int]) -> tuple[dict[tuple[str, str, str], int], dict[str, int]]:
    """An hour's counters as ({(surface, model_version, metric): n}, {funnel metric: n})."""
    surfaces: dict[tuple[str, str, str], int] = {}
    funnel: dict[str, int] = {}
    for field, n in counters.items():
        parts = field.split(US)
        if len(parts) == 2 and parts[0] == FUNNEL:
            funnel[parts[1]] = n
        elif len(parts) == 3:
            surfaces[(parts[0], parts[1], parts[2])] = n
    return surfaces, funnel


CLUSTER_SCRIPTS = (cluster_script(EVENTS_SCRIPT), cluster_script(ANSWERS_SCRIPT))
