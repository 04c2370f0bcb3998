"""The generated shop's truth as the simulated shoppers need it: the catalog, every customer's tastes and what
they own, the planted complements, the durables and the repeat purchases due now.

Built from ``recommender.synthetic``'s ``Shop`` regenerated in memory with the config the server's model was
trained on, so that the customer and item ids are those of the published version. "Now" is the end of the
generated history: a repeat purchase is due when the customer's own cycle comes round within
``DUE_TOLERANCE_DAYS`` of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from recommender.synthetic import Shop

DUE_TOLERANCE_DAYS = 3.0


@dataclass(frozen=True)
class Item:
    item_id: str
    category: str
    price: float
    in_stock: bool


@dataclass(frozen=True)
class Customer:
    """A known customer: preferred categories (best first), favourite items, what they bought, what is due."""

    customer_id: str
    categories: tuple[str, ...]
    favourites: frozenset[str]
    bought: frozenset[str]
    due: frozenset[str]  # their favourite coffee, tea or ink when its cycle comes round now
    cycle_items: frozenset[str]  # their cycle favourites, due or not


@dataclass(frozen=True)
class ShopTruth:
    """What the generator planted, by item id and customer id."""

    items: dict[str, Item]
    category_weights: dict[str, float]  # share of the order lines per category
    by_category: dict[str, tuple[str, ...]]  # the category's items, most ordered first
    complements: dict[str, tuple[str, ...]]  # anchor item -> the planted complement items (its match first)
    matches: dict[str, str]  # anchor item -> its matching complement
    durables: frozenset[str]  # bought at most once per customer
    customers: dict[str, Customer]

    @property
    def customer_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.customers))

    def price(self, item_id: str) -> float:
        return self.items[item_id].price


def shop_truth(shop: Shop, due_tolerance_days: float = DUE_TOLERANCE_DAYS) -> ShopTruth:
    """The truth of a generated ``shop``."""
    planted = shop.planted
    catalog = shop.catalog
    items = {
        row["item_id"]: Item(row["item_id"], row["category"], float(row["price"]), bool(row["in_stock"]))
        for row in catalog.iter_rows(named=True)
    }
    lines = shop.orders.join(catalog.select("item_id", "category"), on="item_id")
    per_item = (
        lines.group_by("category", "item_id")
        .len()
        .sort(["category", "len", "item_id"], descending=[False, True, False])
    )
    by_category = {
        category: tuple(group["item_id"].to_list())
        for (category,), group in per_item.group_by("category", maintain_order=True)
    }
    per_category = lines.group_by("category").len()
    total = max(int(per_category["len"].sum()), 1)
    category_weights = {
        row["category"]: row["len"] / total for row in per_category.sort("category").iter_rows(named=True)
    }
    complements: dict[str, tuple[str, ...]] = {}
    for rule in planted.complements:
        for anchor in planted.roles[rule.anchor]:
            kind = planted.roles[rule.complement]
            match = planted.matches.get(anchor)
            complements[anchor] = tuple([match] if match else []) + tuple(i for i in kind if i != match)
    durables = frozenset(item for role in planted.durables for item in planted.roles[role])
    return ShopTruth(
        items=items,
        category_weights=category_weights,
        by_category=by_category,
        complements=complements,
        matches=dict(planted.matches),
        durables=durables,
        customers=_customers(shop, due_tolerance_days),
    )


def _customers(shop: Shop, due_tolerance_days: float) -> dict[str, Customer]:
    tastes = (
        shop.planted.tastes.sort("customer_id", "slot")
        .group_by("customer_id", maintain_order=True)
        .agg(pl.col("category").alias("categories"), pl.col("item_id").alias("favourites"))
    )
    bought = shop.orders.group_by("customer_id").agg(pl.col("item_id").unique().alias("bought"))
    cycles = shop.planted.cycles.group_by("customer_id").agg(pl.col("item_id").unique().alias("cycle_items"))
    roles = shop.planted.cycles["role"].unique().sort().to_list()
    due_frames = [shop.due_cycles(role, due_tolerance_days).select("customer_id", "item_id") for role in roles]
    due = (
        pl.concat(due_frames).group_by("customer_id").agg(pl.col("item_id").unique().alias("due"))
        if due_frames
        else pl.DataFrame(schema={"customer_id": pl.String, "due": pl.List(pl.String)})
    )
    table = (
        tastes.join(bought, on="customer_id", how="left")
        .join(cycles, on="customer_id", how="left")
        .join(due, on="customer_id", how="left")
    )
    return {
        row["customer_id"]: Customer(
            customer_id=row["customer_id"],
            categories=tuple(row["categories"]),
            favourites=frozenset(row["favourites"]),
            bought=frozenset(row["bought"] or ()),
            due=frozenset(row["due"] or ()),
            cycle_items=frozenset(row["cycle_items"] or ()),
        )
        for row in table.iter_rows(named=True)
    }
