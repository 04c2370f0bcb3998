"""Merchandising rules in Redis, and the copy a serving process holds (``HeldRules``).

Layout:

    recs:rules           HASH    rule_id -> the rule as JSON (``recommender.request_time.rules.Rule``)
    recs:rules:version   STRING  a counter, incremented by every change (add, replace, delete)

On a Redis Cluster both keys carry the shared slot's tag (``{recs}:rules``, ``serving.keys``). Each change
is one Lua script (the hash and the counter move together). A serving process holds the rules
in memory and looks at the counter at most every ``RECS_VERSION_CHECK_SECONDS``, with one script that
returns the counter, and the whole hash only when the counter moved: at most one extra Redis read per
request, none on most. Rules that no longer parse (written by a newer release, or by hand) are skipped
with a warning, never fatal to an answer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from recommender.request_time.rules import Catalog, Rule, RuleBook
from serving.cache import Script, keys_of

if TYPE_CHECKING:
    from serving.cache import AsyncRedis, SyncRedis, VersionTables

log = logging.getLogger(__name__)


def rules_keys(client: AsyncRedis | SyncRedis) -> tuple[str, str]:
    """The scripts' KEYS: the rules and their counter (one slot on a cluster)."""
    keys = keys_of(client)
    return keys.shared("rules"), keys.shared("rules:version")


PUT = b"redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); return redis.call('INCR', KEYS[2])"
DELETE = b"""
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then return redis.call('INCR', KEYS[2]) end
return -1
"""
# the counter, and the rules only when the counter is not ARGV[1] (the one held)
READ = b"""
local version = redis.call('GET', KEYS[2]) or '0'
if version == ARGV[1] then return {version} end
return {version, redis.call('HGETALL', KEYS[1])}
"""


class UnknownRuleError(LookupError):
    """No rule has this id."""


def with_id(rule: Rule) -> Rule:
    """``rule`` with its ``rule_id`` (a new one when it has none)."""
    return rule if rule.rule_id is not None else rule.model_copy(update={"rule_id": uuid.uuid4().hex[:12]})


def decoded(pairs: Sequence[bytes]) -> list[Rule]:
    """HGETALL's flat reply -> rules, skipping (and logging) values that do not parse."""
    rules: list[Rule] = []
    for name, raw in zip(pairs[::2], pairs[1::2], strict=True):
        try:
            rules.append(Rule.model_validate_json(raw))
        except ValidationError as exc:
            log.warning("skipping stored rule %r that does not parse: %s", name, exc)
    return sorted(rules, key=lambda r: r.rule_id or "")


# the command line (synchronous) ------------------------------------------------------------------------------
def put_rule(client: SyncRedis, rule: Rule) -> tuple[Rule, int]:
    """Store ``rule`` (replacing one with the same id); (the rule with its id, the new rules version)."""
    rule = with_id(rule)
    stored = rule.model_dump_json(exclude_none=True)
    version = client.execute_command("EVAL", PUT, 2, *rules_keys(client), rule.rule_id, stored)
    return rule, int(version)


def delete_rule(client: SyncRedis, rule_id: str) -> int:
    """Delete a rule; the new rules version. ``UnknownRuleError`` when there is none with this id."""
    version = int(client.execute_command("EVAL", DELETE, 2, *rules_keys(client), rule_id))
    if version < 0:
        raise UnknownRuleError(f"no rule {rule_id!r}")
    return version


def list_rules(client: SyncRedis) -> tuple[list[Rule], int]:
    """(every stored rule by id, the rules version)."""
    version, *rest = client.execute_command("EVAL", READ, 2, *rules_keys(client), "")
    return decoded(rest[0] if rest else []), int(version)


# the service (asyncio) -------------------------------------------------------------------------------------
async def put_rule_async(client: AsyncRedis, rule: Rule) -> tuple[Rule, int]:
    rule = with_id(rule)
    stored = rule.model_dump_json(exclude_none=True)
    version = await Script(PUT).run(client, rules_keys(client), [str(rule.rule_id), stored])
    return rule, int(version)


async def delete_rule_async(client: AsyncRedis, rule_id: str) -> int:
    version = int(await Script(DELETE).run(client, rules_keys(client), [rule_id]))
    if version < 0:
        raise UnknownRuleError(f"no rule {rule_id!r}")
    return version


async def list_rules_async(client: AsyncRedis) -> tuple[list[Rule], int]:
    version, *rest = await Script(READ).run(client, rules_keys(client), [""])
    return decoded(rest[0] if rest else []), int(version)


@dataclass
class HeldRules:
    """The rules a serving process answers with, and the counter they were read at."""

    rules: tuple[Rule, ...] = ()
    version: int = 0
    _checked_at: float = float("-inf")
    _script: Script = field(default_factory=lambda: Script(READ))
    _book: tuple[VersionTables, tuple[Rule, ...], RuleBook] | None = None  # the last compiled book and its inputs

    def book(self, tables: VersionTables) -> RuleBook:
        """The rules compiled for ``tables``' catalog, kept while both the rules and the tables are the same
        (a rule's target mask is then computed once, not per request)."""
        held = self._book
        if held is None or held[0] is not tables or held[1] is not self.rules:  # rules are replaced, not changed
            catalog = Catalog(tables.item_index, tables.category, tables.categories, tables.price)
            held = (tables, self.rules, RuleBook.of(self.rules, catalog, self.version))
            self._book = held
        return held[2]

    def stale(self) -> None:
        """Look at Redis on the next request (this process just changed the rules)."""
        self._checked_at = float("-inf")

    def may_touch(self, surface: str) -> bool:
        """Some held rule is for ``surface`` (at some time, on some page)."""
        return any(r.surface is None or r.surface == surface for r in self.rules)

    def due(self, every: float) -> bool:
        """The last look at Redis is ``every`` seconds old or more."""
        return time.monotonic() - self._checked_at >= every

    async def refresh(self, client: AsyncRedis, every: float) -> None:
        """Follow Redis when ``due``: one script call, which brings the rules only when their counter moved.
        Redis errors propagate (the caller keeps the held rules)."""
        if not self.due(every):
            return
        self._checked_at = time.monotonic()
        reply = await self._script.run(client, rules_keys(client), [str(self.version)])
        version = int(reply[0])
        if len(reply) > 1:
            self.rules, self.version = tuple(decoded(reply[1])), version
            log.info("rules version %d: %d rules", version, len(self.rules))
