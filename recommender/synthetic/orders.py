"""The order simulation: background baskets, anchors and their complements, repeat cycles, add-on lines.

Every step draws from the one generator it is given, vectorized over customers and lines, and returns
``_Lines`` (customer, item, time, quantity and a local order key per line) for ``generate_shop`` to join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from recommender.history import DAY
from recommender.synthetic.catalog import _Catalog, _zipf
from recommender.synthetic.customers import _background_items, _People
from recommender.synthetic.rules import (
    ADDON_PROB,
    BASKET_EXTRA,
    INK_CYCLE,
    INK_MATCH_PROB,
    ITEM_ZIPF,
    MATCH_PROB,
    OPEN_SECONDS,
    SKIP_PROB,
    ComplementRule,
    CycleRule,
)
from recommender.synthetic.shop import ShopConfig


@dataclass(frozen=True)
class _Lines:
    customer: np.ndarray  # int64
    item: np.ndarray  # int64
    t: np.ndarray  # int64 seconds since the start of the history
    quantity: np.ndarray  # int64
    basket: np.ndarray  # int64, local order key: lines sharing it form one order

    @classmethod
    def single(cls, customer: np.ndarray, item: np.ndarray, t: np.ndarray, quantity: np.ndarray) -> _Lines:
        """Every line its own order."""
        return cls(customer, item, t, quantity, np.arange(len(customer)))

    @classmethod
    def concat(cls, parts: list[_Lines], *, shared_keys: bool = False) -> _Lines:
        """All lines of ``parts``; their order keys are kept apart unless ``shared_keys`` (add-on lines)."""
        sizes = [0 if shared_keys or not len(p.basket) else int(p.basket.max()) + 1 for p in parts]
        offsets = np.cumsum([0, *sizes[:-1]])
        return cls(
            customer=np.concatenate([p.customer for p in parts]),
            item=np.concatenate([p.item for p in parts]),
            t=np.concatenate([p.t for p in parts]),
            quantity=np.concatenate([p.quantity for p in parts]),
            basket=np.concatenate([p.basket + off for p, off in zip(parts, offsets, strict=True)]),
        )


def _seconds(day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seconds since the start for purchases on ``day``, at a random time of the opening hours."""
    return day.astype(np.int64) * DAY + rng.integers(*OPEN_SECONDS, size=len(day))


def _quantity(n: int, rng: np.random.Generator, p: tuple[float, float, float] = (0.85, 0.1, 0.05)) -> np.ndarray:
    return rng.choice(np.arange(1, len(p) + 1), size=n, p=p)


def _background(cfg: ShopConfig, cat: _Catalog, people: _People, rng: np.random.Generator) -> _Lines:
    n_orders = 1 + rng.poisson(people.activity)
    order_customer = np.repeat(np.arange(cfg.customers), n_orders)
    order_t = _seconds(rng.integers(0, cfg.days, len(order_customer)), rng)
    size = 1 + rng.poisson(BASKET_EXTRA, len(order_customer))
    basket = np.repeat(np.arange(len(order_customer)), size)
    customer = order_customer[basket]
    item = _background_items(cfg, cat, people, customer, rng)
    return _Lines(customer, item, order_t[basket], _quantity(len(basket), rng), basket)


def _popular(role_items: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(role_items, size=n, p=_zipf(len(role_items), ITEM_ZIPF))


def _complement_item(
    cat: _Catalog, anchor_item: np.ndarray, role: str, prob: float, rng: np.random.Generator
) -> np.ndarray:
    """The anchor's matching complement with probability ``prob``, else a popular item of ``role``."""
    item = _popular(cat.roles[role], len(anchor_item), rng)
    use_match = rng.random(len(anchor_item)) < prob
    item[use_match] = cat.match[anchor_item[use_match]]
    return item


class _Anchors(NamedTuple):
    lines: _Lines
    buyers: np.ndarray  # customer per anchor purchase
    item: np.ndarray  # anchor item per purchase
    t: np.ndarray  # seconds since the start, per anchor purchase


def _anchors(cfg: ShopConfig, cat: _Catalog, rule: ComplementRule, rng: np.random.Generator) -> _Anchors:
    """Durable anchor purchases: a share of customers buys exactly one item of the anchor role."""
    buyers = np.flatnonzero(rng.random(cfg.customers) < rule.anchor_share)
    item = _popular(cat.roles[rule.anchor], len(buyers), rng)
    t = _seconds(rng.integers(0, cfg.days, len(buyers)), rng)
    lines = _Lines.single(buyers, item, t, np.ones(len(buyers), dtype=np.int64))
    return _Anchors(lines, buyers, item, t)


def _after(t: np.ndarray, rule: ComplementRule, rng: np.random.Generator) -> np.ndarray:
    """Seconds of purchases ``min_days..max_days`` calendar days after ``t``, never past ``t + max_days``."""
    lag = rng.integers(rule.min_days, rule.max_days + 1, len(t))
    tod = t % DAY
    high = np.where(lag == rule.max_days, tod + 1, OPEN_SECONDS[1])  # on the last day: no later than t's time
    new_tod = OPEN_SECONDS[0] + (rng.random(len(t)) * (high - OPEN_SECONDS[0])).astype(np.int64)
    return (t // DAY + lag) * DAY + new_tod


def _follow_ups(cfg: ShopConfig, cat: _Catalog, rule: ComplementRule, a: _Anchors, rng: np.random.Generator) -> _Lines:
    """Complement purchases after the anchors (censored at the end), plus standalone ones by others."""
    follows = rng.random(len(a.buyers)) < rule.share
    t = _after(a.t[follows], rule, rng)
    item = _complement_item(cat, a.item[follows], rule.complement, MATCH_PROB, rng)
    inside = t < cfg.days * DAY
    others = np.setdiff1d(np.arange(cfg.customers), a.buyers)
    alone = others[rng.random(len(others)) < rule.standalone_share]
    customer = np.concatenate([a.buyers[follows][inside], alone])
    item = np.concatenate([item[inside], _popular(cat.roles[rule.complement], len(alone), rng)])
    t = np.concatenate([t[inside], _seconds(rng.integers(0, cfg.days, len(alone)), rng)])
    return _Lines.single(customer, item, t, np.ones(len(customer), dtype=np.int64))


class _CycleOwners(NamedTuple):
    customer: np.ndarray
    item: np.ndarray  # favourite item
    cycle: np.ndarray  # days
    first_day: np.ndarray
    first_t: np.ndarray  # seconds of the first purchase when fixed (follow-ups), else -1: any time that day


def _cycle_lines(
    cfg: ShopConfig, cat: _Catalog, rule: CycleRule, owners: _CycleOwners, switch: float, rng: np.random.Generator
) -> _Lines:
    """Repeat purchases every owner's cycle from their first day on, with jitter and a skip now and then."""
    n = np.maximum((cfg.days - 1 - owners.first_day) // owners.cycle + 1, 0)
    who = np.repeat(np.arange(len(n)), n)
    k = np.arange(len(who)) - np.repeat(np.cumsum(n) - n, n)
    jitter = np.where(k > 0, rng.integers(-rule.jitter_days, rule.jitter_days + 1, len(who)), 0)
    day = owners.first_day[who] + k * owners.cycle[who] + jitter
    keep = (day >= 0) & (day < cfg.days) & ((k == 0) | (rng.random(len(who)) >= SKIP_PROB))
    who, day, k = who[keep], day[keep], k[keep]
    t = _seconds(day, rng)
    fixed = (k == 0) & (owners.first_t[who] >= 0)
    t[fixed] = owners.first_t[who[fixed]]
    item = owners.item[who]
    other = rng.random(len(who)) < switch
    item[other] = _popular(cat.roles[rule.role], int(other.sum()), rng)
    return _Lines.single(owners.customer[who], item, t, _quantity(len(who), rng, (0.8, 0.2)))


def _new_cycle_owners(
    cfg: ShopConfig, cat: _Catalog, rule: CycleRule, customer: np.ndarray, rng: np.random.Generator
) -> _CycleOwners:
    cycle = rng.integers(rule.min_days, rule.max_days + 1, len(customer))
    return _CycleOwners(
        customer=customer,
        item=_popular(cat.roles[rule.role], len(customer), rng),
        cycle=cycle,
        first_day=(rng.random(len(customer)) * np.minimum(cycle, cfg.days)).astype(np.int64),
        first_t=np.full(len(customer), -1, dtype=np.int64),
    )


def _ink_owners(
    cfg: ShopConfig, cat: _Catalog, rule: ComplementRule, a: _Anchors, rng: np.random.Generator
) -> _CycleOwners:
    """Printer buyers who buy their printer's ink days later and on a cycle after, plus owners from before."""
    follows = rng.random(len(a.buyers)) < rule.share
    first_t = _after(a.t[follows], rule, rng)
    from_printer = _CycleOwners(
        customer=a.buyers[follows],
        item=_complement_item(cat, a.item[follows], rule.complement, INK_MATCH_PROB, rng),
        cycle=rng.integers(INK_CYCLE.min_days, INK_CYCLE.max_days + 1, int(follows.sum())),
        first_day=first_t // DAY,
        first_t=first_t,
    )
    others = np.setdiff1d(np.arange(cfg.customers), a.buyers)
    before = _new_cycle_owners(cfg, cat, INK_CYCLE, others[rng.random(len(others)) < INK_CYCLE.share], rng)
    return _CycleOwners(*(np.concatenate([x, y]) for x, y in zip(from_printer, before, strict=True)))


def _add_ons(cfg: ShopConfig, cat: _Catalog, people: _People, planted: _Lines, rng: np.random.Generator) -> _Lines:
    """Background lines added to some planted orders, so those are baskets too."""
    chosen = np.flatnonzero(rng.random(len(planted.basket)) < ADDON_PROB)
    rows = np.repeat(chosen, 1 + rng.poisson(0.3, len(chosen)))
    customer = planted.customer[rows]
    item = _background_items(cfg, cat, people, customer, rng)
    return _Lines(customer, item, planted.t[rows], _quantity(len(rows), rng), planted.basket[rows])
