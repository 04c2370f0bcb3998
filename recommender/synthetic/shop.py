"""The synthetic shop's config (``ShopConfig``) and result (``Shop`` and its ``Planted`` facts).

Also the format of the generated frames: ``ISO_FORMAT``, and the file columns of ``recommender.data.columns``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from recommender.history import DAY
from recommender.synthetic.products import FILLERS, ROLES
from recommender.synthetic.rules import ComplementRule, CycleRule

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# the shop ``recs demo`` generates, trains on and serves, and the one ``recs simulate`` shops in by default
DEMO_CUSTOMERS = 5000
DEMO_SEED = 7


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
    tastes: pl.DataFrame  # customer_id, slot (0..3), category, item_id (favourite there): 2-4 rows per customer
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

    orders: pl.DataFrame  # recommender.data.columns.ORDER_COLUMNS
    catalog: pl.DataFrame  # recommender.data.columns.CATALOG_COLUMNS
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
