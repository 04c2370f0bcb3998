"""The synthetic shop: deterministic per seed, in the project's data format (docs/data.md), planted facts hold."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from recommender.data.columns import CATALOG_COLUMNS, ORDER_COLUMNS
from recommender.synthetic import (
    ISO_FORMAT,
    ComplementRule,
    Shop,
    ShopConfig,
    generate,
    generate_shop,
    write_shop,
)

DAY_S = 86_400


@pytest.fixture(scope="module")
def shop() -> Shop:
    return generate_shop(ShopConfig(customers=3000, seed=11))


def _timed(orders: pl.DataFrame) -> pl.DataFrame:
    """Orders with ``t``: Unix seconds of ``ordered_at``."""
    return orders.with_columns(
        pl.col("ordered_at").str.to_datetime(ISO_FORMAT, time_zone="UTC").dt.epoch("s").alias("t")
    )


def _lines_of(orders: pl.DataFrame, items: tuple[str, ...], t_name: str) -> pl.DataFrame:
    return orders.filter(pl.col("item_id").is_in(list(items))).select(
        "customer_id", "item_id", pl.col("t").alias(t_name)
    )


# --- determinism and format ---------------------------------------------------------------------------
def test_same_seed_gives_identical_shop_and_another_seed_a_different_one() -> None:
    cfg = ShopConfig(customers=300, seed=5)
    a, b = generate_shop(cfg), generate_shop(cfg)
    assert a.orders.equals(b.orders)
    assert a.catalog.equals(b.catalog)
    assert a.planted.cycles.equals(b.planted.cycles)
    other = generate_shop(ShopConfig(customers=300, seed=6))
    assert not other.orders.equals(a.orders)
    assert not other.planted.cycles.equals(a.planted.cycles)


def test_orders_follow_the_data_format(shop: Shop) -> None:
    orders = shop.orders
    assert tuple(orders.columns) == ORDER_COLUMNS
    assert orders.schema["customer_id"] == pl.String
    assert orders.schema["item_id"] == pl.String
    assert orders.schema["ordered_at"] == pl.String
    assert orders.schema["order_id"] == pl.String
    assert orders.schema["quantity"].is_integer()
    assert orders.schema["price"].is_float()
    assert orders.null_count().sum_horizontal().item() == 0
    assert orders["ordered_at"].str.contains(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$").all()
    ts = orders["ordered_at"].str.to_datetime(ISO_FORMAT, time_zone="UTC")
    assert ts.min() >= shop.planted.start
    assert ts.max() < shop.planted.end
    assert ts.max().date() == shop.config.end  # the history runs up to the configured end day
    assert ts.is_sorted()
    assert (orders["quantity"] >= 1).all()
    assert orders["customer_id"].n_unique() == shop.config.customers  # every customer placed an order


def test_an_order_is_one_customer_at_one_time_and_baskets_exist(shop: Shop) -> None:
    per_order = shop.orders.group_by("order_id").agg(
        pl.col("customer_id").n_unique().alias("customers"),
        pl.col("ordered_at").n_unique().alias("times"),
        pl.len().alias("lines"),
        pl.col("item_id").n_unique().alias("items"),
    )
    assert (per_order["customers"] == 1).all()
    assert (per_order["times"] == 1).all()
    assert (per_order["items"] == per_order["lines"]).all()  # an item appears once per order
    multi = (per_order["lines"] >= 2).mean()
    assert 0.15 < multi < 0.8, multi


def test_catalog_covers_every_ordered_item_with_categories_prices_and_stock(shop: Shop) -> None:
    catalog = shop.catalog
    assert tuple(catalog.columns) == CATALOG_COLUMNS
    assert catalog["item_id"].is_unique().all()
    assert catalog.height == shop.config.items
    assert 10 <= catalog["category"].n_unique() <= 20
    assert (catalog["price"] > 0).all()
    assert (catalog["name"].str.len_chars() > 0).all()
    assert shop.orders["item_id"].is_in(catalog["item_id"].implode()).all()
    out = set(catalog.filter(~pl.col("in_stock"))["item_id"].to_list())
    assert out == set(shop.planted.out_of_stock)
    assert 0 < len(out) < 0.1 * catalog.height
    assert {"tent-2p-explorer", "sleeping-bag-down", "coffee-house-blend"} <= set(catalog["item_id"].to_list())
    line_prices = shop.orders.join(catalog.select("item_id", pl.col("price").alias("list")), on="item_id")
    assert (line_prices["price"] == line_prices["list"]).all()


def test_catalog_size_does_not_grow_with_customers() -> None:
    small = generate_shop(ShopConfig(customers=100, seed=1))
    large = generate_shop(ShopConfig(customers=1500, seed=1))
    assert small.catalog.height == large.catalog.height == ShopConfig().items


def test_config_rejects_unknown_keys_and_too_small_catalogs() -> None:
    with pytest.raises(ValidationError):
        ShopConfig(customer=10)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="items must be at least"):
        ShopConfig(items=20)
    with pytest.raises(ValidationError):
        ShopConfig(noise=1.5)


# --- planted complements --------------------------------------------------------------------------------
def _follow_up_share(shop: Shop, rule: ComplementRule) -> float:
    """Share of anchor purchases (early enough to see the window) followed by the complement in the window."""
    orders = _timed(shop.orders)
    anchors = _lines_of(orders, shop.planted.roles[rule.anchor], "t_anchor")
    comps = _lines_of(orders, shop.planted.roles[rule.complement], "t_comp").drop("item_id")
    window = rule.window_days * DAY_S
    cutoff = int(shop.planted.end.timestamp()) - window
    eligible = anchors.filter(pl.col("t_anchor") <= cutoff).with_row_index("purchase")
    hits = (
        eligible.join(comps, on="customer_id", how="left")
        .with_columns(
            ((pl.col("t_comp") > pl.col("t_anchor")) & (pl.col("t_comp") <= pl.col("t_anchor") + window))
            .fill_null(False)
            .alias("hit")
        )
        .group_by("purchase")
        .agg(pl.col("hit").any())
    )
    assert hits.height >= 60, f"too few {rule.anchor} purchases to judge: {hits.height}"
    return float(hits["hit"].mean())


def _reverse_share(shop: Shop, rule: ComplementRule) -> float:
    """Share of complement buyers who buy an anchor item after their first complement purchase."""
    orders = _timed(shop.orders)
    first_comp = (
        _lines_of(orders, shop.planted.roles[rule.complement], "t_comp")
        .group_by("customer_id")
        .agg(pl.col("t_comp").min())
    )
    anchors = _lines_of(orders, shop.planted.roles[rule.anchor], "t_anchor").drop("item_id")
    later = first_comp.join(anchors, on="customer_id").filter(pl.col("t_anchor") > pl.col("t_comp"))
    return later["customer_id"].n_unique() / first_comp.height


@pytest.mark.parametrize("anchor", ["tents", "cameras", "printers"])
def test_most_anchor_buyers_buy_the_complement_within_the_window(shop: Shop, anchor: str) -> None:
    rule = shop.planted.complement(anchor)
    share = _follow_up_share(shop, rule)
    assert share >= 0.5, f"{anchor} -> {rule.complement}: {share:.2f}"


@pytest.mark.parametrize("anchor", ["tents", "cameras", "printers"])
def test_the_complement_rarely_comes_before_the_anchor(shop: Shop, anchor: str) -> None:
    rule = shop.planted.complement(anchor)
    assert _reverse_share(shop, rule) <= 0.03


def test_complements_are_directional_not_just_popular(shop: Shop) -> None:
    """Customers who did not buy a tent rarely buy a sleeping bag at all: the signal is the tent."""
    orders = shop.orders
    tent_buyers = orders.filter(pl.col("item_id").is_in(list(shop.planted.tents)))["customer_id"].unique()
    bag_buyers = orders.filter(pl.col("item_id").is_in(list(shop.planted.sleeping_bags)))["customer_id"].unique()
    others = orders["customer_id"].n_unique() - tent_buyers.len()
    rate_others = bag_buyers.filter(~bag_buyers.is_in(tent_buyers.implode())).len() / others
    rate_tent_buyers = bag_buyers.filter(bag_buyers.is_in(tent_buyers.implode())).len() / tent_buyers.len()
    assert rate_tent_buyers > 10 * rate_others


def test_each_anchor_item_mostly_leads_to_its_matching_complement(shop: Shop) -> None:
    orders = _timed(shop.orders)
    checked = 0
    for rule in shop.planted.complements:
        anchors = _lines_of(orders, shop.planted.roles[rule.anchor], "t_anchor").rename({"item_id": "anchor"})
        comps = _lines_of(orders, shop.planted.roles[rule.complement], "t_comp").rename({"item_id": "comp"})
        first = (
            anchors.join(comps, on="customer_id")
            .filter(pl.col("t_comp") > pl.col("t_anchor"))
            .group_by("customer_id", "anchor")
            .agg(pl.col("comp").sort_by("t_comp").first())
        )
        counts = first.group_by("anchor", "comp").len().sort("len", descending=True)
        for anchor, group in counts.group_by("anchor"):
            if group["len"].sum() >= 12:
                assert group["comp"][0] == shop.planted.matches[anchor[0]], (anchor, group)
                checked += 1
    assert checked >= 5


def test_durables_are_bought_at_most_once_per_customer(shop: Shop) -> None:
    for role in shop.planted.durables:
        counts = (
            shop.orders.filter(pl.col("item_id").is_in(list(shop.planted.roles[role])))
            .group_by("customer_id")
            .agg(pl.col("quantity").sum())
        )
        assert counts.height > 0
        assert (counts["quantity"] == 1).all(), role


# --- repeat cycles ----------------------------------------------------------------------------------------
def _median_gaps(shop: Shop, role: str) -> pl.DataFrame:
    """Per customer of ``role``: number of purchases and median gap in days between consecutive ones."""
    return (
        _timed(shop.orders)
        .filter(pl.col("item_id").is_in(list(shop.planted.roles[role])))
        .group_by("customer_id")
        .agg(
            pl.len().alias("purchases"),
            (pl.col("t").sort().diff().drop_nulls().median() / DAY_S).alias("median_gap"),
        )
    )


def test_coffee_buyers_buy_again_on_their_own_cycle(shop: Shop) -> None:
    cycles = shop.planted.coffee_cycles
    assert cycles.height > 0.2 * shop.config.customers
    gaps = _median_gaps(shop, "coffees")
    assert set(gaps["customer_id"].to_list()) <= set(cycles["customer_id"].to_list())  # no coffee outside cycles
    regular = gaps.filter(pl.col("purchases") >= 4).join(cycles, on="customer_id")
    assert regular.height > 0.8 * cycles.height
    close = ((regular["median_gap"] - regular["cycle_days"]).abs() <= 1.5).mean()
    assert close >= 0.9, close
    assert regular["cycle_days"].min() >= 10 and regular["cycle_days"].max() <= 18
    assert regular["cycle_days"].n_unique() >= 5  # each customer their own rhythm


def test_coffee_buyers_mostly_buy_their_favourite_coffee(shop: Shop) -> None:
    lines = shop.orders.join(shop.planted.coffee_cycles.rename({"item_id": "favourite"}), on="customer_id")
    lines = lines.filter(pl.col("item_id").is_in(list(shop.planted.coffees)))
    assert (lines["item_id"] == lines["favourite"]).mean() >= 0.8


def test_ink_repeats_every_four_to_six_weeks(shop: Shop) -> None:
    gaps = _median_gaps(shop, "inks").filter(pl.col("purchases") >= 3)
    assert gaps.height >= 30
    median = gaps["median_gap"].median()
    assert 28 <= median <= 42, median
    ink_cycles = shop.planted.cycles.filter(pl.col("role") == "inks")
    own = gaps.join(ink_cycles, on="customer_id")
    assert own.height == gaps.height  # every repeat ink buyer is on a planted cycle
    assert ((own["median_gap"] - own["cycle_days"]).abs() <= 3).mean() >= 0.9


def test_due_cycles_lists_coffee_buyers_due_at_the_end(shop: Shop) -> None:
    due = shop.due_cycles("coffees", tolerance_days=1.0)
    assert due.height > 0
    last = (
        _timed(shop.orders)
        .filter(pl.col("item_id").is_in(list(shop.planted.coffees)))
        .group_by("customer_id")
        .agg(pl.col("t").max().alias("last"))
    )
    checked = due.join(last, on="customer_id")
    assert checked.height == due.height
    end = shop.planted.end.timestamp()
    due_at = checked["last"] + checked["cycle_days"] * DAY_S
    assert ((due_at - end).abs() <= DAY_S).all()


# --- popularity and tastes ----------------------------------------------------------------------------
def test_popularity_is_skewed(shop: Shop) -> None:
    counts = shop.orders.group_by("item_id").len().sort("len", descending=True)["len"].to_numpy()
    top = counts[: max(1, len(counts) // 10)].sum() / counts.sum()
    assert top >= 0.4, top
    assert counts[0] > 20 * np.median(counts)


def _taste_concentration(shop: Shop) -> float:
    """Mean share of a customer's background lines (filler categories) within their own top 3 categories."""
    planted = {i for items in shop.planted.roles.values() for i in items}
    per_cat = (
        shop.orders.filter(~pl.col("item_id").is_in(list(planted)))
        .join(shop.catalog.select("item_id", "category"), on="item_id")
        .group_by("customer_id", "category")
        .len()
    )
    per_customer = (
        per_cat.group_by("customer_id")
        .agg(pl.col("len").sum().alias("total"), pl.col("len").top_k(3).sum().alias("top3"))
        .filter(pl.col("total") >= 10)
    )
    return float((per_customer["top3"] / per_customer["total"]).mean())


def test_customers_have_tastes_and_noise_blurs_them() -> None:
    tasteful = _taste_concentration(generate_shop(ShopConfig(customers=800, seed=3, noise=0.1)))
    random = _taste_concentration(generate_shop(ShopConfig(customers=800, seed=3, noise=1.0)))
    assert tasteful >= 0.75, tasteful
    assert tasteful - random >= 0.15, (tasteful, random)


def test_planted_tastes_are_the_categories_and_favourites_the_background_follows(shop: Shop) -> None:
    tastes = shop.planted.tastes
    per_customer = tastes.group_by("customer_id").len()
    assert len(per_customer) == shop.config.customers
    assert per_customer["len"].is_between(2, 4).all()
    assert tastes.n_unique(["customer_id", "category"]) == len(tastes), "a category at most once per customer"
    categories = tastes.join(shop.catalog.select("item_id", pl.col("category").alias("of_item")), on="item_id")
    assert len(categories) == len(tastes) and (categories["category"] == categories["of_item"]).all()
    lines = shop.orders.join(shop.catalog.select("item_id", "category"), on="item_id")
    in_taste = lines.join(tastes.select("customer_id", "category"), on=["customer_id", "category"], how="semi")
    favourite = lines.join(tastes.select("customer_id", "item_id"), on=["customer_id", "item_id"], how="semi")
    assert len(in_taste) / len(lines) >= 0.5, "most lines are in the customer's preferred categories"
    assert len(favourite) / len(in_taste) >= 0.2, "a favourite is a large share of its category's lines"


# --- files and speed ----------------------------------------------------------------------------------
def test_generate_writes_csv_files_that_read_back_identically(tmp_path: Path) -> None:
    paths = generate(tmp_path / "shop", customers=200, seed=4)
    assert set(paths) == {"orders", "catalog"}
    expected = generate_shop(ShopConfig(customers=200, seed=4))
    orders = pl.read_csv(paths["orders"], schema=expected.orders.schema)
    catalog = pl.read_csv(paths["catalog"], schema=expected.catalog.schema)
    assert orders.equals(expected.orders)
    assert catalog.equals(expected.catalog)
    again = write_shop(expected, tmp_path / "again")
    assert again["orders"].read_bytes() == paths["orders"].read_bytes()


def test_twenty_thousand_customers_generate_quickly() -> None:
    start = time.perf_counter()
    big = generate_shop(ShopConfig(customers=20_000, seed=2))
    elapsed = time.perf_counter() - start
    n_orders = big.orders["order_id"].n_unique()
    print(f"20k customers: {big.orders.height} lines, {n_orders} orders in {elapsed:.2f} s")
    assert big.orders["customer_id"].n_unique() == 20_000


@pytest.mark.parametrize("customers", [10, 50, 120])
def test_tiny_shops_generate_and_load(customers: int, tmp_path: Path) -> None:
    from recommender.data import load_orders

    paths = generate(tmp_path, customers=customers, seed=3)
    result = load_orders(paths["orders"], catalog_path=paths["catalog"])
    assert result.summary.rows_rejected == 0
    assert 0 < result.history.n_customers <= customers
