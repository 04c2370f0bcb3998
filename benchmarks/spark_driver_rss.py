"""The Spark driver's memory while it loads an orders file with the Spark reader (docs/spark.md, "What runs where").

    python -m benchmarks.spark_driver_rss ORDERS.csv [--master local[2]]

Generates nothing: give it a file, e.g. the 1.1M-line shop of docs/spark.md::

    python -c "from recommender.synthetic import ShopConfig, generate_shop; \\
        generate_shop(ShopConfig(customers=50_000, items=20_000, seed=1)).orders.write_csv('orders_1m.csv')"

Starts a SparkSession, then times ``load_orders(path, reader=spark_reader(session))``. Reports the Python
driver's peak RSS (``ru_maxrss`` of this process: exact, no sampling; the process that holds what is collected)
before and after the load, and the peak RSS of Spark's JVM and of the Python workers (sampled every 0.1 s: on
a ``local`` master the JVM is the driver's and the executors' at once, so it is not the driver alone).
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.1
MB = 1024 * 1024


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _sample(stop: threading.Event, peaks: dict[str, float]) -> None:
    me = psutil.Process()
    while not stop.is_set():
        jvm, workers = 0, 0
        for child in me.children(recursive=True):
            try:
                rss = child.memory_info().rss
                if "java" in child.name():
                    jvm += rss
                else:
                    workers += rss
            except psutil.Error:
                continue
        peaks["jvm_mb"] = max(peaks.get("jvm_mb", 0.0), jvm / MB)
        peaks["python_workers_mb"] = max(peaks.get("python_workers_mb", 0.0), workers / MB)
        stop.wait(SAMPLE_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", type=Path)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    from recommender.data import load_orders
    from training.spark import spark_session
    from training.spark.reader import spark_reader

    with spark_session(args.master) as session:
        session.range(1).count()  # Spark started before the measurement
        before = _peak_rss_mb()
        peaks: dict[str, float] = {}
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(stop, peaks), daemon=True)
        sampler.start()
        start = time.perf_counter()
        result = load_orders(args.orders, reader=spark_reader(session))
        seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
    report = {
        "orders": str(args.orders),
        "rows_in": result.summary.rows_in,
        "rows_kept": result.summary.rows_kept,
        "load_seconds": round(seconds, 1),
        "driver_python_peak_rss_mb_before_load": round(before),
        "driver_python_peak_rss_mb": round(_peak_rss_mb()),
        **{name: round(value) for name, value in peaks.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
