"""Tests of the order-history loader: parsing, every reject reason, order grouping, the catalog, the checks."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recommender.data import (
    ORDER_REASONS,
    AmbiguousColumnsError,
    LoadResult,
    check_reject_ratio,
    check_usable,
    load_orders,
    parse_timestamps,
    write_rejects,
)
from recommender.data.validation import (
    BAD_IN_STOCK,
    BAD_ORDERED_AT,
    BAD_PRICE,
    BAD_QUANTITY,
    DUPLICATE_ITEM,
    DUPLICATE_LINE,
    EMPTY_CUSTOMER,
    EMPTY_ITEM,
    NEGATIVE_PRICE,
    NON_POSITIVE_QUANTITY,
    SHARED_ORDER,
    TOO_MANY_FIELDS,
)
from recommender.errors import EmptyHistoryError, MissingColumnsError, TooManyRejectsError, UnreadableFileError

HEADER = "customer_id,item_id,ordered_at,order_id,quantity,price"
GOOD = [
    "c1,i1,2026-01-31T10:00:00Z,o1,1,9.50",
    "c1,i2,2026-01-31T10:00:00Z,o1,2,3.00",
    "c2,i1,2026-02-01,o2,1,9.50",
]


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def assert_counts_consistent(result: LoadResult) -> None:
    s = result.summary
    assert s.rows_in == s.rows_kept + s.rows_rejected
    assert s.catalog_rows_in == s.catalog_rows_kept + s.catalog_rows_rejected
    assert s.rows_kept == result.history.n_lines
    assert sum(s.rejected_by_reason.values()) == s.rows_rejected
    assert sum(s.catalog_rejected_by_reason.values()) == s.catalog_rows_rejected
    assert result.rejects.height == s.rows_rejected + s.catalog_rows_rejected


# one bad row per reason, its raw fields, and the reason it must get
BAD_ROWS = [
    ("   ,i1,2026-01-31,o9,1,1", EMPTY_CUSTOMER),
    (",i1,2026-01-31,o9,1,1", EMPTY_CUSTOMER),
    ("c3,,2026-01-31,o9,1,1", EMPTY_ITEM),
    ("c3, \t,2026-01-31,o9,1,1", EMPTY_ITEM),
    ("c3,i1,31/01/2026,o9,1,1", BAD_ORDERED_AT),
    ("c3,i1,,o9,1,1", BAD_ORDERED_AT),
    ("c3,i1,2026-02-30,o9,1,1", BAD_ORDERED_AT),
    ("c3,i1,1769817600000,o9,1,1", BAD_ORDERED_AT),  # milliseconds, not seconds
    ("c3,i1,2026-01-31,o9,two,1", BAD_QUANTITY),
    ("c3,i1,2026-01-31,o9,nan,1", BAD_QUANTITY),
    ("c3,i1,2026-01-31,o9,0,1", NON_POSITIVE_QUANTITY),
    ("c3,i1,2026-01-31,o9,-2,1", NON_POSITIVE_QUANTITY),
    ("c3,i1,2026-01-31,o9,1,12€", BAD_PRICE),
    ("c3,i1,2026-01-31,o9,1,-0.01", NEGATIVE_PRICE),
    ("c3,i1,2026-01-31,o9,1,1,surplus", TOO_MANY_FIELDS),
    (GOOD[0], DUPLICATE_LINE),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS)
def test_each_bad_row_is_rejected_with_its_reason_line_and_raw_values(tmp_path: Path, row: str, reason: str) -> None:
    path = write(tmp_path, "orders.csv", [HEADER, *GOOD, row, "c4,i2,2026-02-02,o5,1,2"])
    result = load_orders(path)

    assert result.rejects.height == 1
    reject = result.rejects.row(0, named=True)
    assert reject["source"] == "orders"
    assert reject["line"] == 5  # header is line 1, then three good lines
    assert reject["reason"] == reason
    raw = [reject[c] or "" for c in HEADER.split(",")]
    assert raw == row.split(",")[:6]
    assert result.summary.rejected_by_reason == {reason: 1}
    assert result.history.n_lines == 4
    assert_counts_consistent(result)


def test_a_row_gets_the_first_reason_that_applies(tmp_path: Path) -> None:
    path = write(
        tmp_path, "orders.csv", [HEADER, " ,,never,o1,-1,-1", "c1,i1,never,o1,-1,-1", "c1,i1,2026-01-31,o1,0,x"]
    )
    reasons = load_orders(path).rejects.get_column("reason").to_list()
    assert reasons == [EMPTY_CUSTOMER, BAD_ORDERED_AT, NON_POSITIVE_QUANTITY]


def test_duplicate_keeps_first_occurrence_and_compares_every_column(tmp_path: Path) -> None:
    lines = [
        "customer_id,item_id,ordered_at,note",
        "c1,i1,2026-01-31,first",
        "c1,i1,2026-01-31,other note",  # differs in an extra column: not a duplicate
        "c1,i1,2026-01-31,first",
        "c1,i1,2026-01-31,first",
    ]
    result = load_orders(write(tmp_path, "orders.csv", lines))
    assert result.rejects.get_column("line").to_list() == [4, 5]
    assert set(result.rejects.get_column("reason")) == {DUPLICATE_LINE}
    assert result.history.n_lines == 2


def test_order_id_of_several_customers_belongs_to_the_first(tmp_path: Path) -> None:
    lines = [
        HEADER,
        "c2,i1,2026-01-31,o1,1,1",
        "c1,i2,2026-01-31,o1,1,1",
        "c2,i3,2026-01-31,o1,1,1",
        "c1,i4,2026-02-01,o2,1,1",
        "c3,i9,2026-02-01,o3,1,1",  # the only line of c3 (a shared order elsewhere does not matter)
        "c3,i5,2026-02-01,o2,1,1",
        "c4,i5,2026-02-01,o1,1,1",  # c4's only line: c4 is not a customer of the history
    ]
    result = load_orders(write(tmp_path, "orders.csv", lines))
    rejects = result.rejects.filter(pl.col("reason") == SHARED_ORDER)
    assert rejects.get_column("line").to_list() == [3, 7, 8]
    h = result.history
    assert h.customers.ids.tolist() == ["c1", "c2", "c3"]
    kept = sorted(zip(h.customers.external(h.customer), h.items.external(h.item), strict=True))
    assert kept == [("c1", "i4"), ("c2", "i1"), ("c2", "i3"), ("c3", "i9")]
    assert_counts_consistent(result)


def test_file_mixing_every_kind_of_bad_row_keeps_counts_consistent(tmp_path: Path) -> None:
    rows = [HEADER, *GOOD, *(row for row, _ in BAD_ROWS), "c5,i1,2026-01-31,o1,1,1", "", "c6,i7,2026-03-01,,1,"]
    catalog = write(tmp_path, "catalog.csv", ["item_id,in_stock", "i1,yes", "i1,no", ",yes", "i8,maybe", "i9,"])
    result = load_orders(write(tmp_path, "orders.csv", rows), catalog_path=catalog)

    s = result.summary
    assert s.rows_in == len(GOOD) + len(BAD_ROWS) + 2
    assert s.blank_lines == 1
    expected = {reason: sum(r == reason for _, r in BAD_ROWS) for reason in ORDER_REASONS}
    expected[SHARED_ORDER] += 1
    assert s.rejected_by_reason == {r: n for r, n in expected.items() if n}
    assert list(s.rejected_by_reason) == [r for r in ORDER_REASONS if expected[r]]  # in checking order
    assert s.catalog_rejected_by_reason == {DUPLICATE_ITEM: 1, EMPTY_ITEM: 1, BAD_IN_STOCK: 1}
    assert_counts_consistent(result)
    assert result.rejects.filter(pl.col("source") == "catalog").get_column("line").to_list() == [3, 4, 5]
    text = "\n".join(s.lines())
    assert f"{s.rows_rejected:,} rejected" in text and DUPLICATE_ITEM in text


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", ["customer_id,item_id,when", "c1,i1,2026-01-31"])
    with pytest.raises(MissingColumnsError) as err:
        load_orders(path)
    assert err.value.missing == ["ordered_at"]
    assert "ordered_at" in str(err.value) and str(path) in str(err.value)


def test_catalog_missing_item_id_is_named(tmp_path: Path) -> None:
    orders = write(tmp_path, "orders.csv", [HEADER, *GOOD])
    catalog = write(tmp_path, "catalog.csv", ["sku,name", "i1,Tent"])
    with pytest.raises(MissingColumnsError, match="item_id"):
        load_orders(orders, catalog_path=catalog)


def test_column_names_are_stripped_and_case_insensitive_and_extras_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", [" Customer_ID ,ITEM_ID,Ordered_At ,colour", " c1 ,i1 ,2026-01-31,red"])
    result = load_orders(path)
    assert result.history.customers.ids.tolist() == ["c1"]
    assert result.history.items.ids.tolist() == ["i1"]


def test_two_columns_with_one_name_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", ["customer_id,item_id,ordered_at,Item_ID", "c1,i1,2026-01-31,i2"])
    with pytest.raises(AmbiguousColumnsError, match="item_id"):
        load_orders(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", utc(2026, 1, 31)),
        ("2026-01-31T10:20:30", utc(2026, 1, 31, 10, 20, 30)),
        ("2026-01-31 10:20:30", utc(2026, 1, 31, 10, 20, 30)),
        ("2026-01-31T10:20:30Z", utc(2026, 1, 31, 10, 20, 30)),
        ("2026-01-31T10:20:30.750Z", utc(2026, 1, 31, 10, 20, 30)),
        ("2026-01-31T10:20:30+02:00", utc(2026, 1, 31, 8, 20, 30)),
        ("2026-01-31T10:20:30-0530", utc(2026, 1, 31, 15, 50, 30)),
        ("2026-01-31 10:20", utc(2026, 1, 31, 10, 20)),
        (" 1769854830 ", 1769854830),
        ("1769854830.9", 1769854830),
    ],
)
def test_ordered_at_formats(text: str, expected: int) -> None:
    # mixed with another format, so each value is parsed whatever the file's main format is
    values = pl.Series([text, "2025-06-01T00:00:00Z", "not a date"])
    seconds, ok = parse_timestamps(values)
    assert ok.tolist() == [True, True, False]
    assert seconds[0] == expected
    assert seconds[1] == utc(2025, 6, 1)


def test_mixed_formats_in_one_file(tmp_path: Path) -> None:
    lines = ["customer_id,item_id,ordered_at", "c1,i1,2026-01-31", "c2,i1,1769817600", "c3,i1,2026-01-31T00:00:00Z"]
    h = load_orders(write(tmp_path, "orders.csv", lines)).history
    assert h.ordered_at.tolist() == [utc(2026, 1, 31)] * 3


def test_orders_without_order_id_are_a_customers_lines_at_one_time(tmp_path: Path) -> None:
    lines = [
        "customer_id,item_id,ordered_at",
        "c1,i1,2026-01-31T10:00:00",
        "c1,i2,2026-01-31T10:00:00Z",  # same instant, another spelling: same order
        "c2,i3,2026-01-31T10:00:00",  # same time, other customer: another order
        "c1,i3,2026-01-31T10:00:01",  # one second later: another order
    ]
    h = load_orders(write(tmp_path, "orders.csv", lines)).history
    assert h.n_orders == 3
    lines_of = zip(h.customers.external(h.customer), h.items.external(h.item), h.order, strict=True)
    order_of = {(c, i): o for c, i, o in lines_of}
    assert order_of["c1", "i1"] == order_of["c1", "i2"]
    assert len({order_of["c1", "i1"], order_of["c2", "i3"], order_of["c1", "i3"]}) == 3


def test_orders_with_order_id_group_by_it(tmp_path: Path) -> None:
    lines = [
        "customer_id,item_id,ordered_at,order_id",
        "c1,i1,2026-01-31T10:00:00,A",
        "c1,i2,2026-01-31T10:05:00,A",  # same order_id, later line time: one order at its first time
        "c1,i3,2026-01-31T10:00:00,B",  # same time, other order_id: another order
        "c1,i4,2026-01-31T10:00:00,",  # no order_id: grouped by (customer, time), apart from A and B
    ]
    h = load_orders(write(tmp_path, "orders.csv", lines)).history
    assert h.n_orders == 3
    item = dict(zip(h.items.external(h.item), h.order, strict=True))
    assert item["i1"] == item["i2"]
    assert len({item["i1"], item["i3"], item["i4"]}) == 3
    assert np.all(h.ordered_at == utc(2026, 1, 31, 10))


def test_kept_values_and_defaults(tmp_path: Path) -> None:
    lines = ["customer_id,item_id,ordered_at,quantity,price", "c1,i1,2026-01-31,2.5,3.25", "c1,i2,2026-01-31,,"]
    h = load_orders(write(tmp_path, "orders.csv", lines)).history
    by_item = {str(i): (q, p) for i, q, p in zip(h.items.external(h.item), h.quantity, h.price, strict=True)}
    assert by_item["i1"] == (pytest.approx(2.5), pytest.approx(3.25))
    assert by_item["i2"][0] == 1.0 and np.isnan(by_item["i2"][1])


def test_without_quantity_and_price_columns(tmp_path: Path) -> None:
    h = load_orders(write(tmp_path, "orders.csv", ["customer_id,item_id,ordered_at", "c1,i1,2026-01-31"])).history
    assert h.quantity.tolist() == [1.0] and np.isnan(h.price[0])


def test_catalog_is_aligned_and_covers_catalog_only_items(tmp_path: Path) -> None:
    orders = write(tmp_path, "orders.csv", [HEADER, *GOOD, "c3,i0,2026-02-03,o3,1,1"])
    catalog = write(
        tmp_path,
        "catalog.csv",
        [
            "item_id,name,category,in_stock,price",
            "i2,Sleeping bag,Camping,no,59.90",
            "i1,Tent,Camping,yes,199",
            "i9,Stove,Kitchen,,25",  # never bought
        ],
    )
    result = load_orders(orders, catalog_path=catalog)
    h = result.history
    assert sorted(h.items.ids.tolist()) == ["i0", "i1", "i2", "i9"]
    cat = h.catalog

    def facts(item: str) -> tuple[str | None, str, bool, float]:
        k = h.items.index_one(item)
        return cat.category_name(k), str(cat.name[k]), bool(cat.in_stock[k]), float(cat.price[k])

    assert facts("i1") == ("Camping", "Tent", True, pytest.approx(199.0))
    assert facts("i2") == ("Camping", "Sleeping bag", False, pytest.approx(59.9))
    assert facts("i9") == ("Kitchen", "Stove", True, pytest.approx(25.0))
    category, name, in_stock, price = facts("i0")  # bought, not in the catalog: defaults
    assert (category, name, in_stock) == (None, "", True) and np.isnan(price)
    assert h.customer_items()[:, h.items.index_one("i9")].nnz == 0
    assert result.summary.catalog_rows_in == 3 and result.summary.catalog_rows_kept == 3


def test_catalog_rejects_keep_source_line_and_values(tmp_path: Path) -> None:
    orders = write(tmp_path, "orders.csv", [HEADER, *GOOD])
    catalog = write(tmp_path, "catalog.csv", ["item_id,name", "i1,Tent", " ,Nameless", "i1,Tent again"])
    result = load_orders(orders, catalog_path=catalog)
    rejects = result.rejects.select("source", "line", "reason", "item_id", "name").rows()
    assert rejects == [("catalog", 3, EMPTY_ITEM, " ", "Nameless"), ("catalog", 4, DUPLICATE_ITEM, "i1", "Tent again")]
    assert str(result.history.catalog.name[result.history.items.index_one("i1")]) == "Tent"
    assert_counts_consistent(result)


def test_header_only_and_empty_files_give_an_empty_history(tmp_path: Path) -> None:
    for path in (write(tmp_path, "header.csv", [HEADER]), tmp_path / "empty.csv"):
        path.touch()
        result = load_orders(path)
        assert result.history.n_lines == 0 and result.summary.rows_in == 0
        assert result.rejects.height == 0
        with pytest.raises(EmptyHistoryError, match=f"no usable order lines in {path}"):
            check_usable(result)


def test_all_rows_rejected_is_not_usable(tmp_path: Path) -> None:
    result = load_orders(write(tmp_path, "orders.csv", [HEADER, ",i1,2026-01-31,o1,1,1"]))
    with pytest.raises(EmptyHistoryError):
        check_usable(result)


def test_parquet_gives_the_same_history_as_csv(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "orders.csv", [HEADER, *GOOD, "c3,,2026-02-01,o3,1,1"])
    frame = pl.read_csv(csv_path, infer_schema=False)
    frame.write_parquet(tmp_path / "orders.parquet")
    from_csv, from_parquet = load_orders(csv_path), load_orders(tmp_path / "orders.parquet")
    for name in ("customer", "item", "order", "ordered_at", "quantity"):
        assert np.array_equal(getattr(from_csv.history, name), getattr(from_parquet.history, name))
    assert from_parquet.rejects.get_column("line").to_list() == [4]  # Parquet rows count from 1


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "customer_id": [1, 2],
            "item_id": ["i1", "i2"],
            "ordered_at": [datetime(2026, 1, 31, 10), datetime(2026, 2, 1, 11, 30)],
            "quantity": [1.0, 2.0],
            "price": [None, 3.5],
            "tags": [[1], [2, 3]],  # a nested extra column is ignored
        }
    )
    frame.write_parquet(tmp_path / "orders.pq")
    result = load_orders(tmp_path / "orders.pq")
    h = result.history
    assert result.summary.rows_kept == 2
    assert h.customers.ids.tolist() == ["1", "2"]
    assert h.ordered_at.tolist() == [utc(2026, 1, 31, 10), utc(2026, 2, 1, 11, 30)]


def test_gzipped_csv_and_semicolon_separator(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join([HEADER.replace(",", ";"), *(g.replace(",", ";") for g in GOOD)]) + "\n")
    assert load_orders(path).history.n_lines == len(GOOD)


def test_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    lines = [HEADER, GOOD[0], "", '"multi', 'line",i1,2026-01-31,o7,1,1', "c9,i1,2026-01-31,o8,0,1"]
    result = load_orders(write(tmp_path, "orders.csv", lines))
    assert result.rejects.get_column("line").to_list() == [6]
    assert result.summary.blank_lines == 1
    assert "multi\nline" in result.history.customers.ids.tolist()


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="no such file"):
        load_orders(tmp_path / "missing.csv")
    other = write(tmp_path, "orders.xlsx", [HEADER])
    with pytest.raises(UnreadableFileError, match=r"\.csv"):
        load_orders(other)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes((HEADER + "\nc1,caf\xe9,2026-01-31,o1,1,1\n").encode("latin-1"))
    with pytest.raises(UnreadableFileError, match="UTF-8"):
        load_orders(latin1)
    with pytest.raises(UnreadableFileError):
        load_orders(write(tmp_path, "orders.parquet", ["not parquet"]))


def test_write_rejects_round_trips_and_writes_a_header_when_empty(tmp_path: Path) -> None:
    result = load_orders(write(tmp_path, "orders.csv", [HEADER, *GOOD, "c1,i1,soon,o1,1,1"]))
    out = write_rejects(result, tmp_path / "rejects.csv")
    back = pl.read_csv(out, infer_schema=False)
    assert back.get_column("reason").to_list() == [BAD_ORDERED_AT]
    assert back.get_column("ordered_at").to_list() == ["soon"]

    clean = load_orders(write(tmp_path, "clean.csv", [HEADER, *GOOD]))
    empty_out = write_rejects(clean, tmp_path / "none.csv")
    assert empty_out.read_text().splitlines()[0].split(",")[:3] == ["source", "line", "reason"]
    assert len(empty_out.read_text().splitlines()) == 1


def test_check_reject_ratio_threshold(tmp_path: Path) -> None:
    rows = [HEADER, *GOOD, "c9,i1,2026-01-31,o9,1,1", "c1,i1,bad,o1,1,1"]  # 1 of 5 rejected
    summary = load_orders(write(tmp_path, "orders.csv", rows)).summary
    assert summary.reject_ratio == pytest.approx(0.2)
    check_reject_ratio(summary, 0.2)  # at the limit: fine
    with pytest.raises(TooManyRejectsError) as err:
        check_reject_ratio(summary, 0.19)
    assert (err.value.rejected, err.value.total) == (1, 5)
    with pytest.raises(ValueError):
        check_reject_ratio(summary, 1.5)
