"""The synthetic shop behind ``recs generate``: a realistic order history and catalog with planted facts.

Deterministic per seed (one ``np.random.default_rng(seed)`` passed down), vectorized (no loop per order
line or per customer: 100k customers / ~2M lines take seconds). What the generated shop contains:

- **Catalog**: 19 categories (Tents, Sleeping Bags, Cameras, Memory Cards, Printers, Printer Ink, Coffee,
  Tea, Snacks, Books, Kitchen, Toys, Board Games, Headphones, Outdoor Gear, Stationery, Personal Care,
  Pet Supplies, Garden) with names and prices; readable ids for the planted items (``tent-2p-explorer``,
  ``sleeping-bag-down``, ``coffee-house-blend``...) and filler ids such as ``books-novel-017``. About 3% of
  the filler items, and ``sleeping-bag-winter``, are out of stock (they still appear in past orders).
- **Popularity skew**: Zipf-like popularity of categories and of items within each category.
- **Tastes**: every customer prefers 2-4 categories and has a favourite item in each; the ``noise`` share
  of their background lines ignores tastes and follows global popularity instead.
- **Directional complements** (category level, with item-level variation: each anchor item has a matching
  complement, bought 60% of the time, else a popular one of the kind):
  - tent -> sleeping bag: ~72% of tent buyers buy a sleeping bag 1-10 days after the tent; sleeping bags
    are never bought before a tent (a few customers, ~1.5%, buy a sleeping bag alone);
  - camera -> memory card: ~70% of camera buyers buy a memory card 1-7 days later (~2% buy one alone);
  - printer -> ink: ~85% of printer buyers buy the printer's ink 1-7 days later, then again every 4-6
    weeks (each customer their own 28-42 day cycle, +-2 days jitter); ~2% of customers buy ink on such a
    cycle without a printer in the history (they own one from before).
  Tents, cameras and printers are durables: bought at most once per customer, never as noise.
- **Repeat cycles**: ~30% of customers buy coffee every 10-18 days (their own cycle, +-1 day jitter,
  their favourite coffee ~90% of the time, a skipped cycle now and then); ~12% buy tea every 21-35 days.
- **Background / noise**: every customer places 1 + Poisson(activity) background orders of filler items
  (activity is heavy-tailed, ~1.4 orders a month on average), baskets of 1 + Poisson(0.7) lines; ~20% of
  planted orders get one or two add-on lines too. Quantities are mostly 1.

``Shop.planted`` names the item ids per role, the complement rules with their day windows, the
durables, the out-of-stock items and every customer's repeat cycle (``cycles``; ``coffee_cycles``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

DAY = 86_400  # seconds
ORDERS_FILE = "orders.csv"
CATALOG_FILE = "catalog.csv"
ORDER_COLUMNS = ("customer_id", "item_id", "ordered_at", "order_id", "quantity", "price")
CATALOG_COLUMNS = ("item_id", "name", "category", "in_stock", "price")
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


# --- what the shop sells ----------------------------------------------------------------------------
class _Named(NamedTuple):
    item_id: str
    name: str
    price: float
    match: str = ""  # the complement this anchor item goes with, if any


class _Role(NamedTuple):
    role: str
    category: str
    items: tuple[_Named, ...]  # most popular first


ROLES: tuple[_Role, ...] = (
    _Role(
        "tents",
        "Tents",
        (
            _Named("tent-2p-explorer", "Explorer 2-Person Tent", 179.0, "sleeping-bag-synthetic"),
            _Named("tent-4p-family", "Family 4-Person Tent", 349.0, "sleeping-bag-kids"),
            _Named("tent-1p-ultralight", "Ultralight 1-Person Tent", 249.0, "sleeping-bag-down"),
            _Named("tent-3p-summit", "Summit 3-Person Tent", 299.0, "sleeping-bag-winter"),
            _Named("tent-6p-basecamp", "Basecamp 6-Person Tent", 499.0, "sleeping-bag-summer"),
        ),
    ),
    _Role(
        "sleeping_bags",
        "Sleeping Bags",
        (
            _Named("sleeping-bag-synthetic", "Synthetic Sleeping Bag", 89.0),
            _Named("sleeping-bag-down", "Down Sleeping Bag", 189.0),
            _Named("sleeping-bag-kids", "Kids Sleeping Bag", 49.0),
            _Named("sleeping-bag-summer", "Summer Sleeping Bag", 39.0),
            _Named("sleeping-bag-winter", "Winter Sleeping Bag -20C", 229.0),
        ),
    ),
    _Role(
        "cameras",
        "Cameras",
        (
            _Named("camera-compact-s10", "Compact Camera S10", 299.0, "memory-card-sd-64gb"),
            _Named("camera-mirrorless-m50", "Mirrorless Camera M50", 749.0, "memory-card-sd-128gb"),
            _Named("camera-action-go4", "Action Camera GO4", 349.0, "memory-card-microsd-256gb"),
            _Named("camera-dslr-d750", "DSLR Camera D750", 1299.0, "memory-card-sd-256gb-pro"),
        ),
    ),
    _Role(
        "memory_cards",
        "Memory Cards",
        (
            _Named("memory-card-sd-64gb", "SD Card 64 GB", 19.0),
            _Named("memory-card-sd-128gb", "SD Card 128 GB", 29.0),
            _Named("memory-card-microsd-256gb", "microSD Card 256 GB", 39.0),
            _Named("memory-card-sd-256gb-pro", "SD Card 256 GB Pro", 69.0),
        ),
    ),
    _Role(
        "printers",
        "Printers",
        (
            _Named("printer-inkjet-home", "Home Inkjet Printer", 89.0, "ink-home-combo"),
            _Named("printer-inkjet-office", "Office Inkjet Printer", 199.0, "ink-office-xl"),
            _Named("printer-inkjet-photo", "Photo Inkjet Printer", 249.0, "ink-photo-6color"),
        ),
    ),
    _Role(
        "inks",
        "Printer Ink",
        (
            _Named("ink-home-combo", "Home Ink Combo Pack", 34.0),
            _Named("ink-office-xl", "Office XL Ink Cartridges", 49.0),
            _Named("ink-photo-6color", "Photo Ink 6-Color Pack", 59.0),
        ),
    ),
    _Role(
        "coffees",
        "Coffee",
        (
            _Named("coffee-house-blend", "House Blend Coffee 1 kg", 18.0),
            _Named("coffee-espresso-roast", "Espresso Roast 1 kg", 21.0),
            _Named("coffee-dark-roast", "Dark Roast Coffee 1 kg", 19.0),
            _Named("coffee-decaf", "Decaf Coffee 500 g", 14.0),
            _Named("coffee-ethiopia-single-origin", "Ethiopia Single Origin 500 g", 16.0),
        ),
    ),
    _Role(
        "teas",
        "Tea",
        (
            _Named("tea-earl-grey", "Earl Grey Tea 100 bags", 9.0),
            _Named("tea-green-sencha", "Green Sencha Tea 100 g", 11.0),
            _Named("tea-english-breakfast", "English Breakfast Tea 100 bags", 8.0),
            _Named("tea-chamomile", "Chamomile Tea 50 bags", 7.0),
        ),
    ),
)


class _Filler(NamedTuple):
    category: str
    slug: str
    base_price: float
    nouns: tuple[str, ...]


# Background categories, most popular first (Zipf weights by rank). Tea also holds the named teas.
FILLERS: tuple[_Filler, ...] = (
    _Filler("Snacks", "snacks", 4.0, ("Crackers", "Trail Mix", "Chocolate Bar", "Granola", "Chips", "Cookies")),
    _Filler("Books", "books", 16.0, ("Novel", "Cookbook", "Travel Guide", "Biography", "Comic", "Atlas")),
    _Filler("Kitchen", "kitchen", 25.0, ("Pan", "Knife", "Cutting Board", "Mug", "Kettle", "Grinder")),
    _Filler("Personal Care", "care", 9.0, ("Shampoo", "Soap", "Toothpaste", "Lotion", "Razor", "Sunscreen")),
    _Filler("Toys", "toys", 20.0, ("Puzzle", "Building Set", "Plush Bear", "Toy Car", "Kite", "Yo-Yo")),
    _Filler("Tea", "tea", 8.0, ("Herbal Blend", "Loose Leaf", "Matcha", "Rooibos", "Chai", "Peppermint")),
    _Filler("Stationery", "stationery", 6.0, ("Notebook", "Pen Set", "Planner", "Pencils", "Stapler", "Folder")),
    _Filler("Headphones", "headphones", 60.0, ("Earbuds", "Headset", "Over-Ear", "Sport Buds", "Case", "Cable")),
    _Filler("Outdoor Gear", "outdoor", 30.0, ("Headlamp", "Camp Stove", "Water Filter", "Compass", "Mat", "Bottle")),
    _Filler("Pet Supplies", "pets", 12.0, ("Dog Treats", "Cat Litter", "Leash", "Pet Bed", "Chew Toy", "Bowl")),
    _Filler("Board Games", "games", 35.0, ("Strategy Game", "Card Game", "Party Game", "Dice Set", "Quiz", "Chess")),
    _Filler("Garden", "garden", 15.0, ("Seeds", "Trowel", "Planter", "Hose", "Gloves", "Fertilizer")),
)
ADJECTIVES: tuple[str, ...] = (
    "Classic", "Deluxe", "Compact", "Everyday", "Premium", "Organic", "Nordic", "Urban",
    "Eco", "Pro", "Mini", "Family", "Vintage", "Smart", "Travel", "Essential",
)  # fmt: skip
OUT_OF_STOCK_NAMED: tuple[str, ...] = ("sleeping-bag-winter",)


# --- the rules planted in the behaviour (shares are of all customers unless said otherwise) ---------
class ComplementRule(NamedTuple):
    """``share`` of the ``anchor`` buyers buy a ``complement`` ``min_days..max_days`` days after it."""

    anchor: str
    complement: str
    anchor_share: float  # of customers buying one anchor item
    share: float  # of anchor buyers then buying the complement
    min_days: int
    max_days: int
    standalone_share: float  # of the other customers buying the complement alone (no anchor)

    @property
    def window_days(self) -> int:
        return self.max_days


class CycleRule(NamedTuple):
    """``share`` of customers buy ``role`` every ``min_days..max_days`` days (their own cycle), +-jitter."""

    role: str
    share: float
    min_days: int
    max_days: int
    jitter_days: int


COMPLEMENT_RULES: tuple[ComplementRule, ...] = (
    ComplementRule("tents", "sleeping_bags", 0.06, 0.72, 1, 10, 0.015),
    ComplementRule("cameras", "memory_cards", 0.05, 0.70, 1, 7, 0.02),
    ComplementRule("printers", "inks", 0.04, 0.85, 1, 7, 0.0),  # ink then repeats: INK_CYCLE
)
INK_CYCLE = CycleRule("inks", 0.02, 28, 42, 2)  # share: customers on an ink cycle with no printer in the history
CYCLE_RULES: tuple[CycleRule, ...] = (
    CycleRule("coffees", 0.30, 10, 18, 1),
    CycleRule("teas", 0.12, 21, 35, 2),
)
DURABLES: tuple[str, ...] = ("tents", "cameras", "printers")
MATCH_PROB = 0.6  # an anchor's matching complement item, else a popular one of the kind
INK_MATCH_PROB = 0.95  # inks fit their printer
FAVOURITE_PROB = 0.9  # a cycle purchase is the customer's favourite item of the kind
SKIP_PROB = 0.05  # a cycle purchase is skipped now and then
TASTE_FAVOURITE_PROB = 0.3  # a background line in a taste category is the customer's favourite there
ADDON_PROB = 0.2  # a planted order gets add-on background lines
BASKET_EXTRA = 0.7  # background basket size is 1 + Poisson(BASKET_EXTRA)
ITEM_ZIPF = 1.0
CATEGORY_ZIPF = 0.7
OUT_OF_STOCK_SHARE = 0.03
OPEN_SECONDS = (7 * 3600, 23 * 3600)  # orders are placed between 07:00 and 23:00 UTC


# --- config and result ------------------------------------------------------------------------------
class ShopConfig(BaseModel):
    """How big and how noisy the generated shop is. The catalog size does not grow with ``customers``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customers: int = Field(2000, ge=1, description="number of customers; each places at least one order")
    items: int = Field(500, description="catalog size: the planted items plus filler items across categories")
    days: int = Field(180, ge=14, le=3650, description="length of the history in days, ending on `end`")
    end: dt.date = Field(dt.date(2026, 6, 30), description="last day of the history (UTC), included")
    seed: int = Field(7, ge=0)
    noise: float = Field(0.2, ge=0.0, le=1.0, description="share of background lines that ignore tastes")
    orders_per_month: float = Field(1.4, ge=0.0, description="mean background orders per customer and 30 days")

    @model_validator(mode="after")
    def _enough_items(self) -> ShopConfig:
        needed = sum(len(r.items) for r in ROLES) + len(FILLERS)
        if self.items < needed:
            raise ValueError(f"items must be at least {needed} (the planted items and one filler per category)")
        return self

    @property
    def start_time(self) -> int:
        """Unix seconds of the first instant of the history."""
        return self.end_time - self.days * DAY

    @property
    def end_time(self) -> int:
        """Unix seconds just after the last instant of the history (midnight after ``end``)."""
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        return int(end.timestamp())


@dataclass(frozen=True)
class Planted:
    """The facts the generator planted, for tests, demos and benchmarks to check against."""

    roles: dict[str, tuple[str, ...]]  # role -> item ids, most popular first
    complements: tuple[ComplementRule, ...]
    cycle_rules: tuple[CycleRule, ...]  # coffee, tea and ink cycles
    durables: tuple[str, ...]  # roles bought at most once per customer
    matches: dict[str, str]  # anchor item id -> its matching complement item id
    out_of_stock: tuple[str, ...]
    cycles: pl.DataFrame  # customer_id, role, item_id (favourite), cycle_days
    start: dt.datetime  # first instant of the history (UTC)
    end: dt.datetime  # just after the last instant (midnight after the config's end day, UTC)

    @property
    def tents(self) -> tuple[str, ...]:
        return self.roles["tents"]

    @property
    def sleeping_bags(self) -> tuple[str, ...]:
        return self.roles["sleeping_bags"]

    @property
    def cameras(self) -> tuple[str, ...]:
        return self.roles["cameras"]

    @property
    def memory_cards(self) -> tuple[str, ...]:
        return self.roles["memory_cards"]

    @property
    def printers(self) -> tuple[str, ...]:
        return self.roles["printers"]

    @property
    def inks(self) -> tuple[str, ...]:
        return self.roles["inks"]

    @property
    def coffees(self) -> tuple[str, ...]:
        return self.roles["coffees"]

    @property
    def teas(self) -> tuple[str, ...]:
        return self.roles["teas"]

    @property
    def coffee_cycles(self) -> pl.DataFrame:
        """customer_id, item_id (favourite coffee), cycle_days: one row per coffee customer."""
        return self.cycles.filter(pl.col("role") == "coffees").drop("role")

    def complement(self, anchor: str) -> ComplementRule:
        """The rule whose anchor role is ``anchor`` (e.g. "tents")."""
        for rule in self.complements:
            if rule.anchor == anchor:
                return rule
        raise KeyError(f"no complement rule for {anchor!r}; anchors: {[r.anchor for r in self.complements]}")


@dataclass(frozen=True)
class Shop:
    """Generated orders (one row per order line, sorted by time) and catalog, plus the planted facts."""

    orders: pl.DataFrame  # ORDER_COLUMNS
    catalog: pl.DataFrame  # CATALOG_COLUMNS
    planted: Planted
    config: ShopConfig

    def due_cycles(self, role: str = "coffees", tolerance_days: float = 1.0) -> pl.DataFrame:
        """Cycle customers of ``role`` whose next purchase is due at the end of the history.

        Due means: last purchase of the role + own cycle lies within ``tolerance_days`` of ``planted.end``.
        Columns: customer_id, item_id, cycle_days, last_ordered_at (datetime), due_in_days (float).
        """
        role_items = list(self.planted.roles[role])
        end = self.planted.end
        last = (
            self.orders.filter(pl.col("item_id").is_in(role_items))
            .group_by("customer_id")
            .agg(pl.col("ordered_at").str.to_datetime(ISO_FORMAT, time_zone="UTC").max().alias("last_ordered_at"))
        )
        cycles = self.planted.cycles.filter(pl.col("role") == role).drop("role")
        due = (pl.col("last_ordered_at") + pl.duration(days=pl.col("cycle_days")) - pl.lit(end)).dt.total_seconds()
        return (
            cycles.join(last, on="customer_id", how="inner")
            .with_columns((due / DAY).alias("due_in_days"))
            .filter(pl.col("due_in_days").abs() <= tolerance_days)
            .sort("customer_id")
        )


# --- catalog ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Catalog:
    ids: np.ndarray  # str per item
    names: np.ndarray  # str per item
    category: np.ndarray  # str per item
    price: np.ndarray  # float64 per item
    in_stock: np.ndarray  # bool per item
    roles: dict[str, np.ndarray]  # role -> item indices, most popular first
    match: np.ndarray  # int per item: the matching complement item index, -1 if none
    pool_item: np.ndarray  # background item indices grouped by background category
    pool_cum: np.ndarray  # category position + within-category cumulative popularity, per pool entry
    category_weight: np.ndarray  # popularity of each background category (sums to 1)


def _zipf(n: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return w / w.sum()


def _filler_counts(n_fill: int, rng: np.random.Generator) -> np.ndarray:
    """How many filler items each background category gets: at least one, roughly even, random."""
    share = rng.dirichlet(np.full(len(FILLERS), 8.0))
    counts = 1 + np.floor(share * (n_fill - len(FILLERS))).astype(np.int64)
    counts[np.argsort(-share)[: n_fill - counts.sum()]] += 1
    return counts


def _filler_items(filler: _Filler, count: int, rng: np.random.Generator) -> list[tuple[str, str, float]]:
    """``count`` (id, name, price) rows of one background category: readable ids, distinct names."""
    n_combo = len(ADJECTIVES) * len(filler.nouns)
    combo = rng.permutation(n_combo)[np.arange(count) % n_combo]
    prices = np.round(filler.base_price * rng.lognormal(0.0, 0.45, count)) - 0.01
    rows = []
    for j in range(count):
        adj, noun = ADJECTIVES[combo[j] % len(ADJECTIVES)], filler.nouns[combo[j] // len(ADJECTIVES)]
        suffix = "" if j < n_combo else f" {j // n_combo + 1}"
        noun_slug = noun.lower().replace(" ", "-")
        rows.append((f"{filler.slug}-{noun_slug}-{j + 1:03d}", f"{adj} {noun}{suffix}", float(max(prices[j], 0.99))))
    return rows


def _build_catalog(cfg: ShopConfig, rng: np.random.Generator) -> _Catalog:
    ids: list[str] = []
    names: list[str] = []
    cats: list[str] = []
    prices: list[float] = []
    roles: dict[str, np.ndarray] = {}
    for role in ROLES:
        roles[role.role] = np.arange(len(ids), len(ids) + len(role.items))
        ids += [it.item_id for it in role.items]
        names += [it.name for it in role.items]
        cats += [role.category] * len(role.items)
        prices += [it.price for it in role.items]
    n_named = len(ids)
    counts = _filler_counts(cfg.items - n_named, rng)
    pool_item: list[np.ndarray] = []
    pool_cum: list[np.ndarray] = []
    for pos, (filler, count) in enumerate(zip(FILLERS, counts, strict=True)):
        first = len(ids)
        for item_id, name, price in _filler_items(filler, int(count), rng):
            ids.append(item_id)
            names.append(name)
            cats.append(filler.category)
            prices.append(price)
        members = np.arange(first, len(ids))
        if filler.category == "Tea":
            members = np.concatenate([roles["teas"], members])
        members = rng.permutation(members)  # popularity rank within the category
        cum = np.cumsum(_zipf(len(members), ITEM_ZIPF))
        cum[-1] = 1.0
        pool_item.append(members)
        pool_cum.append(pos + cum)
    id_arr = np.array(ids)
    index = {item_id: i for i, item_id in enumerate(ids)}
    match = np.full(len(ids), -1, dtype=np.int64)
    for role in ROLES:
        for it in role.items:
            if it.match:
                match[index[it.item_id]] = index[it.match]
    in_stock = rng.random(len(ids)) >= OUT_OF_STOCK_SHARE
    in_stock[:n_named] = True
    in_stock[[index[i] for i in OUT_OF_STOCK_NAMED]] = False
    return _Catalog(
        ids=id_arr,
        names=np.array(names),
        category=np.array(cats),
        price=np.array(prices),
        in_stock=in_stock,
        roles=roles,
        match=match,
        pool_item=np.concatenate(pool_item),
        pool_cum=np.concatenate(pool_cum),
        category_weight=_zipf(len(FILLERS), CATEGORY_ZIPF),
    )


# --- customers and their background purchases -------------------------------------------------------
@dataclass(frozen=True)
class _People:
    taste: np.ndarray  # (n, 4) background category positions, the first n_taste of them used
    n_taste: np.ndarray  # 2..4 per customer
    favourite: np.ndarray  # (n, 4) favourite item per taste slot
    activity: np.ndarray  # mean background orders over the period, per customer


def _sample_in_category(cat: _Catalog, category_pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One item per entry, following popularity within the given background category positions."""
    at = np.searchsorted(cat.pool_cum, category_pos + rng.random(len(category_pos)), side="right")
    return cat.pool_item[np.minimum(at, len(cat.pool_item) - 1)]


def _draw_people(cfg: ShopConfig, cat: _Catalog, rng: np.random.Generator) -> _People:
    n = cfg.customers
    gumbel = np.log(cat.category_weight)[None, :] + rng.gumbel(size=(n, len(FILLERS)))
    taste = np.argsort(-gumbel, axis=1)[:, :4]  # categories without replacement, by popularity
    favourite = _sample_in_category(cat, taste.ravel(), rng).reshape(taste.shape)
    mean_orders = cfg.orders_per_month * cfg.days / 30.0
    activity = mean_orders * rng.gamma(1.2, 1.0 / 1.2, n)
    return _People(taste=taste, n_taste=rng.integers(2, 5, n), favourite=favourite, activity=activity)


def _background_items(
    cfg: ShopConfig, cat: _Catalog, people: _People, customer: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One background item per entry of ``customer``: tastes and favourites, or noise by popularity."""
    slot = (rng.random(len(customer)) * people.n_taste[customer]).astype(np.int64)
    category = people.taste[customer, slot]
    noise = rng.random(len(customer)) < cfg.noise
    category[noise] = rng.choice(len(FILLERS), size=int(noise.sum()), p=cat.category_weight)
    item = _sample_in_category(cat, category, rng)
    fav = ~noise & (rng.random(len(customer)) < TASTE_FAVOURITE_PROB)
    item[fav] = people.favourite[customer[fav], slot[fav]]
    return item


# --- order lines ------------------------------------------------------------------------------------
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


# --- assembling the frames --------------------------------------------------------------------------
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


def _planted(cfg: ShopConfig, cat: _Catalog, cycles: pl.DataFrame) -> Planted:
    return Planted(
        roles={role: tuple(cat.ids[idx].tolist()) for role, idx in cat.roles.items()},
        complements=COMPLEMENT_RULES,
        cycle_rules=(*CYCLE_RULES, INK_CYCLE),
        durables=DURABLES,
        matches={it.item_id: it.match for r in ROLES for it in r.items if it.match},
        out_of_stock=tuple(cat.ids[~cat.in_stock].tolist()),
        cycles=cycles,
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
        planted=_planted(cfg, cat, _cycles_frame(cfg, cat, cycle_owners)),
        config=cfg,
    )


def write_shop(shop: Shop, out_dir: str | Path) -> dict[str, Path]:
    """Write ``orders.csv`` and ``catalog.csv`` under ``out_dir`` (created if needed); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"orders": out / ORDERS_FILE, "catalog": out / CATALOG_FILE}
    shop.orders.write_csv(paths["orders"])
    shop.catalog.write_csv(paths["catalog"])
    return paths


def generate(out_dir: str | Path, customers: int = 2000, seed: int = 7) -> dict[str, Path]:
    """``recs generate``: a default shop of ``customers`` customers written to ``out_dir``."""
    return write_shop(generate_shop(ShopConfig(customers=customers, seed=seed)), out_dir)
