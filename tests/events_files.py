"""Test helper: an exported event directory written as ``recs events export`` writes it (its schema, its layout)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recommender.data.events import EVENT_ROW_SCHEMA


def write_events(directory: Path, rows: list[dict[str, object]], name: str = "part-1-0.parquet") -> Path:
    """``rows`` (``customer_id``, ``type``, ``item_id``, ``at`` as Unix seconds, optional ``order_id``,
    ``quantity``, ``price``) as one part per day under ``directory``; returns the directory."""
    by_day: dict[str, list[dict[str, object]]] = {}
    for n, row in enumerate(rows):
        at = dt.datetime.fromtimestamp(int(row["at"]), tz=dt.UTC) if row.get("at") is not None else None  # type: ignore[arg-type]
        full = {name: None for name in EVENT_ROW_SCHEMA.names}
        full.update(row, at=at, stream_id=f"{1000 + n}-0", position=1)
        by_day.setdefault((at or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).date().isoformat(), []).append(full)
    for day, day_rows in by_day.items():
        folder = directory / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(day_rows, schema=EVENT_ROW_SCHEMA), folder / name)
    return directory
