"""The storefront's events as training data: the exported event directory read, checked and weighted.

``recs events export --out DIR`` (``serving.feedback.export``) writes the event log as a Hive-partitioned
Parquet dataset, ``DIR/date=YYYY-MM-DD/part-<first stream id>.parquet``, one row per event and item with the
columns of ``EVENT_ROW_SCHEMA`` (declared here, once: the export writes it, ``load_events`` reads it).

``load_events`` turns the rows into two things:

- browsing signals: ``view`` and ``add_to_cart`` rows weighted by ``EventWeights`` (the typed config's
  ``events`` section). Only the collaborative "for you" models learn from them (``OrderHistory.interactions``).
- order lines: ``purchase`` rows, weight 1 like the order file's lines. A purchase whose ``order_id`` is in the
  order file already is dropped (counted: the storefront sent the order both ways), and so is a repeat of an
  (``order_id``, ``item_id``) sent again (a retry); one without ``order_id`` makes an order of its customer
  and second, as an order file line without order_id does.

``impression``, ``click`` and ``remove_from_cart`` rows are counted and not used. A row that cannot be used
(no customer, no item, no time, an unknown type, a purchase quantity not positive, a negative price) goes to
the rejects with its part file (``part``, relative to DIR), its 1-based row in it (``line``) and the reason.
Everything is vectorized (polars): no Python loop per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from recommender.data.columns import _C, _I, _O, _P, _Q, _T
from recommender.errors import UnreadableFileError

EVENT_ROW_SCHEMA = pa.schema(
    [
        ("stream_id", pa.string()),
        ("customer_id", pa.string()),
        ("type", pa.string()),
        ("at", pa.timestamp("s", tz="UTC")),
        ("item_id", pa.string()),
        ("position", pa.int32()),
        ("recommendation_id", pa.string()),
        ("order_id", pa.string()),
        ("quantity", pa.int32()),
        ("price", pa.float64()),
        ("line_cents", pa.int64()),
    ]
)
PART_GLOB = "date=*/part-*.parquet"  # the committed parts (temporary files start with a dot)
SIGNAL_TYPES = ("view", "add_to_cart")
IGNORED_TYPES = ("impression", "click", "remove_from_cart")
KNOWN_TYPES = (*SIGNAL_TYPES, "purchase", *IGNORED_TYPES)

MISSING_CUSTOMER = "empty customer_id"
MISSING_ITEM = "empty item_id"
MISSING_AT = "no event time"
UNKNOWN_TYPE = "unknown event type"
NON_POSITIVE_QUANTITY = "non-positive quantity"
NEGATIVE_PRICE = "negative price"
EVENT_REASONS = (MISSING_CUSTOMER, MISSING_ITEM, MISSING_AT, UNKNOWN_TYPE, NON_POSITIVE_QUANTITY, NEGATIVE_PRICE)


class EventWeights(BaseModel):
    """How much a browsing event counts next to a purchase (an order line counts 1).

    ``view_weight`` < ``add_to_cart_weight`` < 1. Defaults measured on the simulator (docs/feedback.md,
    "Retraining from events"; ``benchmarks/events_retrain.py``): next-day attributed purchases per 1,000
    impressions 59.9 (0.25, 0.5) and 59.9 (0.1, 0.3) with the most purchases and revenue at (0.25, 0.5), 54.0
    (0.5, 0.8), against 50.2 without events. They only matter with ``recs train --events``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    view_weight: float = Field(default=0.25, ge=0, le=1)
    add_to_cart_weight: float = Field(default=0.5, ge=0, le=1)


@dataclass(frozen=True)
class EventSummary:
    """Counts of one event load: every row is kept as a signal, a purchase line, dropped, ignored or rejected."""

    path: str
    parts: int
    rows_in: int
    signals_by_type: dict[str, int]
    purchase_lines: int  # purchase rows that became order lines
    purchases_in_orders: int  # dropped: their order_id is in the order file
    purchases_resent: int  # dropped: an (order_id, item_id) already read from an earlier event
    ignored_by_type: dict[str, int]
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    def lines(self) -> list[str]:
        used = ", ".join(f"{n:,} {kind}" for kind, n in self.signals_by_type.items()) or "none"
        ignored = ", ".join(f"{n:,} {kind}" for kind, n in self.ignored_by_type.items()) or "none"
        out = [
            f"events {self.path}: {self.rows_in:,} rows in {self.parts:,} parts; signals: {used}; "
            f"{self.purchase_lines:,} purchase lines used, {self.purchases_in_orders:,} already in the order file, "
            f"{self.purchases_resent:,} sent again; ignored: {ignored}; {self.rows_rejected:,} rejected"
        ]
        out += [f"  {n:,} {reason}" for reason, n in self.rejected_by_reason.items()]
        return out

    def metrics(self) -> dict[str, int]:
        """The counts under MLflow metric names (``events.*``)."""
        out = {f"events.signals.{kind}": n for kind, n in self.signals_by_type.items()}
        out.update(
            {
                "events.rows_in": self.rows_in,
                "events.purchase_lines": self.purchase_lines,
                "events.purchases_in_orders": self.purchases_in_orders,
                "events.purchases_resent": self.purchases_resent,
                "events.rows_rejected": self.rows_rejected,
            }
        )
        return out


@dataclass(frozen=True)
class EventLoad:
    """What ``load_events`` gives: weighted signals, purchase lines (the order loader's columns), rejects."""

    signals: pl.DataFrame  # customer_id, item_id, weight (Float32), at (Int64 seconds)
    purchases: pl.DataFrame  # _C, _I, _T, _O, _Q, _P: the kept order lines' columns
    rejects: pl.DataFrame  # source "events", part, line, reason, then the row's values as text
    summary: EventSummary


def _read_parts(directory: Path) -> tuple[pl.DataFrame, int]:
    """Every committed part's rows with ``part`` (relative path) and ``line`` (1-based row in the part)."""
    if not directory.is_dir():
        raise UnreadableFileError(f"{directory}: no such event directory (make one with `recs events export --out`)")
    parts = sorted(directory.glob(PART_GLOB))
    names = EVENT_ROW_SCHEMA.names
    empty = pl.from_arrow(EVENT_ROW_SCHEMA.empty_table())
    frames = []
    for part in parts:
        try:
            frame = pl.read_parquet(part)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise UnreadableFileError(f"{part}: not a readable Parquet part ({exc})") from exc
        missing = [name for name in ("customer_id", "type", "at", "item_id") if name not in frame.columns]
        if missing:
            raise UnreadableFileError(f"{part}: not an event export part (no column {', '.join(missing)})")
        frame = pl.concat([empty, frame.select([c for c in names if c in frame.columns])], how="diagonal_relaxed")
        frames.append(
            frame.with_columns(
                part=pl.lit(str(part.relative_to(directory))), line=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
            )
        )
    if not frames:
        return empty.with_columns(part=pl.lit("", pl.String), line=pl.lit(0, pl.Int64)).clear(), 0
    return pl.concat(frames, how="vertical_relaxed"), len(parts)


def _reason() -> pl.Expr:
    """The first reject reason of a row (null: usable)."""
    blank = lambda name: pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")  # noqa: E731
    purchase = pl.col("type") == "purchase"
    return (
        pl.when(blank("customer_id"))
        .then(pl.lit(MISSING_CUSTOMER))
        .when(blank("item_id"))
        .then(pl.lit(MISSING_ITEM))
        .when(pl.col("at").is_null())
        .then(pl.lit(MISSING_AT))
        .when(~pl.col("type").is_in(KNOWN_TYPES) | pl.col("type").is_null())
        .then(pl.lit(UNKNOWN_TYPE))
        .when(purchase & (pl.col("quantity").fill_null(1) <= 0))
        .then(pl.lit(NON_POSITIVE_QUANTITY))
        .when(purchase & (pl.col("price").fill_null(0.0) < 0))
        .then(pl.lit(NEGATIVE_PRICE))
        .otherwise(None)
    )


def _counts(frame: pl.DataFrame, column: str, order: tuple[str, ...]) -> dict[str, int]:
    found = dict(frame.get_column(column).value_counts().iter_rows())
    return {key: int(found[key]) for key in order if key in found}


def load_events(directory: str | Path, weights: EventWeights, order_ids: pl.Series) -> EventLoad:
    """Read an exported event directory; ``order_ids``: the order file's order ids (purchases in it are dropped).

    Raises ``UnreadableFileError`` when the directory is missing or a part is not an event export part.
    """
    directory = Path(directory)
    rows, n_parts = _read_parts(directory)
    rows = rows.with_columns(
        _reason().alias("reason"),
        pl.col("customer_id").str.strip_chars(),
        pl.col("item_id").str.strip_chars(),
        pl.col("order_id").str.strip_chars().fill_null(""),
    )
    bad = rows.filter(pl.col("reason").is_not_null())
    rejects = bad.select(
        pl.lit("events").alias("source"),
        "part",
        "line",
        "reason",
        *(pl.col(c).cast(pl.String) for c in EVENT_ROW_SCHEMA.names),
    )
    good = rows.filter(pl.col("reason").is_null()).with_columns(pl.col("at").dt.epoch("s").alias("seconds"))

    weight = pl.when(pl.col("type") == "view").then(weights.view_weight).otherwise(weights.add_to_cart_weight)
    signals = good.filter(pl.col("type").is_in(SIGNAL_TYPES)).select(
        "customer_id", "item_id", weight.cast(pl.Float32).alias("weight"), pl.col("seconds").alias("at")
    )
    signals_by_type = _counts(good.filter(pl.col("type").is_in(SIGNAL_TYPES)), "type", SIGNAL_TYPES)
    signals = signals.filter(pl.col("weight") > 0)

    bought = good.filter(pl.col("type") == "purchase").sort("stream_id", "position")
    known = order_ids.filter(order_ids != "").unique()
    in_orders = (pl.col("order_id") != "") & pl.col("order_id").is_in(known.implode())
    n_in_orders = bought.filter(in_orders).height
    bought = bought.filter(~in_orders)
    with_id = bought.filter(pl.col("order_id") != "")
    first = with_id.unique(["order_id", "item_id"], keep="first", maintain_order=True)
    bought = pl.concat([first, bought.filter(pl.col("order_id") == "")])
    purchases = bought.select(
        pl.col("customer_id").alias(_C),
        pl.col("item_id").alias(_I),
        pl.col("seconds").alias(_T),
        pl.col("order_id").alias(_O),
        pl.col("quantity").fill_null(1).cast(pl.Float64).alias(_Q),
        pl.col("price").fill_null(float("nan")).cast(pl.Float64).alias(_P),
    )
    summary = EventSummary(
        path=str(directory),
        parts=n_parts,
        rows_in=rows.height,
        signals_by_type=signals_by_type,
        purchase_lines=purchases.height,
        purchases_in_orders=n_in_orders,
        purchases_resent=with_id.height - first.height,
        ignored_by_type=_counts(good.filter(pl.col("type").is_in(IGNORED_TYPES)), "type", IGNORED_TYPES),
        rejected_by_reason=_counts(bad, "reason", EVENT_REASONS),
    )
    return EventLoad(signals=signals, purchases=purchases, rejects=rejects, summary=summary)
