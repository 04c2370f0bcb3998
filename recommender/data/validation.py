"""Validation of order and catalog rows: every reject reason, the limits behind them, the vectorized checks.

A row gets the first reason that applies (in the order of ``ORDER_REASONS`` and ``CATALOG_REASONS``), set
in the internal ``_REASON`` column; a row whose reason is null is kept. The checks are polars expressions
over the whole table; duplicates are found by row hash first, then compared exactly.

The orders' checks come in two parts, each callable on a part of the rows (``recs train --engine spark`` runs
them on its executors): ``order_row_checks`` looks at one row at a time, so any cut of the rows gives the same
rows; ``order_key_checks`` (duplicate lines, an order id shared by customers) compares rows that share an
``order_check_key``, so any cut that keeps the rows of a key together gives the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from recommender.data.columns import _C, _CATEGORY, _I, _IN_STOCK, _NAME, _O, _P, _POS, _Q, _REASON, _T, _T_OK
from recommender.data.columns import EXTRA as _EXTRA
from recommender.data.columns import LINE as _LINE
from recommender.data.readers import RawTable
from recommender.data.timestamps import parse_timestamps

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

TRUE_WORDS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_WORDS = ("false", "f", "no", "n", "0", "0.0")


def _stripped(table: RawTable, name: str) -> pl.Expr:
    """The stripped values of a known column; "" when blank or when the file lacks the column."""
    if name not in table.known:
        return pl.lit("", dtype=pl.String)
    return pl.col(table.known[name]).str.strip_chars().fill_null("")


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


def _validate_orders(table: RawTable, frame: pl.DataFrame) -> pl.DataFrame:
    """Add the parsed columns (``_C``, ``_I``, ``_T``, ``_O``, ``_Q``, ``_P``) and ``_REASON`` (null: kept): the
    per-row checks (``order_row_checks``), then the duplicate lines (the shared order ids: ``shared_order_lines``,
    as the loader indexes the lines)."""
    # the raw rows' hash now: the same hash of the raw columns once the checked frame is collected took
    # 1.2 GB more at 4.4M lines (polars 2.1), and nothing less here
    row_hash = frame.select(pl.struct(table.columns).hash()).to_series()
    frame = order_row_checks(table, frame)
    return _mark_duplicates(frame, table.columns, DUPLICATE_LINE, row_hash)


def shared_order_lines(customer: np.ndarray, order: np.ndarray, has_oid: np.ndarray) -> np.ndarray:
    """The lines (of those still kept, in file order) whose order id belongs to another customer: an order id
    belongs to the customer of its first line. ``customer`` and ``order`` are dense codes (0..k-1) per line,
    ``has_oid`` says the line has an order id."""
    _, first = np.unique(order, return_index=True)  # the first line of every order_id
    return has_oid & (customer != customer[first][order])


def order_check_key() -> pl.Expr:
    """A key that rows compared by ``order_key_checks`` share: equal lines have equal ids, and lines of one order
    id have that id. The order id, or the customer id on a line without one; a row already rejected (which no
    check compares) keeps its own line number, so that those spread."""
    order_or_customer = pl.when(pl.col(_O) != "").then(pl.col(_O)).otherwise(pl.col(_C))
    return pl.when(pl.col(_REASON).is_null()).then(order_or_customer).otherwise(pl.col(_LINE).cast(pl.String))


def order_key_checks(table: RawTable, frame: pl.DataFrame) -> pl.DataFrame:
    """The orders' checks that compare rows, on rows through ``order_row_checks`` in file order, positions
    ``_POS`` 0..n-1: duplicate lines, then (when the file has an order_id column) lines of an order id shared by
    customers. The whole table, or any part holding every row of the ``order_check_key``s it holds, gives its rows
    the same reasons (Spark's reader runs it per partition of the rows partitioned by that key)."""
    row_hash = frame.select(pl.struct(table.columns).hash()).to_series()
    frame = _mark_duplicates(frame, table.columns, DUPLICATE_LINE, row_hash)
    if "order_id" not in table.known:
        return frame
    valid = frame.filter(pl.col(_REASON).is_null())
    codes = valid.select(pl.col(_C).rank("dense") - 1, pl.col(_O).rank("dense") - 1)
    has_oid = (valid.get_column(_O) != "").to_numpy()
    shared = shared_order_lines(codes.get_column(_C).to_numpy(), codes.get_column(_O).to_numpy(), has_oid)
    return _mark(frame, valid.get_column(_POS), pl.Series(shared), SHARED_ORDER)


def order_row_checks(table: RawTable, frame: pl.DataFrame) -> pl.DataFrame:
    """The orders' checks that look at one row at a time: the parsed columns and the first reason that applies
    (null: none). A row's result depends on that row only, so any cut of the rows gives the same rows (Spark's
    reader runs it per partition); the checks that compare rows (``order_key_checks``) come after."""
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
        .rechunk()  # one chunk per column: filtering the collected chunks took 400 MB more at 4.4M lines
    )
    return frame


def _mark_duplicates(frame: pl.DataFrame, columns: Sequence[str], reason: str, row_hash: pl.Series) -> pl.DataFrame:
    """Mark not-yet-rejected rows equal on ``columns`` to an earlier not-yet-rejected row.

    Rows are compared exactly, but only those whose ``row_hash`` (of ``columns``, one per row) occurs twice
    among the not-yet-rejected (few): a row with a unique hash cannot equal any other row.
    """
    row_hash = pl.select(pl.when(frame.get_column(_REASON).is_null()).then(row_hash)).to_series()
    maybe = frame.filter(row_hash.is_not_null() & row_hash.is_duplicated())
    duplicate = ~maybe.select(pl.struct(columns).is_first_distinct()).to_series()
    return _mark(frame, maybe.get_column(_POS), duplicate, reason)


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
