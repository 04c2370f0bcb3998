"""How long the whole ``recs train`` takes next to a bare implicit ALS fit on the same matrix.

    python -m benchmarks.train_speed [--customers 20000] [--seed 7]

Generates a shop, runs ``recs train`` as a real process (load, validate, evaluate on the time split,
refit, MLflow logging and registration into a temp sqlite store), then fits implicit's ALS alone on the
same customer x item matrix with the same factors, iterations and regularization, in the same run.
Prints a table with the ratio of each to the bare fit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads BLAS: implicit wants one thread

import numpy as np
import polars as pl
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.bundle import BundleConfig
from recommender.synthetic import generate

RECS = str(Path(sys.executable).with_name("recs"))


def bare_als_seconds(orders: Path, config: BundleConfig) -> tuple[float, float, int]:
    """(seconds to read + build the matrix, seconds to fit ALS, interactions) with implicit alone."""
    from implicit.cpu.als import AlternatingLeastSquares

    t0 = time.perf_counter()
    frame = pl.read_csv(orders, columns=["customer_id", "item_id"])
    users = frame["customer_id"].cast(pl.Categorical).to_physical().to_numpy()
    items = frame["item_id"].cast(pl.Categorical).to_physical().to_numpy()
    matrix = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)))
    matrix.sum_duplicates()
    build = time.perf_counter() - t0
    cfg = config.collaborative
    model = AlternatingLeastSquares(
        factors=cfg.factors,
        regularization=cfg.regularization,
        iterations=cfg.iterations,
        random_state=cfg.seed,
        calculate_training_loss=False,
    )
    with threadpool_limits(1, "blas"):
        t0 = time.perf_counter()
        model.fit(matrix, show_progress=False)
        fit = time.perf_counter() - t0
    return build, fit, matrix.nnz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = BundleConfig()

    with tempfile.TemporaryDirectory(prefix="recs-train-speed-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        paths = generate(work / "shop", customers=args.customers, seed=args.seed)
        gen = time.perf_counter() - t0
        lines = sum(1 for _ in paths["orders"].open()) - 1

        env = {**os.environ, "RECS_HOME": str(work / "home"), "OPENBLAS_NUM_THREADS": "1"}
        env.pop("MLFLOW_TRACKING_URI", None)
        metrics_json = work / "metrics.json"
        t0 = time.perf_counter()
        subprocess.run(
            [
                RECS,
                "train",
                "--orders",
                str(paths["orders"]),
                "--catalog",
                str(paths["catalog"]),
                "--metrics-json",
                str(metrics_json),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        total = time.perf_counter() - t0
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        seconds = json.loads(metrics_json.read_text())["seconds"]

        build, fit, nnz = bare_als_seconds(paths["orders"], config)

    rows = [
        ("bare implicit ALS fit (baseline)", fit),
        ("bare: read CSV + build matrix", build),
        ("recs train: load + validate", seconds["load"]),
        ("recs train: evaluate (fit on split + score)", seconds["evaluate"]),
        ("recs train: final fit of all models", seconds["fit"]),
        ("recs train: whole process (incl. MLflow)", total),
    ]
    print(
        f"\nshop: {args.customers} customers, {lines} order lines, {nnz} customer-item pairs "
        f"(generated in {gen:.1f}s); ALS factors={config.collaborative.factors} "
        f"iterations={config.collaborative.iterations}; recs train peak RSS {rss_mb:.0f} MB\n"
    )
    print(f"| {'step':<46} | {'seconds':>8} | {'x bare ALS fit':>14} |")
    print(f"|{'-' * 48}|{'-' * 10}|{'-' * 16}|")
    for name, value in rows:
        print(f"| {name:<46} | {value:8.2f} | {value / fit:14.2f} |")


if __name__ == "__main__":
    main()
