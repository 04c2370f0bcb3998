"""The training data's fingerprint: the same order lines give the same hash whatever the file's format and line
order; a changed line changes it; counts and the date range are those of the history."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recommender.data import fingerprint, load_orders

LINES = [
    ("o1", "c1", "tent", "1", "2026-01-05T10:00:00Z"),
    ("o1", "c1", "bag", "2", "2026-01-05T10:00:00Z"),
    ("o2", "c2", "tent", "1", "2026-02-01T08:30:00Z"),
    ("o3", "c1", "coffee", "1", "2026-03-09T12:00:00Z"),
]
COLUMNS = ["order_id", "customer_id", "item_id", "quantity", "ordered_at"]


def write(path: Path, lines: list[tuple[str, ...]], columns: list[str] = COLUMNS) -> Path:
    frame = pl.DataFrame([dict(zip(COLUMNS, line, strict=True)) for line in lines]).select(columns)
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return path


def test_same_lines_in_another_format_and_order_give_the_same_fingerprint(tmp_path: Path) -> None:
    first = fingerprint(load_orders(write(tmp_path / "a.csv", LINES)).history)
    shuffled = [LINES[i] for i in (3, 1, 0, 2)]
    other = fingerprint(load_orders(write(tmp_path / "b.parquet", shuffled, COLUMNS[::-1])).history)
    assert first == other
    assert first["lines"] == "4" and first["customers"] == "2" and first["items"] == "3"
    assert (first["first_order_at"], first["last_order_at"]) == (
        "2026-01-05T10:00:00+00:00",
        "2026-03-09T12:00:00+00:00",
    )
    assert len(first["fingerprint"]) == 16


def test_any_changed_line_changes_the_hash(tmp_path: Path) -> None:
    base = fingerprint(load_orders(write(tmp_path / "a.csv", LINES)).history)["fingerprint"]
    changes = [
        [*LINES[:3], ("o3", "c1", "coffee", "2", "2026-03-09T12:00:00Z")],  # quantity
        [*LINES[:3], ("o3", "c2", "coffee", "1", "2026-03-09T12:00:00Z")],  # customer
        [*LINES[:3], ("o3", "c1", "coffee", "1", "2026-03-09T12:00:01Z")],  # time
        LINES[:3],  # a line fewer
    ]
    hashes = {
        fingerprint(load_orders(write(tmp_path / f"{i}.csv", lines)).history)["fingerprint"]
        for i, lines in enumerate(changes)
    }
    assert len(hashes) == len(changes) and base not in hashes
