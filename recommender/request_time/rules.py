"""Merchandising rules: the grammar (``Rule``), and a set of rules compiled against one version's catalog
(``RuleBook``), which says which rules are in effect on a surface, a page and a moment.

A rule is JSON. ``action`` is one of ``pin``, ``boost``, ``bury``, ``block``, ``promote``; its target is an
``item_id``, a ``category``, or a price band (``price_min`` and/or ``price_max``, inclusive). ``pin`` places
its item (an ``item_id`` target) at ``position`` (1-based); ``boost`` and ``bury`` multiply an item's rank
weight by ``factor`` (boost: above 1, bury: between 0 and 1); ``block`` takes matching items out of every
answer, fallbacks included; ``promote`` reserves ``ceil(share * k)`` slots of a page for matching items.
Optional: ``surface`` (one of ``ANSWER_SURFACES``; none: every surface), ``starts_at`` / ``ends_at``
(ISO-8601; a time without a zone is UTC), ``context`` (``{"category": ...}``: answers about that category,
i.e. a request filtered to it or an item page of it; ``{"item_id": ...}``: that item's page only).

Applying rules to the rows of an answer is ``recommender.request_time.merchandise``. Nothing here knows
about Redis or HTTP; the rules' store and refresh are ``serving.rules_store``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recommender.vocabulary import AnswerSurface

RuleAction = Literal["pin", "boost", "bury", "block", "promote"]
RULE_ACTIONS: tuple[str, ...] = get_args(RuleAction)
MAX_RULE_TEXT = 256
MAX_PIN_POSITION = 100  # the longest page (``serving.schemas.MAX_K``)
MAX_KEPT_PAGES = 4096  # pages whose rules in effect a book keeps (customer surfaces, categories, item pages)


class RuleContext(BaseModel):
    """Where a rule applies: the pages of one category, or one item's page (exactly one of the two)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str | None = Field(default=None, min_length=1, max_length=MAX_RULE_TEXT)
    item_id: str | None = Field(default=None, min_length=1, max_length=MAX_RULE_TEXT)

    @model_validator(mode="after")
    def _one(self) -> RuleContext:
        if (self.category is None) == (self.item_id is None):
            raise ValueError("a context names exactly one of category or item_id")
        return self


class Rule(BaseModel):
    """One merchandising rule (see the module docstring); ``rule_id`` is given by the store when absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    action: RuleAction
    surface: AnswerSurface | None = Field(default=None, description="none: every surface")
    item_id: str | None = Field(default=None, min_length=1, max_length=MAX_RULE_TEXT)
    category: str | None = Field(default=None, min_length=1, max_length=MAX_RULE_TEXT)
    price_min: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    price_max: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    position: int | None = Field(default=None, ge=1, le=MAX_PIN_POSITION, description="pin: 1-based")
    factor: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False, description="boost, bury")
    share: float | None = Field(default=None, gt=0, le=1, description="promote: share of a page's slots")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    context: RuleContext | None = None
    note: str | None = Field(default=None, max_length=1000, description="free text for people")

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        targets = [self.item_id is not None, self.category is not None, self.price_band]
        if sum(targets) != 1:
            raise ValueError("a rule has exactly one target: item_id, category, or price_min/price_max")
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("price_min is above price_max")
        if self.action == "pin":
            if self.item_id is None or self.position is None:
                raise ValueError("pin needs an item_id and a position (1-based)")
        elif self.position is not None:
            raise ValueError(f"position is for pin only, not {self.action}")
        if self.action in ("boost", "bury"):
            if self.factor is None:
                raise ValueError(f"{self.action} needs a factor")
            if self.action == "boost" and self.factor <= 1:
                raise ValueError("boost needs a factor above 1 (bury lowers)")
            if self.action == "bury" and self.factor >= 1:
                raise ValueError("bury needs a factor between 0 and 1 (boost raises)")
        elif self.factor is not None:
            raise ValueError(f"factor is for boost and bury only, not {self.action}")
        if (self.action == "promote") != (self.share is not None):
            raise ValueError("promote needs a share (0 < share <= 1), and only promote takes one")
        if self.starts_at is not None and self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    @property
    def price_band(self) -> bool:
        return self.price_min is not None or self.price_max is not None

    def live_at(self, now: float) -> bool:
        """In effect at ``now`` (Unix seconds): started, not ended."""
        return (self.starts_at is None or self.starts_at.timestamp() <= now) and (
            self.ends_at is None or now < self.ends_at.timestamp()
        )

    def slots(self, k: int) -> int:
        """A promotion's reserved slots on a page of ``k``."""
        return math.ceil((self.share or 0.0) * k - 1e-9)


@dataclass(frozen=True)
class Catalog:
    """What rules match against: one version's item ids, categories and prices (by item index)."""

    item_index: dict[str, int]
    category: np.ndarray  # int32 per item, -1 unknown
    categories: Sequence[str]
    price: np.ndarray  # float per item (0: unknown)


@dataclass(frozen=True)
class Page:
    """The answer rules are asked about: its surface and context (a category index, an item index; -1: none)."""

    surface: str
    category: int = -1
    item: int = -1


@dataclass(frozen=True)
class Effects:
    """The rules in effect on an answer, by action, with the block rules as one mask and the boost and bury
    rules as one factor per item (None: no such rule), so an answer they do not touch costs one gather."""

    blocks: tuple[Rule, ...]
    weights: tuple[Rule, ...]  # boost and bury
    pins: tuple[Rule, ...]
    promotions: tuple[Rule, ...]
    blocked: np.ndarray | None  # bool per item
    factor: np.ndarray | None  # float64 per item, 1.0 where no boost or bury applies


@dataclass(frozen=True)
class RuleBook:
    """Rules compiled for one catalog: each rule's target and context as indices (-2: unknown here)."""

    rules: tuple[Rule, ...]
    catalog: Catalog
    version: int = 0
    # by id(rule) / the ids of a set of rules; each entry holds its rules, so an id is never reused meanwhile
    _targets: dict[int, tuple[Rule, np.ndarray]] = field(default_factory=dict, compare=False, repr=False)
    _effects: dict[tuple[int, ...], tuple[tuple[Rule, ...], Effects]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _in_effect: dict[tuple[Page, int], tuple[Rule, ...]] = field(default_factory=dict, compare=False, repr=False)
    _boundaries: list[tuple[float, ...]] = field(default_factory=list, compare=False, repr=False)  # computed once

    @classmethod
    def of(cls, rules: Iterable[Rule], catalog: Catalog, version: int = 0) -> RuleBook:
        ordered = sorted(rules, key=lambda r: r.rule_id or "")
        return cls(tuple(ordered), catalog, version)

    def in_effect(self, page: Page, now: float) -> tuple[Rule, ...]:
        """The rules applying to ``page`` at ``now``: surface, context and time. Between two start or end
        times the answer is the same, so it is kept per page and phase (up to ``MAX_KEPT_PAGES`` of them)."""
        key = (page, self.phase(now))
        found = self._in_effect.get(key)
        if found is None:
            found = tuple(r for r in self.rules if self._applies(r, page, now))
            if len(self._in_effect) < MAX_KEPT_PAGES:
                self._in_effect[key] = found
        return found

    def boundaries(self) -> tuple[float, ...]:
        """Every start and end time, sorted: an answer kept in process is valid between two of them."""
        if not self._boundaries:
            times = {t.timestamp() for r in self.rules for t in (r.starts_at, r.ends_at) if t is not None}
            self._boundaries.append(tuple(sorted(times)))
        return self._boundaries[0]

    def phase(self, now: float) -> int:
        """How many start and end times are past at ``now`` (answers kept in process key on it)."""
        return bisect.bisect_right(self.boundaries(), now)

    def item(self, item_id: str | None) -> int:
        return -2 if item_id is None else self.catalog.item_index.get(item_id, -2)

    def category_of(self, name: str | None) -> int:
        if name is None:
            return -2
        try:
            return list(self.catalog.categories).index(name)
        except ValueError:
            return -2

    def matches(self, rule: Rule, items: np.ndarray) -> np.ndarray:
        """Which of ``items`` (indices; -1 none) the rule's target takes, vectorized."""
        items = np.asarray(items, dtype=np.int64)
        target = self.target(rule)
        valid = (items >= 0) & (items < len(target))
        return valid & target[np.where(valid, items, 0)]

    def target(self, rule: Rule) -> np.ndarray:
        """The rule's target as a bool per item of the catalog, computed once per book (a book lives as long
        as the rules and the catalog it was compiled for: ``serving.rules_store.HeldRules.book``)."""
        key = id(rule)
        held = self._targets.get(key)
        if held is not None and held[0] is rule:
            return held[1]
        catalog = self.catalog
        n = len(catalog.category)
        if rule.item_id is not None:
            found = np.zeros(n, dtype=bool)
            item = self.item(rule.item_id)
            if 0 <= item < n:
                found[item] = True
        elif rule.category is not None:
            found = np.asarray(catalog.category) == self.category_of(rule.category)
        else:
            price = np.asarray(catalog.price, dtype=np.float64)
            low = -np.inf if rule.price_min is None else rule.price_min
            high = np.inf if rule.price_max is None else rule.price_max
            found = (price >= low) & (price <= high)
        self._targets[key] = (rule, found)
        return found

    def effects(self, rules: Sequence[Rule]) -> Effects:
        """``rules`` (those in effect on an answer) by action, blocks and weights combined per item; computed
        once per set of rules and book."""
        key = tuple(id(rule) for rule in rules)
        held = self._effects.get(key)
        if held is not None and all(a is b for a, b in zip(held[0], rules, strict=True)):
            return held[1]
        blocks = tuple(r for r in rules if r.action == "block")
        weights = tuple(r for r in rules if r.action in ("boost", "bury"))
        blocked = factor = None
        if blocks:
            blocked = np.zeros(len(self.catalog.category), dtype=bool)
            for rule in blocks:
                blocked |= self.target(rule)
        if weights:
            factor = np.ones(len(self.catalog.category), dtype=np.float64)
            for rule in weights:
                factor[self.target(rule)] *= float(rule.factor or 1.0)
        found = Effects(
            blocks,
            weights,
            tuple(r for r in rules if r.action == "pin"),
            tuple(r for r in rules if r.action == "promote"),
            blocked,
            factor,
        )
        self._effects[key] = (tuple(rules), found)
        return found

    def _applies(self, rule: Rule, page: Page, now: float) -> bool:
        if rule.surface is not None and rule.surface != page.surface:
            return False
        if not rule.live_at(now):
            return False
        context = rule.context
        if context is None:
            return True
        if context.item_id is not None:
            return page.item >= 0 and self.item(context.item_id) == page.item
        return page.category >= 0 and self.category_of(context.category) == page.category
