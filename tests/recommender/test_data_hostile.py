"""Hostile training input: hypothesis-generated malformed CSV and Parquet order files.

Every file either raises a precise ``DataError`` whose message names the problem (and the line), or loads
with rows in = rows kept + rows rejected, where "rows in" and every rejected line and reason are known
from the generator, not from the loader. ``recs train`` on such files exits with 2 and a message.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from recommender.data import AmbiguousColumnsError, LoadResult, check_usable, load_orders, write_rejects
from recommender.data import validation as d
from recommender.errors import (
    DataError,
    EmptyHistoryError,
    MissingColumnsError,
    UnreadableFileError,
)

COLUMNS = ["customer_id", "item_id", "ordered_at", "order_id", "quantity", "price"]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ID_CHARS = st.sampled_from(list("abcxyz0189-_.éß漢🎁 "))


# the generator: rows whose fate is known --------------------------------------------------------------


@dataclass
class Row:
    """One generated row: its fields by column, the reason it must be rejected for (None: kept)."""

    fields: dict[str, str | None]
    reason: str | None
    blank: bool = False
    spaces: bool = False  # a line of spaces only
    extra: list[str] | None = None  # fields past the last column
    drop_from: int | None = None  # write only the first ``drop_from`` fields (a row with too few)
    raw: frozenset[str] = frozenset()  # columns written as is, never quoted (a stray quote inside)


@dataclass
class Shop:
    """A generated file's rows, columns and format, and what the loader must make of it."""

    columns: list[str]
    rows: list[Row]
    separator: str = ","
    newline: str = "\n"
    bom: bool = False
    trailing_newline: bool = True
    gz: bool = False
    lines: list[int] = field(default_factory=list)  # the line each row starts on (filled by render)

    @property
    def rows_in(self) -> int:
        return sum(not r.blank for r in self.rows)

    def expected_rejects(self) -> dict[int, str]:
        return {line: r.reason for line, r in zip(self.lines, self.rows, strict=True) if r.reason and not r.blank}


def timestamp_text(draw: st.DrawFn) -> str:
    moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 6 * 365 * 86_400)))
    return draw(
        st.sampled_from(
            [
                moment.strftime("%Y-%m-%d"),
                moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                moment.strftime("%Y-%m-%d %H:%M:%S"),
                moment.strftime("%Y-%m-%dT%H:%M:%S+02:00"),
                str(int(moment.timestamp())),
            ]
        )
    )


BAD_TIMES = ["yesterday", "31/01/2026", "2026-02-30", "2026-13-01", "1769817600000", "true", "-5", "NaN", "0x1A"]
BAD_NUMBERS = ["two", "1,5", "nan", "inf", "-inf", "1e400", "abc", "1/2", "12€"]


@st.composite
def good_row(draw: st.DrawFn, n: int) -> Row:
    word = draw(st.text(ID_CHARS, min_size=0, max_size=8))
    fields: dict[str, str | None] = {
        "customer_id": f"c{n}{word}",  # unique per row: no row repeats another by chance
        "item_id": f"i{draw(st.integers(0, 20))}{word}",
        "ordered_at": timestamp_text(draw),
        "order_id": f"o{n}",
        "quantity": draw(st.sampled_from(["", "1", "2", "0.5", " 3 ", "1e3"])),
        "price": draw(st.sampled_from(["", "0", "9.99", "1e6", "0.0"])),
        "note": draw(st.sampled_from(["", "gift", "a, b; c|d\te", 'say "hi"'])),
    }
    return Row(fields, None)


def with_fields(row: Row, reason: str | None, **values: str) -> Row:
    return Row({**row.fields, **values}, reason)


@st.composite
def any_row(draw: st.DrawFn, n: int, previous: list[Row]) -> Row:
    """A row of one kind: good, bad in one column, ragged, quoted oddly, blank, or a duplicate."""
    row = draw(good_row(n))
    kind = draw(st.integers(0, 22))
    long_id = "x" * draw(st.integers(d.MAX_ID_CHARS + 1, 3 * d.MAX_ID_CHARS))
    match kind:
        case 0:
            return with_fields(row, d.EMPTY_CUSTOMER, customer_id=draw(st.sampled_from(["", "   "])))
        case 1:
            return with_fields(row, d.LONG_CUSTOMER, customer_id=long_id)
        case 2:
            return with_fields(row, d.NUL_CUSTOMER, customer_id=f"c{n}\x00")
        case 3:
            return with_fields(row, d.EMPTY_ITEM, item_id="")
        case 4:
            return with_fields(row, d.LONG_ITEM, item_id=long_id)
        case 5:
            return with_fields(row, d.NUL_ITEM, item_id="i\x00x")
        case 6:
            return with_fields(row, d.BAD_ORDERED_AT, ordered_at=draw(st.sampled_from(["", *BAD_TIMES])))
        case 7:
            return with_fields(row, d.BAD_QUANTITY, quantity=draw(st.sampled_from(BAD_NUMBERS)))
        case 8:
            return with_fields(row, d.NON_POSITIVE_QUANTITY, quantity=draw(st.sampled_from(["0", "-1", "-0.5", "-0"])))
        case 9:
            return with_fields(row, d.LARGE_QUANTITY, quantity=draw(st.sampled_from(["1e39", "3.5e38", "1e300"])))
        case 10:
            return with_fields(row, d.BAD_PRICE, price=draw(st.sampled_from(BAD_NUMBERS)))
        case 11:
            return with_fields(row, d.NEGATIVE_PRICE, price=draw(st.sampled_from(["-0.01", "-5"])))
        case 12:
            return with_fields(row, d.LARGE_PRICE, price="1e39")
        case 13:  # too many fields, unless every surplus field is empty (trailing separators)
            extra = draw(st.lists(st.sampled_from(["", "", "x", "y z", "é"]), min_size=1, max_size=4))
            return Row(row.fields, d.TOO_MANY_FIELDS if any(extra) else None, extra=extra)
        case 14:  # too few fields: the first missing required column decides
            return Row({k: v or "1" for k, v in row.fields.items()}, None, drop_from=draw(st.integers(1, 5)))
        case 15:  # a stray quote inside an unquoted field (12" tent) is text
            return Row({**row.fields, "item_id": f'i12"x{n}'}, None, raw=frozenset({"item_id"}))
        case 16:  # quoted fields holding line breaks (and separators in free text)
            return with_fields(row, None, customer_id=f"multi\nline{n}", note="first\nsecond, third")
        case 17:
            return Row({}, None, blank=True)
        case 18:  # spaces only: a row whose ids are empty
            return Row({}, d.EMPTY_CUSTOMER, spaces=True)
        case 19:
            originals = [r for r in previous if r.reason is None and not r.blank and r.drop_from is None]
            if not originals:
                return row
            original = draw(st.sampled_from(originals))
            return Row(dict(original.fields), d.DUPLICATE_LINE, raw=original.raw)
        case _:
            return row


@st.composite
def shops(draw: st.DrawFn, max_rows: int = 25) -> Shop:
    columns = draw(st.permutations(COLUMNS))
    if draw(st.booleans()):
        columns.insert(draw(st.integers(0, len(columns))), "note")
    rows: list[Row] = []
    for n in range(draw(st.integers(1, max_rows))):
        rows.append(draw(any_row(n, rows)))
    shop = Shop(
        columns=columns,
        rows=rows,
        separator=draw(st.sampled_from([",", ";", "\t", "|"])),
        newline=draw(st.sampled_from(["\n", "\r\n", "\r"])),
        bom=draw(st.booleans()),
        trailing_newline=draw(st.booleans()),
        gz=draw(st.booleans()),
    )
    for row in shop.rows:
        row.reason = expected_reason(shop, row)
    return shop


def expected_reason(shop: Shop, row: Row) -> str | None:
    """The reason of a row as the generator built it; for a row with too few fields, the first missing one."""
    if row.blank:
        return None
    if row.drop_from is not None:
        kept = set(shop.columns[: row.drop_from])
        for column, reason in (
            ("customer_id", d.EMPTY_CUSTOMER),
            ("item_id", d.EMPTY_ITEM),
            ("ordered_at", d.BAD_ORDERED_AT),
        ):
            if column not in kept:
                return reason
        return None
    return row.reason


def render_field(value: str, shop: Shop, raw: bool) -> str:
    value = value.replace("\n", shop.newline)
    special = shop.separator in value or '"' in value or "\n" in value or "\r" in value
    if raw or not special:
        return value
    return '"' + value.replace('"', '""') + '"'


def render(shop: Shop) -> bytes:
    """The CSV bytes of ``shop``; fills ``shop.lines`` with the line each row starts on."""
    out = [shop.separator.join(shop.columns)]
    shop.lines = []
    line = 2
    for row in shop.rows:
        shop.lines.append(line)
        if row.blank:
            text = ""
        else:
            columns = shop.columns if row.drop_from is None else shop.columns[: row.drop_from]
            values = [render_field(row.fields.get(c) or "", shop, c in row.raw) for c in columns]
            if row.spaces:
                values = ["   "]
            values += [render_field(value, shop, False) for value in row.extra or []]
            text = shop.separator.join(values)
        out.append(text)
        line += 1 + sum(row_value.count("\n") for row_value in (row.fields.get(c) or "" for c in shop.columns))
    trailing = shop.trailing_newline or shop.rows[-1].blank  # else a last blank line would not exist
    body = shop.newline.join(out) + (shop.newline if trailing else "")
    raw = (codecs.BOM_UTF8 if shop.bom else b"") + body.encode("utf-8")
    return gzip.compress(raw) if shop.gz else raw


def write_shop(shop: Shop, directory: Path) -> Path:
    path = directory / ("orders.csv.gz" if shop.gz else "orders.csv")
    path.write_bytes(render(shop))
    return path


def assert_consistent(result: LoadResult) -> None:
    s = result.summary
    assert s.rows_in == s.rows_kept + s.rows_rejected
    assert s.rows_kept == result.history.n_lines
    assert result.rejects.height == s.rows_rejected == sum(s.rejected_by_reason.values())
    assert set(result.rejects.get_column("reason")) <= set(d.ORDER_REASONS)


def assert_rejects_file(result: LoadResult, path: Path) -> None:
    """Every rejected row is in the written rejects file, with its line and reason."""
    written = pl.read_csv(write_rejects(result, path), infer_schema=False)
    assert written.height == result.rejects.height
    pairs = list(zip(written.get_column("line").cast(pl.Int64), written.get_column("reason"), strict=True))
    assert pairs == list(zip(result.rejects.get_column("line"), result.rejects.get_column("reason"), strict=True))


# hypothesis: CSV whose every row's fate is known ------------------------------------------------------------


@FAST
@given(shop=shops())
def test_generated_csv_rows_in_equals_kept_plus_rejected_and_each_reject_is_named(
    shop: Shop, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("csv")
    result = load_orders(write_shop(shop, directory))

    assert_consistent(result)
    assert result.summary.rows_in == shop.rows_in  # counted by the generator
    assert result.summary.blank_lines == sum(r.blank for r in shop.rows)
    got = dict(zip(result.rejects.get_column("line"), result.rejects.get_column("reason"), strict=True))
    assert got == shop.expected_rejects()
    assert result.summary.rows_kept == shop.rows_in - len(shop.expected_rejects())
    assert_rejects_file(result, directory / "rejects.csv")


def parquet_value(shop: Shop, row: Row, column: str) -> str | None:
    """A row's value in a Parquet file: no quoting, a missing field is null."""
    if row.spaces:
        return "   " if column == shop.columns[0] else None
    if row.blank or (row.drop_from is not None and column not in shop.columns[: row.drop_from]):
        return None
    return row.fields.get(column)


@FAST
@given(shop=shops(max_rows=15))
def test_generated_parquet_gives_the_same_fate_to_every_row(
    shop: Shop, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for row in shop.rows:  # a Parquet row cannot have too many fields: those rows lose their surplus
        if row.extra is not None:
            row.extra, row.reason = None, None if row.reason == d.TOO_MANY_FIELDS else row.reason
    frame = pl.DataFrame({c: [parquet_value(shop, r, c) for r in shop.rows] for c in shop.columns})
    path = tmp_path_factory.mktemp("pq") / "orders.parquet"
    frame.write_parquet(path)
    result = load_orders(path)

    assert_consistent(result)
    expected = {n: r.reason for n, r in enumerate(shop.rows, start=1) if r.reason and not r.blank}
    assert dict(zip(result.rejects.get_column("line"), result.rejects.get_column("reason"), strict=True)) == expected
    assert result.summary.rows_in == shop.rows_in


# hypothesis: whole-file damage is refused with the line named -----------------------------------------------


@st.composite
def damaged(draw: st.DrawFn) -> tuple[Shop, bytes, str]:
    """A clean generated file with one damage, and the words its error must contain."""
    shop = draw(shops(max_rows=1))
    shop.rows = [Row({**draw(good_row(n)).fields, "note": "n"}, None) for n in range(draw(st.integers(1, 12)))]
    shop.gz = False
    data = render(shop)
    n = draw(st.integers(0, len(shop.rows) - 1))
    line_text = shop.newline.join(data.decode("utf-8-sig").split(shop.newline)[: shop.lines[n] - 1])
    at = len((codecs.BOM_UTF8 if shop.bom else b"") + line_text.encode()) + len(shop.newline.encode())
    kind = draw(st.sampled_from(["latin1", "utf8", "quote", "gzip", "utf16", "blank_first", "nul_header"]))
    if kind == "latin1":
        return shop, data[:at] + "é".encode("latin-1") + data[at:], f"line {shop.lines[n]} is not valid UTF-8"
    if kind == "utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88"]))
        return shop, data[:at] + bad + data[at:], f"line {shop.lines[n]} is not valid UTF-8"
    if kind == "quote":
        assume(b'"' not in data)
        return shop, data[:at] + b'"' + data[at:], f"line {shop.lines[n]}: a quote"
    if kind == "gzip":
        packed = gzip.compress(data)
        return shop, packed[: draw(st.integers(10, len(packed) - 1))], "gzip"
    if kind == "utf16":
        return shop, data.decode("utf-8-sig").encode("utf-16"), "UTF-16"
    if kind == "blank_first":
        return shop, shop.newline.encode() + data, "line 1 is blank"
    return shop, data.replace(b"item_id", b"item\x00id", 1), "NUL"


@FAST
@given(case=damaged())
def test_damaged_files_are_refused_with_the_problem_and_line_named(
    case: tuple[Shop, bytes, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, data, words = case
    path = tmp_path_factory.mktemp("bad") / ("orders.csv.gz" if words == "gzip" else "orders.csv")
    path.write_bytes(data)
    with pytest.raises(UnreadableFileError) as err:
        load_orders(path)
    assert words in str(err.value)
    assert str(path) in str(err.value)


# hypothesis: anything at all, checked against the csv module's count -------------------------------------

FUZZ_PIECES = st.sampled_from([*',;"\n\r x1-é\x00\t2026:T|', "2026-01-31", "\r\n", "c1", "i2"])


@FAST
@given(body=st.lists(FUZZ_PIECES, max_size=80).map("".join))
def test_any_text_loads_or_raises_a_data_error_and_rows_are_csv_records(
    body: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    header = "customer_id,item_id,ordered_at,quantity"
    path = tmp_path_factory.mktemp("fuzz") / "orders.csv"
    path.write_text(f"{header}\n{body}", encoding="utf-8", newline="")
    try:
        result = load_orders(path)
    except DataError as exc:
        assert str(path) in str(exc)
        return
    assert_consistent(result)
    try:  # an independent parser's count, where the text is well-formed CSV
        records = list(csv.reader(io.StringIO(body, newline=""), strict=True))
    except csv.Error:  # malformed quoting ('"";"'): parsers disagree on where records end; nothing to compare
        return
    assert result.summary.rows_in == sum(any(f != "" for f in r) for r in records)


@FAST
@given(body=st.binary(max_size=300))
def test_any_bytes_load_or_raise_a_data_error(body: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("bytes") / "orders.csv"
    path.write_bytes(b"customer_id,item_id,ordered_at\n" + body)
    try:
        result = load_orders(path)
    except DataError:
        return
    assert_consistent(result)
    physical_lines = body.count(b"\n") + body.count(b"\r") + 1
    assert result.summary.rows_in + result.summary.blank_lines <= physical_lines


# hypothesis: Parquet columns of every type --------------------------------------------------------------------

N = 4
PARQUET_VALUES = {
    "text": pl.Series(["a1", "b2", "", None], dtype=pl.String),
    "int": pl.Series([1, 2, -3, None], dtype=pl.Int64),
    "float": pl.Series([1.0, float("nan"), 1e39, None], dtype=pl.Float64),
    "bool": pl.Series([True, False, None, True], dtype=pl.Boolean),
    "date": pl.Series([date(2026, 1, 31), None, date(1960, 1, 1), date(2026, 2, 1)], dtype=pl.Date),
    "datetime": pl.Series([datetime(2026, 1, 31, 10), None, datetime(2026, 2, 1), datetime(2030, 1, 1)]),
    "datetime_tz": pl.Series(
        [datetime(2026, 1, 31, 10), None, datetime(2026, 2, 1), datetime(2030, 1, 1)]
    ).dt.replace_time_zone("America/New_York"),
    "seconds": pl.Series([1769854830, 1769854831, -1, None], dtype=pl.Int64),
    "milliseconds": pl.Series([1769854830000, 1769854831000, None, 0], dtype=pl.Int64),
    "null": pl.Series([None] * N, dtype=pl.Null),
    "binary": pl.Series([b"x", b"y", None, b"z"], dtype=pl.Binary),
    "categorical": pl.Series(["a", "b", "a", None], dtype=pl.Categorical),
    "decimal": pl.Series([1.5, 2, None, 0], dtype=pl.Float64).cast(pl.Decimal(10, 2)),
    "list": pl.Series([["a"], [], None, ["b", "c"]], dtype=pl.List(pl.String)),
    "duration": pl.Series([timedelta(days=1)] * N),
}
NOT_TEXT = {"list", "duration"}


def is_missing(column: str, value: object) -> bool:
    """An empty value: null, empty text, or NaN in an id column (pandas' gap in an integer id column)."""
    if isinstance(value, float) and math.isnan(value):
        return column in ("customer_id", "item_id", "order_id")
    return value is None or value in ("", b"")


@FAST
@given(kinds=st.fixed_dictionaries({c: st.sampled_from(sorted(PARQUET_VALUES)) for c in COLUMNS}))
def test_parquet_with_any_column_types_loads_or_names_the_column(
    kinds: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    frame = pl.DataFrame({c: PARQUET_VALUES[kind] for c, kind in kinds.items()})
    path = tmp_path_factory.mktemp("types") / "orders.parquet"
    frame.write_parquet(path)
    unreadable = [c for c, kind in kinds.items() if kind in NOT_TEXT]
    if unreadable:
        with pytest.raises(UnreadableFileError) as err:
            load_orders(path)
        assert unreadable[0] in str(err.value) and "not text" in str(err.value)
        return
    result = load_orders(path)
    assert_consistent(result)
    blank = sum(all(is_missing(column, value) for column, value in row.items()) for row in frame.iter_rows(named=True))
    assert result.summary.rows_in == N - blank
    assert set(result.rejects.get_column("line")) <= set(range(1, N + 1))


def test_parquet_wrong_dtypes_give_precise_reasons(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "customer_id": [1.0, 2.0, float("nan"), 4.0],  # pandas' int ids with a gap
            "item_id": ["i1", "i2", "i3", "i4"],
            "ordered_at": [1769854830000, 1769854830, 1769854830, 1769854830],  # the first in milliseconds
            "quantity": ["2", "two", "1", "1e39"],  # quantity as text
        }
    )
    frame.write_parquet(tmp_path / "orders.parquet")
    result = load_orders(tmp_path / "orders.parquet")
    reasons = dict(zip(result.rejects.get_column("line"), result.rejects.get_column("reason"), strict=True))
    assert reasons == {1: d.BAD_ORDERED_AT, 2: d.BAD_QUANTITY, 3: d.EMPTY_CUSTOMER, 4: d.LARGE_QUANTITY}
    assert result.history.customers.ids.tolist() == []  # every row rejected, yet none lost
    frame = frame.with_columns(pl.Series("ordered_at", [1769854830] * 4), pl.Series("quantity", ["1"] * 4))
    frame.write_parquet(tmp_path / "orders.parquet")
    assert load_orders(tmp_path / "orders.parquet").history.customers.ids.tolist() == ["1", "2", "4"]


# explicit cases -------------------------------------------------------------------------------------------------

HEADER = "customer_id,item_id,ordered_at,order_id,quantity,price"


def test_a_one_megabyte_id_is_rejected_not_kept(tmp_path: Path) -> None:
    huge = "c" * (1 << 20)
    rows = [f"{huge},i1,2026-01-31,o1,1,1", f"c2,{huge},2026-01-31,o2,1,1", "c3,i1,2026-01-31,o3,1,1"]
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text("\n".join([HEADER, *rows]) + "\n")
    pl.read_csv(csv_path, infer_schema=False).write_parquet(tmp_path / "orders.parquet")
    for path in (csv_path, tmp_path / "orders.parquet"):
        result = load_orders(path)
        assert result.rejects.get_column("reason").to_list() == [d.LONG_CUSTOMER, d.LONG_ITEM]
        assert result.history.customers.ids.dtype.itemsize <= 4 * d.MAX_ID_CHARS  # no 4 MB-wide id array
        assert len(result.rejects.get_column("customer_id")[0]) == 1 << 20  # kept whole in the rejects


@pytest.mark.parametrize(
    "content",
    [b"", HEADER.encode(), (HEADER + "\n").encode(), (HEADER + "\r\n").encode(), codecs.BOM_UTF8 + HEADER.encode()],
    ids=["empty", "header", "header-lf", "header-crlf", "header-bom"],
)
def test_empty_and_header_only_files_load_empty_and_are_not_usable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    result = load_orders(path)
    assert (result.summary.rows_in, result.history.n_lines, result.rejects.height) == (0, 0, 0)
    with pytest.raises(EmptyHistoryError, match="no usable order lines"):
        check_usable(result)


@FAST
@given(
    removed=st.sets(st.sampled_from(["customer_id", "item_id", "ordered_at"]), min_size=1),
    renamed=st.booleans(),
)
def test_missing_or_renamed_required_columns_are_named(
    removed: set[str], renamed: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    columns = [(f"{c}_x" if renamed else None) if c in removed else c for c in COLUMNS]
    header = ",".join(c for c in columns if c)
    path = tmp_path_factory.mktemp("cols") / "orders.csv"
    path.write_text(header + "\n" + ",".join("v" for c in columns if c) + "\n")
    with pytest.raises(MissingColumnsError) as err:
        load_orders(path)
    assert sorted(err.value.missing) == sorted(removed)
    assert all(c in str(err.value) for c in removed)


@pytest.mark.parametrize(
    ("header", "error", "words"),
    [
        ("customer_id,item_id,ordered_at,Customer_ID", AmbiguousColumnsError, "both read as 'customer_id'"),
        ("customer_id,item_id,ordered_at,customer_id", AmbiguousColumnsError, "both read as 'customer_id'"),
        ("\x00line,customer_id,item_id,ordered_at", UnreadableFileError, "NUL"),
        ("c" * (1 << 21) + ",customer_id,item_id,ordered_at", UnreadableFileError, "longer than"),
    ],
    ids=["case", "twice", "nul", "huge"],
)
def test_hostile_headers_are_refused(tmp_path: Path, header: str, error: type[DataError], words: str) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(header + "\nc1,i1,2026-01-31,x\n")
    with pytest.raises(error, match=words):
        load_orders(path)


def test_a_quote_left_open_mid_file_is_refused_not_swallowing_rows(tmp_path: Path) -> None:
    rows = [
        'c1,"i1,2026-01-31,o1,1,1',
        "c2,i2,2026-01-31,o2,1,1",
        'c3,i3",2026-01-31,o3,1,1',
        "c4,i4,2026-01-31,o4,1,1",
    ]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(UnreadableFileError, match="line 2: a quoted field runs over several lines"):
        load_orders(path)


def test_stray_quotes_and_mac_line_endings_are_read_like_the_csv_module(tmp_path: Path) -> None:
    rows = ['c1,12" tent,2026-01-31,o1,1,1', 'c2,"i2"x,2026-01-31,o2,1,1', "c3,i3,2026-01-31,o3,0,1"]
    for newline in ("\n", "\r"):
        path = tmp_path / "orders.csv"
        path.write_bytes(newline.join([HEADER, *rows]).encode())
        result = load_orders(path)
        assert sorted(result.history.items.ids.tolist()) == ['12" tent', "i2x"]
        assert result.rejects.select("line", "reason").rows() == [(4, d.NON_POSITIVE_QUANTITY)]


# the command line: exit code 2 and a message, never a traceback ----------------------------------------------

RECS = str(Path(sys.executable).with_name("recs"))


def test_recs_train_exits_2_with_a_message_on_hostile_files(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(f"{HEADER}\nc1,i1,2026-01-31,o1,1,1\nc2,caf\xe9,2026-01-31,o2,1,1\n".encode("latin-1"))
    open_quote = tmp_path / "quote.csv"
    open_quote.write_text(f'{HEADER}\nc1,i1,2026-01-31,o1,1,1\nc2,"i2,2026-01-31,o2,1,1\nc3,i3,2026-01-31,o3,1,1\n')
    truncated = tmp_path / "orders.parquet"
    pl.DataFrame({c: ["1"] * 50 for c in COLUMNS}).write_parquet(truncated)
    truncated.write_bytes(truncated.read_bytes()[:-40])
    cases = {
        latin1: "line 3 is not valid UTF-8",
        open_quote: "line 3: a quote opened in this row is never closed",
        truncated: "cannot read as Parquet",
    }
    env = {**os.environ, "RECS_HOME": str(tmp_path / "home"), "COLUMNS": "250"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    processes = {
        path: subprocess.Popen(
            [RECS, "train", "--orders", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        for path in cases
    }
    for path, words in cases.items():
        output, _ = processes[path].communicate(timeout=120)
        assert processes[path].returncode == 2, output
        assert words in " ".join(output.split()), output
        assert "Traceback" not in output


def test_hostile_catalog_rows_are_rejected_with_reasons(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(f"{HEADER}\nc1,i1,2026-01-31,o1,1,1\nc2,i2,2026-01-31,o2,1,1\n")
    catalog = tmp_path / "catalog.csv"
    rows = [
        "item_id,name,category,price",
        "i1,Tent,Camping,10",
        "i2,Bag,Camping\x00,5",  # would collide with "Camping" once numpy drops the NUL
        "i3," + "n" * (d.MAX_NAME_CHARS + 1) + ",Camping,5",
        "i4,Stove," + "c" * (d.MAX_ID_CHARS + 1) + ",5",
        "i5\x00,Lamp,Camping,5",
        "i6,Mat,Camping,1e39",
    ]
    catalog.write_text("\n".join(rows) + "\n")
    result = load_orders(orders, catalog_path=catalog)
    rejects = result.rejects.filter(pl.col("source") == "catalog").select("line", "reason").rows()
    assert rejects == [(3, d.BAD_CATEGORY), (4, d.BAD_NAME), (5, d.BAD_CATEGORY), (6, d.NUL_ITEM), (7, d.LARGE_PRICE)]
    assert result.history.catalog.categories.ids.tolist() == ["Camping"]
    s = result.summary
    assert (s.catalog_rows_in, s.catalog_rows_kept, s.catalog_rows_rejected) == (6, 1, 5)
