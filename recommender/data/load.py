"""``load_orders``: an orders file (and an optional catalog) read, validated and indexed into an ``OrderHistory``.

Each file is read as strings (``readers``), blank lines are dropped, rows are validated (``validation``), the
kept order lines get dense customer and item indices and one order key per line, and the rejected rows go to
the rejects frame (``rejects``) with the counts in the ``LoadSummary``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from recommender.data.columns import (
    _C,
    _CATEGORY,
    _I,
    _IN_STOCK,
    _NAME,
    _O,
    _P,
    _POS,
    _Q,
    _REASON,
    _T,
    CATALOG_COLUMNS,
    CATALOG_REQUIRED,
    ORDER_COLUMNS,
    ORDER_REQUIRED,
)
from recommender.data.columns import BLANK as _BLANK
from recommender.data.columns import EXTRA as _EXTRA
from recommender.data.events import EventLoad, EventWeights, load_events
from recommender.data.readers import IndexedLines, RawTable, TableReader, read_table
from recommender.data.rejects import _EMPTY_REJECTS, _count_reasons, _rejects_of
from recommender.data.results import LoadResult, LoadSummary
from recommender.data.validation import (
    CATALOG_REASONS,
    ORDER_REASONS,
    SHARED_ORDER,
    _mark,
    _validate_catalog,
    _validate_orders,
    shared_order_lines,
)
from recommender.history import Catalog, OrderHistory, Signals
from recommender.ids import IdMap

# reading -------------------------------------------------------------------------------------------


def not_blank(columns: Sequence[str]) -> pl.Expr:
    """A row with at least one non-empty field among ``columns`` (the input columns) and ``EXTRA``."""
    return pl.any_horizontal(pl.col(c).is_not_null() & (pl.col(c) != "") for c in [*columns, _EXTRA])


def _drop_blank(table: RawTable) -> tuple[pl.DataFrame, int]:
    """Rows with at least one non-empty field (and the count of the others)."""
    if not table.columns:
        return table.frame, 0
    if table.indexed is not None:  # the reader flagged the blank rows (and validated the others)
        kept = table.frame.filter(~pl.col(_BLANK)).drop(_BLANK)
    else:
        kept = table.frame.filter(not_blank(table.columns))
    return kept.with_row_index(_POS), table.frame.height - kept.height


# orders --------------------------------------------------------------------------------------------


def _dense(values: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """Sorted unique values and the index (int32) of every value in them (a hash join, not a search)."""
    uniq = values.unique().sort()
    index = (
        values.to_frame("v")
        .join(uniq.to_frame("v").with_row_index("ix"), on="v", how="left", maintain_order="left")
        .get_column("ix")
    )
    return uniq, index.to_numpy().astype(np.int32)


def _order_keys(has_oid: np.ndarray, order: np.ndarray, customer: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """The order key of every line: ``-1 - index of its order_id``, or ``(customer << 32) | ordered_at`` when it
    has no order_id (``seconds`` within [0, 2**32): see timestamps.MAX_SECONDS)."""
    return np.where(has_oid, -1 - order.astype(np.int64), (customer.astype(np.int64) << 32) | seconds)


@dataclass(frozen=True)
class _OrderLines:
    """Kept order lines, with customers indexed and one int64 order key per line."""

    kept: pl.DataFrame
    customers: pl.Series  # sorted unique customer ids
    customer: np.ndarray  # int32 index into customers, per kept line
    order_key: np.ndarray  # int64 per kept line; equal keys = one order
    # when the reader indexed the kept lines (``RawTable.indexed``), kept's ids are indices into these:
    items: pl.Series | None = None  # sorted unique item ids of the kept lines
    order_ids: pl.Series | None = None  # sorted unique order ids of the kept lines

    def with_strings(self) -> _OrderLines:
        """These lines with kept's ids as strings (what events are merged with)."""
        if self.items is None or self.order_ids is None:
            return self
        ids = ((_C, self.customers), (_I, self.items), (_O, self.order_ids))
        kept = self.kept.with_columns(values.gather(self.kept.get_column(name)).alias(name) for name, values in ids)
        return _OrderLines(kept, self.customers, self.customer, self.order_key)

    def item_index(self, others: Sequence[pl.Series]) -> tuple[pl.Series, np.ndarray]:
        """Sorted unique item ids of the kept lines and ``others``, and the index of each (kept's, then others')."""
        if self.items is None:
            return _dense(pl.concat([self.kept.get_column(_I), *others]))
        items, index = _dense(pl.concat([self.items, *others]))
        mine = index[: len(self.items)][self.kept.get_column(_I).to_numpy()]
        return items, np.concatenate([mine, index[len(self.items) :]])


def _index_orders(frame: pl.DataFrame, check_shared: bool) -> tuple[pl.DataFrame, _OrderLines]:
    """Reject lines of an order_id owned by another customer, and index the lines that are left.

    An order_id belongs to the customer of its first line in the file. The order key of a line is
    ``-1 - index of its order_id``, or ``(customer << 32) | ordered_at`` when it has no order_id.
    """
    valid = frame.select(_POS, _C, _I, _T, _O, _Q, _P).filter(frame.get_column(_REASON).is_null())
    customers, customer = _dense(valid.get_column(_C))
    _, order = _dense(valid.get_column(_O))
    has_oid = (valid.get_column(_O) != "").to_numpy()
    if check_shared:
        shared = shared_order_lines(customer, order, has_oid)
        if shared.any():
            frame = _mark(frame, valid.get_column(_POS), pl.Series(shared), SHARED_ORDER)
            keep = ~shared
            valid, customer, order, has_oid = valid.filter(keep), customer[keep], order[keep], has_oid[keep]
            used, customer = np.unique(customer, return_inverse=True)
            customers, customer = customers.gather(used), customer.astype(np.int32)
    key = _order_keys(has_oid, order, customer, valid.get_column(_T).to_numpy())
    return frame, _OrderLines(valid, customers, customer, key)


def _indexed_lines(indexed: IndexedLines) -> _OrderLines:
    """The kept lines of a file its reader validated and indexed: what ``_index_orders`` gives, the ids left
    as indices into the sorted unique ids of the kept lines."""
    lines, ids = indexed.lines, indexed.ids
    customer = lines.get_column(_C).to_numpy().astype(np.int32)
    order = lines.get_column(_O).to_numpy().astype(np.int32)
    no_oid = ids[_O].index_of("")  # sorted: 0 when some line has none
    has_oid = order != (-1 if no_oid is None else no_oid)
    key = _order_keys(has_oid, order, customer, lines.get_column(_T).to_numpy())
    return _OrderLines(lines, ids[_C], customer, key, ids[_I], ids[_O])


@dataclass(frozen=True)
class _Part:
    """What one file gave: kept rows, rejects, and the counts for the summary."""

    kept: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int
    by_reason: dict[str, int]
    blank_lines: int


def _load_order_lines(path: Path, reader: TableReader) -> tuple[_Part, _OrderLines]:
    """The kept lines (indexed) and rejects of an orders file."""
    table = reader(path, ORDER_COLUMNS, ORDER_REQUIRED)
    frame, blank = _drop_blank(table)
    if not table.columns:  # an empty file
        empty = pl.DataFrame(schema={_C: pl.String, _I: pl.String, _T: pl.Int64, _Q: pl.Float64, _P: pl.Float64})
        lines = _OrderLines(empty, pl.Series([], dtype=pl.String), np.zeros(0, np.int32), np.zeros(0, np.int64))
        return _Part(empty, _EMPTY_REJECTS, 0, {}, 0), lines
    if table.indexed is not None:  # the reader validated and indexed it (Spark's, on its executors)
        lines = _indexed_lines(table.indexed)
        rejects = _rejects_of(table, frame, "orders")
        rows_in = frame.height + lines.kept.height
        return _Part(lines.kept, rejects, rows_in, _count_reasons(frame, ORDER_REASONS), blank), lines
    frame = _validate_orders(table, frame)
    frame, lines = _index_orders(frame, check_shared="order_id" in table.known)
    rejects = _rejects_of(table, frame, "orders")
    return _Part(lines.kept, rejects, frame.height, _count_reasons(frame, ORDER_REASONS), blank), lines


def _with_events(lines: _OrderLines, events: EventLoad) -> tuple[_OrderLines, pl.Series]:
    """The order lines with the events' purchase lines added, indexed again over every customer of either
    (and of the browsing signals: a customer who only browsed is a customer of the history).

    Returns the lines and the customer id of every signal's row in ``customers``' order."""
    columns = [_C, _I, _T, _O, _Q, _P]
    ours = lines.kept if _O in lines.kept.columns else lines.kept.with_columns(pl.lit("").alias(_O))
    kept = pl.concat([ours.select(columns), events.purchases.select(columns)], how="vertical_relaxed")
    everyone = pl.concat([kept.get_column(_C), events.signals.get_column("customer_id")])
    customers, index = _dense(everyone)
    customer = index[: kept.height]
    _, order = _dense(kept.get_column(_O))
    has_oid = (kept.get_column(_O) != "").to_numpy()
    key = _order_keys(has_oid, order, customer, kept.get_column(_T).to_numpy())
    return _OrderLines(kept, customers, customer, key), pl.Series(index[kept.height :])


# catalog -------------------------------------------------------------------------------------------


def _build_catalog(kept: pl.DataFrame, items: pl.Series) -> Catalog:
    """A catalog aligned with ``items`` (sorted unique item ids); items it does not describe get defaults."""
    n = len(items)
    rows = items.search_sorted(kept.get_column(_I)).to_numpy()
    cat_values = kept.get_column(_CATEGORY)
    categories, cat_idx = _dense(cat_values.filter(cat_values != ""))
    category = np.full(n, -1, dtype=np.int32)
    has_cat = (cat_values != "").to_numpy()
    category[rows[has_cat]] = cat_idx
    name = np.full(n, "", dtype=object)
    name[rows] = kept.get_column(_NAME).to_numpy()
    in_stock = np.ones(n, dtype=bool)
    in_stock[rows] = kept.get_column(_IN_STOCK).to_numpy()
    price = np.full(n, np.nan, dtype=np.float32)
    price[rows] = kept.get_column(_P).to_numpy()
    return Catalog(
        categories=IdMap(categories.to_numpy().astype(str)),
        category=category,
        name=name.astype(str),
        in_stock=in_stock,
        price=price,
    )


def _load_catalog(path: Path, reader: TableReader) -> _Part:
    """The kept rows and rejects of a catalog file."""
    table = reader(path, CATALOG_COLUMNS, CATALOG_REQUIRED)
    frame, blank = _drop_blank(table)
    if not table.columns:  # an empty file
        return _Part(pl.DataFrame(schema={_I: pl.String}), _EMPTY_REJECTS, 0, {}, 0)
    frame = _validate_catalog(table, frame)
    kept = frame.filter(pl.col(_REASON).is_null())
    rejects = _rejects_of(table, frame, "catalog")
    return _Part(kept, rejects, frame.height, _count_reasons(frame, CATALOG_REASONS), blank)


# public API ----------------------------------------------------------------------------------------


def load_orders(
    path: str | Path,
    *,
    catalog_path: str | Path | None = None,
    events_path: str | Path | None = None,
    event_weights: EventWeights | None = None,
    reader: TableReader = read_table,
) -> LoadResult:
    """Read, validate and index an orders file (and optionally a catalog file and an exported event directory:
    ``recommender.data.events``; its purchases become order lines, its views and adds to cart the history's
    ``signals``, weighted by ``event_weights``).

    Raises ``UnreadableFileError`` (missing file, unknown extension, not CSV/Parquet, not UTF-8, a quote
    left open, a damaged gzip or Parquet file: the message names the line), ``MissingColumnsError`` (a
    required column absent) and ``AmbiguousColumnsError``. Bad rows never raise: they are in ``rejects``.
    An empty or header-only file gives an empty history (see ``check_usable``). The item id map covers
    order items and catalog items alike. ``reader`` reads the order and catalog files as strings (``read_table``;
    ``recs train --engine spark`` passes Spark's); everything after it is the same.
    """
    path = Path(path)
    orders, lines = _load_order_lines(path, reader)
    catalog = _load_catalog(Path(catalog_path), reader) if catalog_path is not None else None
    cat_kept = catalog.kept if catalog is not None else pl.DataFrame(schema={_I: pl.String})
    events = None
    if events_path is not None:
        lines = lines.with_strings()
        order_ids = lines.kept.get_column(_O) if _O in lines.kept.columns else pl.Series([], dtype=pl.String)
        # an order file's own lines never move to another customer: the orders' order ids win
        events = load_events(events_path, event_weights or EventWeights(), order_ids)
        lines, signal_customer = _with_events(lines, events)

    kept = lines.kept
    signal_items = events.signals.get_column("item_id") if events is not None else pl.Series([], dtype=pl.String)
    items, item = lines.item_index([cat_kept.get_column(_I), signal_items])
    signals = None
    if events is not None:
        signals = Signals(
            customer=signal_customer.to_numpy().astype(np.int32),
            item=item[kept.height + cat_kept.height :],
            weight=events.signals.get_column("weight").to_numpy().astype(np.float32),
            at=events.signals.get_column("at").to_numpy().astype(np.int64),
        )
    history = OrderHistory.build(
        IdMap(lines.customers.to_numpy().astype(str)),
        IdMap(items.to_numpy().astype(str)),
        lines.customer,
        item[: kept.height],
        lines.order_key,
        kept.get_column(_T).to_numpy(),
        kept.get_column(_Q).to_numpy().astype(np.float32),
        kept.get_column(_P).to_numpy().astype(np.float32),
        _build_catalog(cat_kept, items) if cat_kept.height else None,
        signals,
    )
    rejects = orders.rejects
    summary = LoadSummary(
        path=str(path),
        rows_in=orders.rows_in,
        rows_kept=orders.kept.height,
        rows_rejected=orders.rows_in - orders.kept.height,
        rejected_by_reason=orders.by_reason,
        blank_lines=orders.blank_lines,
    )
    if catalog is not None:
        rejects = pl.concat([rejects, catalog.rejects], how="diagonal")
        summary = replace(
            summary,
            catalog_path=str(catalog_path),
            catalog_rows_in=catalog.rows_in,
            catalog_rows_kept=catalog.kept.height,
            catalog_rows_rejected=catalog.rows_in - catalog.kept.height,
            catalog_rejected_by_reason=catalog.by_reason,
        )
    if events is not None:
        rejects = pl.concat([rejects, events.rejects], how="diagonal")
        summary = replace(summary, events=events.summary)
    return LoadResult(history=history, rejects=rejects, summary=summary)
