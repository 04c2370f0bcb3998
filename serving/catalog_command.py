"""``recs catalog push FILE``: a CSV or Parquet file of catalog changes into the live catalog in Redis.

The file has ``item_id`` and any of ``in_stock``, ``price``, ``category``, ``name``, ``active`` (other
columns are refused, so that a misspelled one is not silently dropped); an empty cell leaves that field as
it is. Every row is checked as ``PUT /v1/items`` checks a record (``serving.schemas.CatalogItem``); the
rows that fail go to a rejects CSV (``line``, ``reason``, then the row as read: the line is the file's line
for CSV, header = 1, and the row number from 1 for Parquet), the others are written
(``serving.catalog_store.write_items_sync``). Serving processes apply them on their next request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from serving.catalog_store import FIELDS
from serving.registry_publish import redis_url
from serving.schemas import CatalogItem
from training.exit_codes import EXIT_BAD_DATA
from training.settings import TrainingSettings

app = typer.Typer(no_args_is_help=True, help="The live catalog: stock, price, category, names without retraining.")
COLUMNS = ("item_id", *FIELDS)
# text cells read as the JSON body's types (a cell that does not read stays text: the check says why)
FROM_TEXT: dict[str, TypeAdapter[Any]] = {
    "in_stock": TypeAdapter(bool),
    "active": TypeAdapter(bool),
    "price": TypeAdapter(float),
}


class CatalogFileError(ValueError):
    """The file cannot be read as a catalog (unreadable, no ``item_id`` column, unknown columns)."""


def read_rows(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(the rows, keys normalized to lower case and stripped; the number of the first row's line)."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame, first = pl.read_parquet(path), 1
        else:
            frame, first = pl.read_csv(path, infer_schema=False), 2
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise CatalogFileError(f"cannot read {path}: {exc}") from exc
    names = {column: column.strip().lower() for column in frame.columns}
    unknown = sorted(name for name in names.values() if name not in COLUMNS)
    if "item_id" not in names.values():
        raise CatalogFileError(f"{path} has no item_id column (columns: {', '.join(frame.columns)})")
    if unknown:
        raise CatalogFileError(f"{path}: unknown columns {', '.join(unknown)}; a catalog file has {', '.join(COLUMNS)}")
    return frame.rename(names).to_dicts(), first


def check_rows(rows: list[dict[str, Any]], first: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(valid records, rejects with ``line`` and ``reason``); an empty cell means the field is not given."""
    records: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for offset, row in enumerate(rows):
        given = {name: from_text(name, value) for name, value in row.items() if value is not None and value != ""}
        try:
            records.append(CatalogItem.model_validate(given).model_dump())
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
            raw = {name: None if value is None else str(value) for name, value in row.items()}
            rejects.append({"line": first + offset, "reason": reason, **raw})
    return records, rejects


def from_text(name: str, value: Any) -> Any:
    """A CSV cell as the body's type: ``true``/``false``/``1``/``0``/``yes``/``no`` and decimal numbers."""
    if name not in FROM_TEXT or not isinstance(value, str):
        return value
    try:
        return FROM_TEXT[name].validate_python(value.strip())
    except ValidationError:
        return value


def write_rejects(rejects: list[dict[str, Any]], path: Path) -> Path:
    """The rejects as CSV (``line``, ``reason``, the row's columns); a header-only file when there are none."""
    frame = pl.DataFrame(rejects, infer_schema_length=None) if rejects else pl.DataFrame(schema={"line": pl.Int64})
    frame.write_csv(path)
    return path


@app.command("push")
def push_command(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet: item_id and any of " + ", ".join(FIELDS) + ".")],
    rejects: Annotated[
        Path | None, typer.Option(help="Where refused rows go (default: FILE.rejects.csv beside the file).")
    ] = None,
) -> None:
    """Push catalog changes (stock, price, category, name, active) into Redis; new items become servable."""
    from serving.cache import connect_sync
    from serving.catalog_store import write_items_sync

    console = Console()
    try:
        rows, first = read_rows(file)
    except CatalogFileError as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_BAD_DATA) from exc
    records, refused = check_rows(rows, first)
    rejects_path = write_rejects(refused, rejects or file.with_name(file.name + ".rejects.csv"))
    stamp = 0
    if records:
        with redis_url(TrainingSettings()) as url:
            client = connect_sync(url)
            try:
                stamp = write_items_sync(client, records)
            finally:
                client.close()
    console.print(
        f"pushed {len(records)} items (catalog stamp {stamp}); {len(refused)} rows refused, listed in {rejects_path}",
        markup=False,
    )
