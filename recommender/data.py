"""Loading order lines (and an optional catalog) from CSV or Parquet, with validation and rejects.

``load_orders`` reads every column as a string (``recommender.readers``: CSV or Parquet, each row with
its line number), validates each row with vectorized polars expressions, and builds the ``OrderHistory``
the models learn from. A row that cannot be used is
never dropped silently: it goes to ``LoadResult.rejects`` with its 1-based line number in the
file, one reason, and its original values, and the counts land in ``LoadResult.summary``.

``write_rejects``, ``check_reject_ratio`` and ``check_usable`` are the small pieces a job uses
to write the rejects file, stop when too much is bad, and stop when nothing is left.

Conventions: column names are matched after stripping whitespace, case-insensitively; extra
columns are ignored. Datetimes without an offset are taken as UTC. Rows where every field is empty
(blank lines) are not data: they are counted in ``blank_lines`` and are not rows in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from recommender.errors import EmptyHistoryError, TooManyRejectsError
from recommender.history import Catalog, OrderHistory
from recommender.ids import IdMap
from recommender.readers import EXTRA as _EXTRA
from recommender.readers import LINE as _LINE
from recommender.readers import AmbiguousColumnsError as AmbiguousColumnsError  # re-exported
from recommender.readers import RawTable, read_table

ORDER_COLUMNS = ("customer_id", "item_id", "ordered_at", "order_id", "quantity", "price")
ORDER_REQUIRED = ("customer_id", "item_id", "ordered_at")
CATALOG_COLUMNS = ("item_id", "name", "category", "in_stock", "price")
CATALOG_REQUIRED = ("item_id",)

# reasons, in the order they are checked (a row gets the first that applies)
TOO_MANY_FIELDS = "too many fields"
EMPTY_CUSTOMER = "empty customer_id"
LONG_CUSTOMER = "customer_id too long"
NUL_CUSTOMER = "NUL character in customer_id"
EMPTY_ITEM = "empty item_id"
LONG_ITEM = "item_id too long"
NUL_ITEM = "NUL character in item_id"
BAD_ORDERED_AT = "unparseable ordered_at"
BAD_QUANTITY = "non-numeric quantity"
NON_POSITIVE_QUANTITY = "non-positive quantity"
LARGE_QUANTITY = "quantity too large"
BAD_PRICE = "non-numeric price"
NEGATIVE_PRICE = "negative price"
LARGE_PRICE = "price too large"
DUPLICATE_LINE = "duplicate line"
SHARED_ORDER = "order_id shared by several customers"
BAD_NAME = "name too long or with a NUL character"
BAD_CATEGORY = "category too long or with a NUL character"
BAD_IN_STOCK = "unparseable in_stock"
DUPLICATE_ITEM = "duplicate item_id"

ORDER_REASONS = (
    TOO_MANY_FIELDS,
    EMPTY_CUSTOMER,
    LONG_CUSTOMER,
    NUL_CUSTOMER,
    EMPTY_ITEM,
    LONG_ITEM,
    NUL_ITEM,
    BAD_ORDERED_AT,
    BAD_QUANTITY,
    NON_POSITIVE_QUANTITY,
    LARGE_QUANTITY,
    BAD_PRICE,
    NEGATIVE_PRICE,
    LARGE_PRICE,
    DUPLICATE_LINE,
    SHARED_ORDER,
)
CATALOG_REASONS = (
    TOO_MANY_FIELDS,
    EMPTY_ITEM,
    LONG_ITEM,
    NUL_ITEM,
    BAD_NAME,
    BAD_CATEGORY,
    BAD_IN_STOCK,
    BAD_PRICE,
    NEGATIVE_PRICE,
    LARGE_PRICE,
    DUPLICATE_ITEM,
)

# ids (and category names) become fixed-width numpy strings, whose width is the longest one's: a 1 MB id
# would make every id 4 MB. Longer ones are rejected, as are NUL characters (numpy drops trailing NULs,
# so "a\x00" and "a" would become one id).
MAX_ID_CHARS = 256
MAX_NAME_CHARS = 1_000
# quantities and prices are kept as float32
MAX_NUMBER = float(np.finfo(np.float32).max)

REJECT_META = ("source", "line", "reason")

# an ordered_at outside [1970-01-01, 2100-01-01) UTC is an error in the data (milliseconds given as
# seconds, a two-digit year), whatever its format
MIN_SECONDS = 0
MAX_SECONDS = 4_102_444_800
assert MAX_SECONDS < 2**32  # order keys pack (customer, seconds) into an int64

# without and with a fraction: polars parses the plain form faster, and the first that fits is used
DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%d %H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)

TRUE_WORDS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_WORDS = ("false", "f", "no", "n", "0", "0.0")

# internal column names (cannot clash with input columns, which never contain a NUL: see readers)
_POS = "\x00pos"
_REASON = "\x00reason"
_C = "\x00c"
_I = "\x00i"
_T = "\x00t"
_T_OK = "\x00t_ok"
_O = "\x00o"
_Q = "\x00q"
_P = "\x00p"
_NAME = "\x00name"
_CATEGORY = "\x00category"
_IN_STOCK = "\x00in_stock"
_SAMPLE = 2_000


# results -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadSummary:
    """Counts of one load. Always ``rows_in == rows_kept + rows_rejected`` (the same for the catalog)."""

    path: str
    rows_in: int
    rows_kept: int
    rows_rejected: int
    rejected_by_reason: dict[str, int]
    blank_lines: int = 0
    catalog_path: str | None = None
    catalog_rows_in: int = 0
    catalog_rows_kept: int = 0
    catalog_rows_rejected: int = 0
    catalog_rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def reject_ratio(self) -> float:
        """Share of order rows rejected (0.0 for a file without rows)."""
        return self.rows_rejected / self.rows_in if self.rows_in else 0.0

    def lines(self) -> list[str]:
        """Human-readable summary, one string per line."""
        out = [
            f"orders {self.path}: {self.rows_in:,} rows in, {self.rows_kept:,} kept, "
            f"{self.rows_rejected:,} rejected ({self.reject_ratio:.2%})"
        ]
        out += [f"  {n:,} {reason}" for reason, n in self.rejected_by_reason.items()]
        if self.blank_lines:
            out.append(f"  ({self.blank_lines:,} blank lines skipped)")
        if self.catalog_path is not None:
            out.append(
                f"catalog {self.catalog_path}: {self.catalog_rows_in:,} rows in, {self.catalog_rows_kept:,} kept, "
                f"{self.catalog_rows_rejected:,} rejected"
            )
            out += [f"  {n:,} {reason}" for reason, n in self.catalog_rejected_by_reason.items()]
        return out


@dataclass(frozen=True)
class LoadResult:
    """The history built from the kept rows, the rejected rows, and the counts."""

    history: OrderHistory
    rejects: pl.DataFrame
    summary: LoadSummary


# reading -------------------------------------------------------------------------------------------


def _drop_blank(table: RawTable) -> tuple[pl.DataFrame, int]:
    """Rows with at least one non-empty field (and the count of the others)."""
    if not table.columns:
        return table.frame, 0
    not_blank = pl.any_horizontal(pl.col(c).is_not_null() & (pl.col(c) != "") for c in [*table.columns, _EXTRA])
    kept = table.frame.filter(not_blank)
    return kept.with_row_index(_POS), table.frame.height - kept.height


# parsing -------------------------------------------------------------------------------------------


def _stripped(table: RawTable, name: str) -> pl.Expr:
    """The stripped values of a known column; "" when blank or when the file lacks the column."""
    if name not in table.known:
        return pl.lit("", dtype=pl.String)
    return pl.col(table.known[name]).str.strip_chars().fill_null("")


def _numeric_seconds(values: pl.Series) -> pl.Series:
    as_int = values.cast(pl.Int64, strict=False)
    as_float = values.cast(pl.Float64, strict=False)
    frame = pl.DataFrame({"i": as_int, "f": as_float})
    finite = pl.col("f").is_finite() & (pl.col("f").abs() < 2.0**62)
    return frame.select(pl.coalesce(pl.col("i"), pl.when(finite).then(pl.col("f").floor().cast(pl.Int64)))).to_series()


def _datetime_parser(fmt: str) -> Callable[[pl.Series], pl.Series]:
    def parse(values: pl.Series) -> pl.Series:
        return values.str.to_datetime(fmt, strict=False, time_unit="us").dt.epoch("s")

    return parse


_PARSERS: tuple[Callable[[pl.Series], pl.Series], ...] = (
    *(_datetime_parser(f) for f in DATETIME_FORMATS),
    _numeric_seconds,
)


def parse_timestamps(values: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Unix seconds (int64) and an ``ok`` mask for string ``values`` (stripped; empty is not ok).

    Accepts ISO-8601 dates (``2026-01-31``), datetimes with ``T`` or a space, optional fraction,
    optional ``Z`` or offset (offsets are converted to UTC; no offset means UTC), and Unix seconds
    as integer or decimal digits (a fraction is dropped). Instants outside ``[MIN_SECONDS,
    MAX_SECONDS)`` (1970 to 2099) are not ok. Each format is tried only on the rows that earlier
    ones did not parse, the most frequent format (on a sample) first, so a file in one format
    costs one parse.
    """
    s = values.cast(pl.String).str.strip_chars()
    seconds = np.zeros(len(s), dtype=np.int64)
    ok = np.zeros(len(s), dtype=bool)
    pending = np.flatnonzero((s.is_not_null() & (s != "")).to_numpy())
    sample = s.gather(pending[:_SAMPLE])
    hits = [int(parser(sample).is_not_null().sum()) for parser in _PARSERS]
    for p in np.argsort(-np.asarray(hits), kind="stable"):
        if len(pending) == 0:
            break
        parsed = _PARSERS[p](s if len(pending) == len(s) else s.gather(pending))
        good = (parsed.is_between(MIN_SECONDS, MAX_SECONDS, closed="left")).fill_null(False).to_numpy()
        seconds[pending[good]] = parsed.filter(good).to_numpy()
        ok[pending[good]] = True
        pending = pending[~good]
    return seconds, ok


def _number(expr: pl.Expr) -> pl.Expr:
    """Float of a stripped string; null when it is not a finite number."""
    value = expr.cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def _longer_than(column: str, limit: int) -> pl.Expr:
    return pl.col(column).str.len_chars() > limit


def _has_nul(column: str) -> pl.Expr:
    return pl.col(column).str.contains("\x00", literal=True)


def _first_reason(checks: Sequence[tuple[pl.Expr, str]]) -> pl.Expr:
    """The reason of the first check that holds, else null."""
    return pl.coalesce([pl.when(condition).then(pl.lit(reason)) for condition, reason in checks]).alias(_REASON)


def _mark(frame: pl.DataFrame, candidates: pl.Series, reject: pl.Series, reason: str) -> pl.DataFrame:
    """Set ``reason`` on the rows at positions ``candidates[reject]``."""
    positions = candidates.filter(reject)
    if positions.len() == 0:
        return frame
    reasons = frame.get_column(_REASON).scatter(positions, reason)
    return frame.with_columns(reasons)


# orders --------------------------------------------------------------------------------------------


def _validate_orders(table: RawTable, frame: pl.DataFrame) -> pl.DataFrame:
    """Add the parsed columns (``_C``, ``_I``, ``_T``, ``_O``, ``_Q``, ``_P``) and ``_REASON`` (null: kept)."""
    seconds, ts_ok = parse_timestamps(frame.get_column(table.known["ordered_at"]))
    q_raw = _stripped(table, "quantity")
    p_raw = _stripped(table, "price")
    frame = (
        frame.with_columns(pl.Series(_T, seconds), pl.Series(_T_OK, ts_ok))
        .lazy()  # lazy, so that polars computes each stripped column once
        .with_columns(
            _stripped(table, "customer_id").alias(_C),
            _stripped(table, "item_id").alias(_I),
            _stripped(table, "order_id").alias(_O),
            pl.when(q_raw == "").then(pl.lit(1.0)).otherwise(_number(q_raw)).alias(_Q),
            pl.when(p_raw == "").then(pl.lit(float("nan"))).otherwise(_number(p_raw)).alias(_P),
        )
        .with_columns(
            _first_reason(
                [
                    (pl.col(_EXTRA).is_not_null() & (pl.col(_EXTRA) != ""), TOO_MANY_FIELDS),
                    (pl.col(_C) == "", EMPTY_CUSTOMER),
                    (_longer_than(_C, MAX_ID_CHARS), LONG_CUSTOMER),
                    (_has_nul(_C), NUL_CUSTOMER),
                    (pl.col(_I) == "", EMPTY_ITEM),
                    (_longer_than(_I, MAX_ID_CHARS), LONG_ITEM),
                    (_has_nul(_I), NUL_ITEM),
                    (~pl.col(_T_OK), BAD_ORDERED_AT),
                    (pl.col(_Q).is_null(), BAD_QUANTITY),
                    (pl.col(_Q) <= 0, NON_POSITIVE_QUANTITY),
                    (pl.col(_Q) > MAX_NUMBER, LARGE_QUANTITY),
                    (pl.col(_P).is_null(), BAD_PRICE),
                    (pl.col(_P) < 0, NEGATIVE_PRICE),
                    (pl.col(_P).is_finite() & (pl.col(_P) > MAX_NUMBER), LARGE_PRICE),
                ]
            )
        )
        .collect()
    )
    return _mark_duplicates(frame, table.columns, DUPLICATE_LINE)


def _mark_duplicates(frame: pl.DataFrame, columns: Sequence[str], reason: str) -> pl.DataFrame:
    """Mark not-yet-rejected rows equal on ``columns`` to an earlier not-yet-rejected row.

    Rows are compared exactly, but only those whose row hash occurs twice (few): a row with a unique
    hash cannot equal any other row.
    """
    row_hash = frame.select(pl.when(pl.col(_REASON).is_null()).then(pl.struct(columns).hash())).to_series()
    maybe = frame.filter(row_hash.is_not_null() & row_hash.is_duplicated())
    duplicate = ~maybe.select(pl.struct(columns).is_first_distinct()).to_series()
    return _mark(frame, maybe.get_column(_POS), duplicate, reason)


def _dense(values: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """Sorted unique values and the index (int32) of every value in them (a hash join, not a search)."""
    uniq = values.unique().sort()
    index = (
        values.to_frame("v")
        .join(uniq.to_frame("v").with_row_index("ix"), on="v", how="left", maintain_order="left")
        .get_column("ix")
    )
    return uniq, index.to_numpy().astype(np.int32)


@dataclass(frozen=True)
class _OrderLines:
    """Kept order lines, with customers indexed and one int64 order key per line."""

    kept: pl.DataFrame
    customers: pl.Series  # sorted unique customer ids
    customer: np.ndarray  # int32 index into customers, per kept line
    order_key: np.ndarray  # int64 per kept line; equal keys = one order


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
        _, first = np.unique(order, return_index=True)  # the first line of every order_id
        shared = has_oid & (customer != customer[first][order])
        if shared.any():
            frame = _mark(frame, valid.get_column(_POS), pl.Series(shared), SHARED_ORDER)
            keep = ~shared
            valid, customer, order, has_oid = valid.filter(keep), customer[keep], order[keep], has_oid[keep]
            used, customer = np.unique(customer, return_inverse=True)
            customers, customer = customers.gather(used), customer.astype(np.int32)
    seconds = valid.get_column(_T).to_numpy()  # within [0, 2**32): see MAX_SECONDS
    key = np.where(has_oid, -1 - order.astype(np.int64), (customer.astype(np.int64) << 32) | seconds)
    return frame, _OrderLines(valid, customers, customer, key)


@dataclass(frozen=True)
class _Part:
    """What one file gave: kept rows, rejects, and the counts for the summary."""

    kept: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int
    by_reason: dict[str, int]
    blank_lines: int


def _load_order_lines(path: Path) -> tuple[_Part, _OrderLines]:
    """The kept lines (indexed) and rejects of an orders file."""
    table = read_table(path, ORDER_COLUMNS, ORDER_REQUIRED)
    frame, blank = _drop_blank(table)
    if not table.columns:  # an empty file
        empty = pl.DataFrame(schema={_C: pl.String, _I: pl.String, _T: pl.Int64, _Q: pl.Float64, _P: pl.Float64})
        lines = _OrderLines(empty, pl.Series([], dtype=pl.String), np.zeros(0, np.int32), np.zeros(0, np.int64))
        return _Part(empty, _EMPTY_REJECTS, 0, {}, 0), lines
    frame = _validate_orders(table, frame)
    frame, lines = _index_orders(frame, check_shared="order_id" in table.known)
    rejects = _rejects_of(table, frame, "orders")
    return _Part(lines.kept, rejects, frame.height, _count_reasons(frame, ORDER_REASONS), blank), lines


# catalog -------------------------------------------------------------------------------------------


def _validate_catalog(table: RawTable, frame: pl.DataFrame) -> pl.DataFrame:
    """Add the parsed columns (``_I``, ``_NAME``, ``_CATEGORY``, ``_IN_STOCK``, ``_P``) and ``_REASON``."""
    stock = _stripped(table, "in_stock").str.to_lowercase()
    p_raw = _stripped(table, "price")
    in_stock = pl.when(stock.is_in(FALSE_WORDS)).then(False).when(stock.is_in([*TRUE_WORDS, ""])).then(True)
    frame = frame.with_columns(
        _stripped(table, "item_id").alias(_I),
        _stripped(table, "name").alias(_NAME),
        _stripped(table, "category").alias(_CATEGORY),
        in_stock.alias(_IN_STOCK),
        pl.when(p_raw == "").then(pl.lit(float("nan"))).otherwise(_number(p_raw)).alias(_P),
    )
    frame = frame.with_columns(
        _first_reason(
            [
                (pl.col(_EXTRA).is_not_null() & (pl.col(_EXTRA) != ""), TOO_MANY_FIELDS),
                (pl.col(_I) == "", EMPTY_ITEM),
                (_longer_than(_I, MAX_ID_CHARS), LONG_ITEM),
                (_has_nul(_I), NUL_ITEM),
                (_longer_than(_NAME, MAX_NAME_CHARS) | _has_nul(_NAME), BAD_NAME),
                (_longer_than(_CATEGORY, MAX_ID_CHARS) | _has_nul(_CATEGORY), BAD_CATEGORY),
                (pl.col(_IN_STOCK).is_null(), BAD_IN_STOCK),
                (pl.col(_P).is_null(), BAD_PRICE),
                (pl.col(_P) < 0, NEGATIVE_PRICE),
                (pl.col(_P).is_finite() & (pl.col(_P) > MAX_NUMBER), LARGE_PRICE),
            ]
        )
    )
    valid = frame.filter(pl.col(_REASON).is_null())
    duplicate = ~valid.get_column(_I).is_first_distinct()
    return _mark(frame, valid.get_column(_POS), duplicate, DUPLICATE_ITEM)


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


def _load_catalog(path: Path) -> _Part:
    """The kept rows and rejects of a catalog file."""
    table = read_table(path, CATALOG_COLUMNS, CATALOG_REQUIRED)
    frame, blank = _drop_blank(table)
    if not table.columns:  # an empty file
        return _Part(pl.DataFrame(schema={_I: pl.String}), _EMPTY_REJECTS, 0, {}, 0)
    frame = _validate_catalog(table, frame)
    kept = frame.filter(pl.col(_REASON).is_null())
    rejects = _rejects_of(table, frame, "catalog")
    return _Part(kept, rejects, frame.height, _count_reasons(frame, CATALOG_REASONS), blank)


# rejects -------------------------------------------------------------------------------------------


def _rejects_of(table: RawTable, frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """The rejected rows: ``source``, ``line``, ``reason``, then the raw input columns as strings.

    Known columns go by their canonical name (``item_id``, not `` Item_ID``) so orders and catalog
    rejects share them; other columns keep their names (suffixed ``_input`` if one is a meta name).
    """
    canonical = {original: norm for norm, original in table.known.items()}
    names = {c: canonical.get(c, f"{c}_input" if c in REJECT_META else c) for c in table.columns}
    return frame.filter(pl.col(_REASON).is_not_null()).select(
        pl.lit(source).alias("source"),
        pl.col(_LINE).cast(pl.Int64).alias("line"),
        pl.col(_REASON).alias("reason"),
        *(pl.col(c).alias(names[c]) for c in table.columns),
    )


def _count_reasons(frame: pl.DataFrame, reasons: Sequence[str]) -> dict[str, int]:
    counts = frame.get_column(_REASON).drop_nulls().value_counts()
    found = dict(zip(counts.get_column(_REASON).to_list(), counts.get_column("count").to_list(), strict=True))
    return {r: int(found[r]) for r in reasons if r in found}


_EMPTY_REJECTS = pl.DataFrame(schema={"source": pl.String, "line": pl.Int64, "reason": pl.String})


# public API ----------------------------------------------------------------------------------------


def load_orders(path: str | Path, *, catalog_path: str | Path | None = None) -> LoadResult:
    """Read, validate and index an orders file (and optionally a catalog file).

    Raises ``UnreadableFileError`` (missing file, unknown extension, not CSV/Parquet, not UTF-8, a quote
    left open, a damaged gzip or Parquet file: the message names the line), ``MissingColumnsError`` (a
    required column absent) and ``AmbiguousColumnsError``. Bad rows never raise: they are in ``rejects``.
    An empty or header-only file gives an empty history (see ``check_usable``). The item id map covers
    order items and catalog items alike.
    """
    path = Path(path)
    orders, lines = _load_order_lines(path)
    catalog = _load_catalog(Path(catalog_path)) if catalog_path is not None else None
    cat_kept = catalog.kept if catalog is not None else pl.DataFrame(schema={_I: pl.String})

    kept = lines.kept
    items, item = _dense(pl.concat([kept.get_column(_I), cat_kept.get_column(_I)]))
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
    return LoadResult(history=history, rejects=rejects, summary=summary)


def write_rejects(result: LoadResult, path: str | Path) -> Path:
    """Write the rejected rows as CSV (a header-only file when there are none); return the path."""
    path = Path(path)
    result.rejects.write_csv(path)
    return path


def check_reject_ratio(summary: LoadSummary, max_ratio: float) -> None:
    """Raise ``TooManyRejectsError`` when the share of rejected order rows is above ``max_ratio``."""
    if not 0.0 <= max_ratio <= 1.0:
        raise ValueError(f"max_ratio must be within [0, 1], got {max_ratio}")
    if summary.rows_in and summary.rows_rejected / summary.rows_in > max_ratio:
        raise TooManyRejectsError(summary.rows_rejected, summary.rows_in, max_ratio)


def check_usable(result: LoadResult) -> None:
    """Raise ``EmptyHistoryError`` when no order line was kept."""
    if result.history.n_lines == 0:
        raise EmptyHistoryError(f"no usable order lines in {result.summary.path}")
