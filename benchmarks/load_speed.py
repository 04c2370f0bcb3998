"""How fast ``recommender.data.load_orders`` reads and validates an orders CSV, against a bare polars read.

    python -m benchmarks.load_speed [--lines 1000000] [--seed 0] [--repeats 3]

Generates (numpy, seeded, vectorized) a realistic orders CSV into a temporary directory: string
customer and item ids, ISO datetimes, order ids, quantities, prices, popularity skew, and about
0.5% bad rows of every kind the loader rejects. Then times ``load_orders`` (best of ``--repeats``)
and a bare ``polars.read_csv`` of the same file (all columns as strings, as the loader reads them),
and prints one table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from recommender.data import load_orders

START = 1_704_067_200  # 2024-01-01T00:00:00Z
SPAN = 2 * 365 * 86_400
BAD_SHARE = 0.005
BAD_KINDS = ("empty customer", "empty item", "bad date", "bad quantity", "zero quantity", "bad price", "duplicate")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    digits = pl.Series("v", numbers).cast(pl.String).str.zfill(width)
    return digits.to_frame().select(pl.concat_str(pl.lit(prefix), pl.col("v"))).to_series()


def generate_orders(n_lines: int, rng: np.random.Generator) -> pl.DataFrame:
    """About ``n_lines`` order lines (exactly ``n_lines``) as strings, with ~0.5% bad rows."""
    n_customers = max(10, n_lines // 20)
    n_items = max(50, n_lines // 50)
    n_draw = 2 * n_lines + 10  # extra lines: an item drawn twice in one order is dropped below
    order_sizes = 1 + rng.poisson(2.0, size=n_draw)
    n_orders = int(np.searchsorted(np.cumsum(order_sizes), n_draw)) + 1
    order_of_line = np.repeat(np.arange(n_orders), order_sizes[:n_orders])[:n_draw]
    # skew: customers' activity is log-normal, items' popularity Zipf-like
    activity = rng.lognormal(0.0, 1.0, size=n_customers)
    order_customer = rng.choice(n_customers, size=n_orders, p=activity / activity.sum())
    order_time = START + rng.integers(0, SPAN, size=n_orders)
    item = rng.permutation(n_items)[np.minimum(rng.zipf(1.2, size=n_draw), n_items) - 1]
    _, first = np.unique(order_of_line.astype(np.int64) * n_items + item, return_index=True)
    keep = np.sort(first)[:n_lines]  # one line per (order, item), file order kept
    order_of_line, item = order_of_line[keep], item[keep]
    item_price = np.round(rng.lognormal(3.0, 1.0, size=n_items), 2)
    quantity = 1 + rng.poisson(0.3, size=len(item))
    frame = pl.DataFrame(
        {
            "order_id": _ids("O", order_of_line, 9),
            "customer_id": _ids("C", order_customer[order_of_line], 8),
            "item_id": _ids("SKU-", item, 6),
            "ordered_at": pl.from_epoch(pl.Series(order_time[order_of_line]), time_unit="s").dt.strftime(
                "%Y-%m-%dT%H:%M:%S"
            ),
            "quantity": pl.Series(quantity).cast(pl.String),
            "price": pl.Series(item_price[item]).cast(pl.String),
        }
    )
    return _spoil(frame, rng)


def write_orders(path: Path, n_lines: int, seed: int) -> None:
    """Write ``generate_orders(n_lines, default_rng(seed))`` as CSV."""
    generate_orders(n_lines, np.random.default_rng(seed)).write_csv(path)


def _spoil(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Make ~``BAD_SHARE`` of the rows bad, each with one kind from ``BAD_KINDS``."""
    n = frame.height
    bad = np.flatnonzero(rng.random(n) < BAD_SHARE)
    bad = bad[bad > 0]
    kind = np.full(n, -1)
    kind[bad] = rng.integers(0, len(BAD_KINDS), size=len(bad))
    dup = kind == BAD_KINDS.index("duplicate")
    source = np.where(dup, np.arange(n) - 1, np.arange(n))  # a duplicate repeats the line before it
    frame = frame[source].with_columns(pl.Series("k", kind))
    k = pl.col("k")
    return frame.with_columns(
        pl.when(k == 0).then(pl.lit("  ")).otherwise(pl.col("customer_id")).alias("customer_id"),
        pl.when(k == 1).then(pl.lit("")).otherwise(pl.col("item_id")).alias("item_id"),
        pl.when(k == 2).then(pl.lit("31/02/2025")).otherwise(pl.col("ordered_at")).alias("ordered_at"),
        pl.when(k == 3)
        .then(pl.lit("two"))
        .when(k == 4)
        .then(pl.lit("0"))
        .otherwise(pl.col("quantity"))
        .alias("quantity"),
        pl.when(k == 5).then(pl.lit("12,50")).otherwise(pl.col("price")).alias("price"),
    ).drop("k")


def _best_of(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        result = None  # let the previous result go, so that peak memory is one run's
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        # generated in a child process, so that the peak RSS below is the readers' alone
        child = multiprocessing.get_context("spawn").Process(target=write_orders, args=(path, args.lines, args.seed))
        child.start()
        child.join()
        size_mb = path.stat().st_size / 2**20
        bare_s, _ = _best_of(args.repeats, lambda: pl.read_csv(path, infer_schema=False))
        ours_s, result = _best_of(args.repeats, lambda: load_orders(path))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    summary = result.summary  # type: ignore[attr-defined]

    print(f"file: {args.lines:,} lines, {size_mb:.1f} MB CSV; best of {args.repeats}")
    header = f"{'reader':<14}{'lines':>12}{'seconds':>10}{'lines/s':>14}{'peak RSS MB':>13}{'rejects':>10}"
    print(header)
    print("-" * len(header))
    print(
        f"{'load_orders':<14}{summary.rows_in:>12,}{ours_s:>10.3f}{summary.rows_in / ours_s:>14,.0f}"
        f"{peak_mb:>13.0f}{summary.rows_rejected:>10,}"
    )
    print(f"{'pl.read_csv':<14}{args.lines:>12,}{bare_s:>10.3f}{args.lines / bare_s:>14,.0f}{'':>13}{'':>10}")
    print(f"ratio ours/bare: {ours_s / bare_s:.1f}x")
    for line in summary.lines():
        print(line)


if __name__ == "__main__":
    main()
