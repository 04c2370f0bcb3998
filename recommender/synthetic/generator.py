"""``generate_shop``: the whole synthetic shop for a config, and the frames it is returned as.

One ``np.random.default_rng(config.seed)`` is drawn from in a fixed order (catalog, customers, planted
behaviour, add-ons, background), so the same config gives the same shop.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from recommender.synthetic.catalog import _build_catalog, _Catalog
from recommender.synthetic.customers import _draw_people, _People
from recommender.synthetic.orders import (
    _add_ons,
    _anchors,
    _background,
    _cycle_lines,
    _CycleOwners,
    _follow_ups,
    _ink_owners,
    _Lines,
    _new_cycle_owners,
)
from recommender.synthetic.products import FILLERS, ROLES
from recommender.synthetic.rules import COMPLEMENT_RULES, CYCLE_RULES, DURABLES, FAVOURITE_PROB, INK_CYCLE
from recommender.synthetic.shop import ISO_FORMAT, Planted, Shop, ShopConfig


def _dedupe(lines: _Lines, n_items: int) -> _Lines:
    """One line per (order, item), quantities summed."""
    key = lines.basket * n_items + lines.item
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    quantity = np.bincount(inverse.ravel(), weights=lines.quantity, minlength=len(uniq)).astype(np.int64)
    return _Lines(lines.customer[first], lines.item[first], lines.t[first], quantity, lines.basket[first])


def _orders_frame(cfg: ShopConfig, cat: _Catalog, lines: _Lines) -> pl.DataFrame:
    order = np.lexsort((lines.item, lines.basket, lines.t))
    basket = lines.basket[order]
    order_no = np.cumsum(np.concatenate([[True], basket[1:] != basket[:-1]]))
    c_width = max(6, len(str(cfg.customers)))
    o_width = max(7, len(str(int(order_no[-1]) if len(order_no) else 0)))
    ids = pl.Series("item_id", cat.ids)
    item = lines.item[order]
    return pl.DataFrame(
        {
            "customer_id": lines.customer[order] + 1,
            "item_id": ids.gather(item),
            "ordered_at": lines.t[order] + cfg.start_time,
            "order_id": order_no,
            "quantity": lines.quantity[order],
            "price": cat.price[item],
        }
    ).with_columns(
        pl.concat_str(pl.lit("c"), pl.col("customer_id").cast(pl.String).str.zfill(c_width)).alias("customer_id"),
        pl.from_epoch("ordered_at", time_unit="s").dt.strftime(ISO_FORMAT),
        pl.concat_str(pl.lit("o"), pl.col("order_id").cast(pl.String).str.zfill(o_width)).alias("order_id"),
    )


def _catalog_frame(cat: _Catalog) -> pl.DataFrame:
    return pl.DataFrame(
        {"item_id": cat.ids, "name": cat.names, "category": cat.category, "in_stock": cat.in_stock, "price": cat.price}
    )


def _cycles_frame(cfg: ShopConfig, cat: _Catalog, owners: list[tuple[str, _CycleOwners]]) -> pl.DataFrame:
    c_width = max(6, len(str(cfg.customers)))
    frames = [
        pl.DataFrame(
            {
                "customer_id": np.asarray(o.customer, dtype=np.int64) + 1,
                "role": pl.Series([role] * len(o.customer), dtype=pl.String),
                "item_id": pl.Series(np.asarray(cat.ids[o.item], dtype=str), dtype=pl.String),
                "cycle_days": np.asarray(o.cycle, dtype=np.float64),
            }
        )
        for role, o in owners
    ]
    return (
        pl.concat(frames)
        .with_columns(
            pl.concat_str(pl.lit("c"), pl.col("customer_id").cast(pl.String).str.zfill(c_width)).alias("customer_id")
        )
        .with_columns(pl.col("cycle_days").cast(pl.Int64))
        .sort("role", "customer_id")
    )


def _tastes_frame(cfg: ShopConfig, cat: _Catalog, people: _People) -> pl.DataFrame:
    """Every customer's preferred categories (the first ``n_taste`` slots) and favourite item in each."""
    n, slots = people.taste.shape
    customer, slot = np.divmod(np.arange(n * slots), slots)
    used = slot < people.n_taste[customer]
    categories = np.array([filler.category for filler in FILLERS])
    c_width = max(6, len(str(cfg.customers)))
    return pl.DataFrame(
        {
            "customer_id": customer[used] + 1,
            "slot": slot[used],
            "category": pl.Series(categories[people.taste.ravel()[used]], dtype=pl.String),
            "item_id": pl.Series(np.asarray(cat.ids[people.favourite.ravel()[used]], dtype=str), dtype=pl.String),
        }
    ).with_columns(
        pl.concat_str(pl.lit("c"), pl.col("customer_id").cast(pl.String).str.zfill(c_width)).alias("customer_id")
    )


def _planted(cfg: ShopConfig, cat: _Catalog, cycles: pl.DataFrame, tastes: pl.DataFrame) -> Planted:
    return Planted(
        roles={role: tuple(cat.ids[idx].tolist()) for role, idx in cat.roles.items()},
        complements=COMPLEMENT_RULES,
        cycle_rules=(*CYCLE_RULES, INK_CYCLE),
        durables=DURABLES,
        matches={it.item_id: it.match for r in ROLES for it in r.items if it.match},
        out_of_stock=tuple(cat.ids[~cat.in_stock].tolist()),
        cycles=cycles,
        tastes=tastes,
        start=dt.datetime.fromtimestamp(cfg.start_time, tz=dt.UTC),
        end=dt.datetime.fromtimestamp(cfg.end_time, tz=dt.UTC),
    )


def generate_shop(config: ShopConfig | None = None) -> Shop:
    """Generate the whole shop for ``config`` (default ``ShopConfig()``); same config -> same shop."""
    cfg = config if config is not None else ShopConfig()
    rng = np.random.default_rng(cfg.seed)
    cat = _build_catalog(cfg, rng)
    people = _draw_people(cfg, cat, rng)
    planted_parts: list[_Lines] = []
    cycle_owners: list[tuple[str, _CycleOwners]] = []
    for rule in COMPLEMENT_RULES:
        anchors = _anchors(cfg, cat, rule, rng)
        planted_parts.append(anchors.lines)
        if rule.complement == INK_CYCLE.role:
            owners = _ink_owners(cfg, cat, rule, anchors, rng)
            planted_parts.append(_cycle_lines(cfg, cat, INK_CYCLE, owners, 0.0, rng))
            cycle_owners.append((INK_CYCLE.role, owners))
        else:
            planted_parts.append(_follow_ups(cfg, cat, rule, anchors, rng))
    for cycle_rule in CYCLE_RULES:
        customer = np.flatnonzero(rng.random(cfg.customers) < cycle_rule.share)
        owners = _new_cycle_owners(cfg, cat, cycle_rule, customer, rng)
        planted_parts.append(_cycle_lines(cfg, cat, cycle_rule, owners, 1.0 - FAVOURITE_PROB, rng))
        cycle_owners.append((cycle_rule.role, owners))
    planted = _Lines.concat(planted_parts)
    planted = _Lines.concat([planted, _add_ons(cfg, cat, people, planted, rng)], shared_keys=True)
    lines = _dedupe(_Lines.concat([_background(cfg, cat, people, rng), planted]), len(cat.ids))
    return Shop(
        orders=_orders_frame(cfg, cat, lines),
        catalog=_catalog_frame(cat),
        planted=_planted(cfg, cat, _cycles_frame(cfg, cat, cycle_owners), _tastes_frame(cfg, cat, people)),
        config=cfg,
    )
