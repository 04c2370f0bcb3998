"""``recs tune``'s two samplers compared in the same time budget: Optuna's TPE (``training.search_optuna``)
against the hand-written random + local search (``training.search.run_trials``).

For each data set and seed, both searches run on the same validation split (``training.search``: each
customer's last order dropped, the second-to-last the targets) with the same budget in seconds, from the
defaults. Reported per sampler: the trials it ran, the best validation ``next_purchase.ndcg_at_10`` and
``complements.hit_rate_at_5`` it reached, and the test numbers of the config it would save (fitted on
everything but each customer's last order and scored on the last orders, as ``recs train`` reports them;
complements on the defaults' window, so every config is scored on the same anchors). The defaults' test
numbers are the reference. Nothing is logged to MLflow: the searches are called directly.

Data sets: the generated demo shop (``recommender.synthetic``, ``--customers`` customers) and a sample of
``--customers`` Ta-Feng customers (``benchmarks.datasets.tafeng_orders``; the Reality Check's
``tafeng_merged.json`` in ``--data`` or given with ``--tafeng-json``).

    python -m benchmarks.search_compare --seconds 60 --seeds 0 1 2 --customers 3000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from recommender.bundle import BundleConfig
from recommender.data import load_orders
from recommender.history import OrderHistory
from training.pipeline import prepare_evaluation, rescore
from training.search import Budget, best_trials, compose_best, prepare, run_trials, search_history
from training.search_optuna import run_optuna_trials
from training.search_space import DEFAULT_SPACE

REPO = Path(__file__).resolve().parent.parent
METRICS = ("next_purchase.ndcg_at_10", "complements.hit_rate_at_5")


def demo_history(customers: int, seed: int = 7) -> OrderHistory:
    from recommender.synthetic import generate

    shop = generate(tempfile.mkdtemp(prefix="search-compare-"), customers=customers, seed=seed)
    return load_orders(shop["orders"], catalog_path=shop["catalog"]).history


def tafeng_history(data_dir: Path, source: Path | None, customers: int, seed: int = 7) -> OrderHistory:
    from benchmarks.datasets import tafeng_orders

    orders = pl.read_csv(tafeng_orders(data_dir, source), schema_overrides={"customer_id": pl.Utf8})
    ids = orders["customer_id"].unique().sort().to_numpy()
    picked = np.random.default_rng(seed).choice(ids, size=min(customers, len(ids)), replace=False)
    sample = Path(tempfile.mkdtemp(prefix="search-compare-")) / "tafeng_sample.csv"
    orders.filter(pl.col("customer_id").is_in(picked.tolist())).write_csv(sample)
    return load_orders(sample).history


def search(
    history: OrderHistory, sampler: str, seconds: float, seed: int
) -> tuple[BundleConfig, dict[str, float], int]:
    """One search from the defaults: the config it would save, its validation metrics, its trial count."""
    base = BundleConfig()
    data = prepare(search_history(history, validation=True), base)
    budget = Budget(seconds=seconds)
    if sampler == "tpe":
        trials = run_optuna_trials(data, base, DEFAULT_SPACE, budget, seed)
    else:
        trials = run_trials(data, base, DEFAULT_SPACE, budget, np.random.default_rng(seed))
    best, metrics = compose_best(base, best_trials(trials))
    return best, metrics, len(trials)


def compare(name: str, history: OrderHistory, seconds: float, seeds: list[int]) -> list[dict[str, object]]:
    test_data = prepare_evaluation(history, BundleConfig())  # the last orders; the defaults' complements window
    defaults = rescore(test_data, BundleConfig()).metrics
    rows: list[dict[str, object]] = [
        {"data": name, "sampler": "defaults", "seed": None, "trials": 0, "validation": {},
         "test": {m: defaults.get(m) for m in METRICS}}
    ]  # fmt: skip
    for seed in seeds:
        for sampler in ("hand", "tpe") if seed % 2 == 0 else ("tpe", "hand"):  # alternate who runs first
            t0 = time.perf_counter()
            best, validation, n_trials = search(history, sampler, seconds, seed)
            test = rescore(test_data, best).metrics
            row = {
                "data": name,
                "sampler": sampler,
                "seed": seed,
                "trials": n_trials,
                "seconds": round(time.perf_counter() - t0, 1),
                "validation": {m: validation.get(m) for m in METRICS},
                "test": {m: test.get(m) for m in METRICS},
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    """Mean over seeds per data set and sampler, markdown."""
    lines = [
        "| data | sampler | trials | val. NDCG@10 | val. HitRate@5 | test NDCG@10 | test HitRate@5 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault((str(row["data"]), str(row["sampler"])), []).append(row)

    def mean(group: list[dict[str, object]], part: str, metric: str) -> str:
        values = [r[part].get(metric) for r in group]  # type: ignore[union-attr]
        values = [v for v in values if v is not None]
        return f"{np.mean(values):.4f}" if values else "-"

    for (data, sampler), group in groups.items():
        trials = np.mean([float(r["trials"]) for r in group])  # type: ignore[arg-type]
        cells = [mean(group, part, m) for part in ("validation", "test") for m in METRICS]
        lines.append(f"| {data} | {sampler} | {trials:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="Time budget of each search.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--data", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--tafeng-json", type=Path, default=None, help="tafeng_merged.json (default: in --data)")
    parser.add_argument("--only", choices=["demo", "tafeng"], default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "search_compare.json")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    if args.only in (None, "demo"):
        rows += compare(f"demo shop, {args.customers}", demo_history(args.customers), args.seconds, args.seeds)
    if args.only in (None, "tafeng"):
        history = tafeng_history(args.data, args.tafeng_json, args.customers)
        rows += compare(f"Ta-Feng, {args.customers}", history, args.seconds, args.seeds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()
