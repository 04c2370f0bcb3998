"""``python -m benchmarks.quality --engine spark``: the Spark engine's quality next to the local engine's, same run.

Both engines run the same protocols on the same data; only what an engine swaps (``training.engine``: the
reader and the ALS fits) differs:

- Ta-Feng, production protocol: the file read by each engine's reader (the two histories' fingerprints must
  match), then ``training.pipeline.evaluate`` on every customer (each customer's last basket held out; next
  purchase against it, for you against its new items), as ``recs train`` scores a version.
- MovieLens 100k for you: ``benchmarks.quality``'s two protocols (random 80/20, per-customer stratified
  75/25) with their tuned configs, the bundle's for-you surface and its ALS alone.

Every metric gets its relative difference (spark / local - 1); the goal is within ``TOLERANCE``.

``python -m benchmarks.spark_parity --als-study [--data DIR]`` (no Spark) measures where Ta-Feng's for-you gap
comes from, on the same production protocol with the local engine and other factorizers swapped in
(``factorized_by``): implicit's ALS with its conjugate-gradient solver (the local engine), with exact solves
(``use_cg=False``) and with 10 CG steps, over ALS seeds, and at other ``lambda``; then an exact ALS written here
in numpy (``exact_als``) on implicit's objective (``lambda`` for every row) and on MLlib's (``regParam`` times
each row's number of ratings, confidence ``w + 1``, ``regParam`` from ``training.spark.als.mllib_reg_param``),
the latter at 1 and 1/4 times the mapped ``regParam`` and with implicit's confidence w. docs/spark.md
("Quality parity") has the numbers.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from benchmarks.datasets import movielens_100k_orders, tafeng_orders
from benchmarks.tables import Metrics, Results
from recommender.bundle import BundleConfig
from recommender.data import fingerprint, load_orders
from recommender.models.collaborative import CollaborativeConfig, Factorizer, als_arguments, factorized_by
from training.engine import LOCAL, Engine
from training.pipeline import evaluate
from training.spark.als import mllib_reg_param

TOLERANCE = 0.03
TAFENG_METRICS = (
    "next_purchase.recall_at_10",
    "next_purchase.ndcg_at_10",
    "next_purchase.recall_at_20",
    "for_you.precision_at_10",
    "for_you.recall_at_10",
    "for_you.ndcg_at_10",
)
MOVIELENS_ROWS = ("for you (bundle: EASE + ALS)", "ALS alone (bundle's)")
MOVIELENS_METRICS = ("precision_at_10", "recall_at_10", "ndcg_at_10")


def _timed(function: Callable[[], Metrics]) -> tuple[Metrics, float]:
    t0 = time.perf_counter()
    return function(), time.perf_counter() - t0


def tafeng(data: Path, engine: Engine) -> tuple[Metrics, float, str]:
    """The production protocol's metrics on ``engine``, its seconds (read + evaluate) and the data's fingerprint."""
    t0 = time.perf_counter()
    history = load_orders(tafeng_orders(data), reader=engine.reader).history
    with engine.running():
        metrics = evaluate(history, BundleConfig(), max_customers=0).metrics
    return (
        {name: metrics[name] for name in TAFENG_METRICS},
        time.perf_counter() - t0,
        fingerprint(history)["fingerprint"],
    )


def movielens(data: Path, engine: Engine, seeds: int) -> tuple[Metrics, float]:
    from benchmarks.quality import movielens_protocol

    t0 = time.perf_counter()
    history = load_orders(movielens_100k_orders(data), reader=engine.reader).history
    out: Metrics = {}
    with engine.running():
        for protocol in ("random", "stratified"):
            rows = movielens_protocol(history, protocol, seeds)
            for row in MOVIELENS_ROWS:
                out.update({f"{protocol}: {row}: {m}": rows[row][m] for m in MOVIELENS_METRICS})
    return out, time.perf_counter() - t0


def _table(title: str, local: Metrics, spark: Metrics, seconds: tuple[float, float]) -> str:
    lines = [
        f"\n### {title} (local {seconds[0]:.0f} s, spark {seconds[1]:.0f} s)\n",
        "| metric | local | spark local[2] | spark / local - 1 | within 3% |",
        "|---|---:|---:|---:|---|",
    ]
    for name, value in local.items():
        other = spark[name]
        relative = other / value - 1 if value else float("nan")
        verdict = "yes" if abs(relative) <= TOLERANCE else "NO"
        lines.append(f"| {name} | {value:.4f} | {other:.4f} | {relative:+.2%} | {verdict} |")
    return "\n".join(lines)


def spark_parity(data: Path, seeds: int, master: str = "local[2]") -> Results:
    """Both engines on Ta-Feng and MovieLens 100k; prints markdown tables, returns every number."""
    from training.spark import spark_engine, spark_session

    results: Results = {"master": master, "seeds": seeds, "tolerance": TOLERANCE}
    with spark_session(master) as session:
        spark = spark_engine(session)
        local_tf, local_s, local_fp = tafeng(data, LOCAL)
        spark_tf, spark_s, spark_fp = tafeng(data, spark)
        if local_fp != spark_fp:
            raise AssertionError(f"the engines read different histories: {local_fp} != {spark_fp}")
        print(_table("Ta-Feng, production protocol, every customer", local_tf, spark_tf, (local_s, spark_s)))
        local_ml, local_ml_s = movielens(data, LOCAL, seeds)
        spark_ml, spark_ml_s = movielens(data, spark, seeds)
        print(_table(f"MovieLens 100k for you, mean of {seeds} seeds", local_ml, spark_ml, (local_ml_s, spark_ml_s)))
    results["tafeng"] = {"local": local_tf, "spark": spark_tf, "seconds": [local_s, spark_s], "fingerprint": local_fp}
    results["movielens"] = {"local": local_ml, "spark": spark_ml, "seconds": [local_ml_s, spark_ml_s]}
    return results


# where Ta-Feng's for-you gap comes from (no Spark) ----------------------------------------------------------
# the blend (the for-you surface), then the same customers ranked by its ALS alone
FOR_YOU = ("precision_at_10", "recall_at_10", "ndcg_at_10")
STUDY_ROWS = {"for_you": "for you", "for_you.baseline.als_alone": "ALS alone"}
STUDY_SEEDS = (42, 43, 44)
_OUTER_BLOCK = 20_000  # stored values per block of rows solved at once (their k x k outer products in memory)


def _solve_rows(ratings: sp.csr_matrix, fixed: np.ndarray, reg: np.ndarray, plus_one: bool) -> np.ndarray:
    """Every row's exact least squares against ``fixed``: ``(F'F + F'(C - I)F + reg I) x = F'C p``, with the
    confidence C = w (implicit) or w + 1 (MLlib) on the stored values and 1 elsewhere; empty rows get zeros."""
    k = fixed.shape[1]
    gram = fixed.T @ fixed
    out = np.zeros((ratings.shape[0], k))
    indptr = ratings.indptr
    start = 0
    while start < ratings.shape[0]:
        stop = int(np.searchsorted(indptr, indptr[start] + _OUTER_BLOCK, side="right")) - 1
        stop = min(max(stop, start + 1), ratings.shape[0])
        block = ratings[start:stop]
        confidence = block.data + (1.0 if plus_one else 0.0)
        rows = np.repeat(np.arange(stop - start), np.diff(block.indptr))
        seen = fixed[block.indices]
        lhs = np.broadcast_to(gram, (stop - start, k, k)) + reg[start:stop, None, None] * np.eye(k)
        filled = np.diff(block.indptr) > 0
        if filled.any():
            outer = np.einsum("ni,nj->nij", seen * (confidence - 1.0)[:, None], seen)
            lhs[filled] += np.add.reduceat(outer, block.indptr[:-1][filled], axis=0)
        rhs = np.zeros((stop - start, k))
        np.add.at(rhs, rows, seen * confidence[:, None])
        out[start:stop] = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        out[start:stop][~filled] = 0.0
        start = stop
    return out


def exact_als(
    weighted: sp.csr_matrix, config: CollaborativeConfig, mllib: bool, plus_one: bool, reg_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Implicit-feedback ALS solved exactly (float64), seeded. ``mllib`` False: implicit's objective, every row
    regularized by ``config.regularization``; True: MLlib's (ALS-WR), each row by ``reg_scale * mllib_reg_param``
    times its number of ratings. ``plus_one``: the confidence of a stored value w is w + 1 (MLlib with alpha 1),
    else w (implicit)."""
    ratings = weighted.tocsr().astype(np.float64)
    transposed = ratings.T.tocsr()
    per_customer, per_item = np.diff(ratings.indptr).astype(float), np.diff(transposed.indptr).astype(float)
    if mllib:
        reg_param = reg_scale * mllib_reg_param(weighted, config)
        customer_reg, item_reg = reg_param * per_customer, reg_param * per_item
    else:
        customer_reg = np.full(len(per_customer), config.regularization)
        item_reg = np.full(len(per_item), config.regularization)
    items = np.random.default_rng(config.seed).standard_normal((ratings.shape[1], config.factors))
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    customers = np.zeros((ratings.shape[0], config.factors))
    for _ in range(config.iterations):
        customers = _solve_rows(ratings, items, customer_reg, plus_one)
        items = _solve_rows(transposed, customers, item_reg, plus_one)
    return customers.astype(np.float32), items.astype(np.float32)


def _implicit(**solver: int | bool) -> Factorizer:
    """implicit's CPU ALS as ``fit_factors`` runs it, with its solver's attributes changed."""

    def factorize(weighted: sp.csr_matrix, config: CollaborativeConfig) -> tuple[np.ndarray, np.ndarray]:
        with threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares(**als_arguments(config))
            for name, value in solver.items():
                setattr(als, name, value)
            als.fit(weighted, show_progress=False)
        return np.ascontiguousarray(als.user_factors, np.float32), np.ascontiguousarray(als.item_factors, np.float32)

    return factorize


def als_study(data: Path) -> Results:
    """Ta-Feng's production protocol (local engine) with each factorizer; prints a markdown table of for you (the
    blend) and of its ALS alone."""
    history = load_orders(tafeng_orders(data)).history
    # (name, factorizer, ALS seed, lambda)
    variants: list[tuple[str, Factorizer, int, float]] = []
    for seed in STUDY_SEEDS:
        variants += [
            ("implicit, conjugate gradient, 3 steps (the local engine)", _implicit(), seed, 10.0),
            ("implicit, exact solves (use_cg=False)", _implicit(use_cg=False), seed, 10.0),
        ]
    variants.append(("implicit, conjugate gradient, 10 steps", _implicit(cg_steps=10), 42, 10.0))
    variants += [(f"implicit, lambda {lam:g}", _implicit(), 42, lam) for lam in (30.0, 100.0)]
    variants.append(("numpy exact, implicit's objective", partial(exact_als, mllib=False, plus_one=False), 42, 10.0))
    for scale in (1.0, 0.25):
        mllib = partial(exact_als, mllib=True, plus_one=True, reg_scale=scale)
        variants.append((f"numpy exact, MLlib's objective, {scale:g} x regParam", mllib, 42, 10.0))
    implicit_confidence = partial(exact_als, mllib=True, plus_one=False)
    variants.append(("numpy exact, MLlib's objective, confidence w", implicit_confidence, 42, 10.0))
    print(
        "\n| factorizer | ALS seed | lambda | for you P@10 | R@10 | NDCG@10 | ALS alone P@10 | R@10 | NDCG@10 | "
        "seconds |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        flush=True,
    )
    out: Results = {}
    for name, factorize, seed, lam in variants:
        config = BundleConfig()
        als = config.collaborative.model_copy(update={"seed": seed, "regularization": lam})
        config = config.model_copy(update={"collaborative": als})
        t0 = time.perf_counter()
        with factorized_by(factorize):
            metrics = evaluate(history, config, max_customers=0).metrics
        seconds = time.perf_counter() - t0
        values = [metrics[f"{row}.{key}"] for row in STUDY_ROWS for key in FOR_YOU]
        print(
            f"| {name} | {seed} | {lam:g} | " + " | ".join(f"{v:.4f}" for v in values) + f" | {seconds:.0f} |",
            flush=True,
        )
        keys = [f"{label}: {key}" for label in STUDY_ROWS.values() for key in FOR_YOU]
        out[f"{name}, seed {seed}, lambda {lam:g}"] = dict(zip(keys, values, strict=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--als-study", action="store_true", help="where Ta-Feng's for-you gap comes from (no Spark)")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent / "data")
    arguments = parser.parse_args()
    if not arguments.als_study:
        parser.error("the engines side by side run from: python -m benchmarks.quality --engine spark")
    als_study(arguments.data)


if __name__ == "__main__":
    main()
