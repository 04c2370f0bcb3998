"""The time split, repeat statistics and popularity: local engine against Spark's history parts (docs/spark.md).

    python -m benchmarks.spark_history_parts ORDERS.csv [--master local[2]] [--repeat 3]

Generates nothing: give it a file, e.g. the 1.1M-line shop of docs/spark.md::

    python -c "from recommender.synthetic import ShopConfig, generate_shop; \\
        generate_shop(ShopConfig(customers=50_000, items=20_000, seed=1)).orders.write_csv('orders_1m.csv')"

Loads the file with the local loader, then times each step (``split_last_order``, ``RepeatStats.fit`` with the
default config, ``PopularModel().fit``) ``--repeat`` times with the local engine, then with the Spark engine on
``--master`` (its per-customer and per-order passes as Spark tasks; the first Spark run of each step is
reported apart: it pays the Python workers' start and imports), and checks the results are equal. Also times
the pass alone on the whole history (``customer_last_orders``, ``customer_repeats``, ``decayed_lines``): the
work that moves to the executors; the rest of each step stays on the driver. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from recommender.data import load_orders
from recommender.evaluation import split_last_order
from recommender.evaluation.splits import customer_last_orders
from recommender.history import OrderHistory
from recommender.models.next_purchase import NextPurchaseConfig
from recommender.models.next_purchase.repeats import RepeatStats, customer_repeats
from recommender.models.popular import PopularModel, decayed_lines
from training.engine import LOCAL, Engine


def _times(step: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        seconds.append(round(time.perf_counter() - start, 3))
    return seconds, result


def _steps(history: OrderHistory) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """Per step: (the step, its pass alone on the whole history)."""
    cfg = NextPurchaseConfig()
    return {
        "time split": (lambda: split_last_order(history), lambda: customer_last_orders(history)),
        "repeat statistics": (lambda: RepeatStats.fit(history, cfg), lambda: customer_repeats(history, cfg)),
        "popularity": (
            lambda: PopularModel().fit(history)._state(),
            partial(decayed_lines, history, history.end_time, 30.0),
        ),
    }


def _same(name: str, ours: Any, theirs: Any) -> bool:
    if name == "time split":
        return bool(
            np.array_equal(ours.customers, theirs.customers)
            and (ours.targets != theirs.targets).nnz == 0
            and np.array_equal(ours.train.order, theirs.train.order)
        )
    if name == "repeat statistics":
        return all(np.array_equal(a, b) for a, b in zip(ours.state().values(), theirs.state().values(), strict=True))
    return all(np.array_equal(ours[key], theirs[key]) for key in theirs)


def _run(engine: Engine, history: OrderHistory, repeat: int, cold: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with engine.running():
        for name, (step, _) in _steps(history).items():
            first = _times(step, 1)[0][0] if cold else None
            seconds, result = _times(step, repeat)
            out[name] = {"seconds": seconds, "first_seconds": first, "result": result}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", type=Path)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from training.spark import spark_engine, spark_session

    history = load_orders(args.orders).history
    local = _run(LOCAL, history, args.repeat, cold=False)
    passes = {name: _times(work, args.repeat)[0] for name, (_, work) in _steps(history).items()}
    with spark_session(args.master) as session:
        spark = _run(spark_engine(session), history, args.repeat, cold=True)
    report: dict[str, Any] = {
        "lines": history.n_lines,
        "customers": history.n_customers,
        "items": history.n_items,
        "master": args.master,
    }
    for name in local:
        report[name] = {
            "local_s": local[name]["seconds"],
            "pass_alone_local_s": passes[name],
            "spark_first_s": spark[name]["first_seconds"],
            "spark_s": spark[name]["seconds"],
            "equal": _same(name, spark[name]["result"], local[name]["result"]),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
