"""How fast ``recommender.numeric.inner_product_topk.top_inner_products`` ranks customers, on factors shaped like ALS's.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.inner_product_speed [--customers 20000] [--items 20000]
        [--factors 64] [--k 100] [--bought 20] [--repeats 3] [--seed 0] [--als]

Default factors: item factors normal, each item scaled by ``1 / rank ** 0.7`` of a shuffled popularity rank
(norms fall off like those of items sold with a long tail), customer factors normal, ``--bought`` random
items per customer excluded (a hard case for the pruning: most customers need 8,192 columns). With
``--als``: the ALS factors (``recommender.models.collaborative``, ``--factors`` of them) of a generated shop
of ``--customers`` and ``--items``, each customer's bought items excluded. Prints the best of ``--repeats``
wall times of one ``top_inner_products`` call over all customers, and of the same customers in the blocks a
publish uses (``rank_in_blocks``, as ``CollaborativeModel`` calls it), ``NormTiers.build`` timed apart, and a
checksum of the answer.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.numeric.inner_product_topk import NormTiers, top_inner_products
from recommender.numeric.topk import rank_in_blocks


def factors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """(customer factors, item factors, excluded pattern) of the benchmark, seeded."""
    rng = np.random.default_rng(args.seed)
    scale = (1.0 / np.arange(1, args.items + 1) ** 0.7)[rng.permutation(args.items)]
    items = (rng.normal(size=(args.items, args.factors)) * scale[:, None]).astype(np.float32)
    users = rng.normal(size=(args.customers, args.factors)).astype(np.float32)
    rows = np.repeat(np.arange(args.customers), args.bought)
    cols = rng.integers(0, args.items, size=len(rows))
    excluded = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(args.customers, args.items))
    excluded.sum_duplicates()
    return users, items, excluded


def als_factors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """(customer factors, item factors, bought pattern) of ALS fitted on a generated shop."""
    import polars as pl

    from recommender.models.collaborative import CollaborativeConfig, confidence_matrix, fit_factors
    from recommender.synthetic import ShopConfig, generate_shop

    orders = generate_shop(ShopConfig(customers=args.customers, items=args.items, seed=args.seed)).orders
    users = orders["customer_id"].cast(pl.Categorical).to_physical().to_numpy()
    items = orders["item_id"].cast(pl.Categorical).to_physical().to_numpy()
    counts = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)))
    counts.sum_duplicates()
    config = CollaborativeConfig(factors=args.factors)
    user_factors, item_factors = fit_factors(confidence_matrix(counts, config), config)
    return user_factors, item_factors, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--bought", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--als", action="store_true", help="ALS factors of a generated shop")
    args = parser.parse_args()
    users, items, excluded = als_factors(args) if args.als else factors(args)
    start = time.perf_counter()
    tiers = NormTiers.build(items)
    built = time.perf_counter() - start
    top_inner_products(tiers, users[:100], excluded[:100], args.k)  # compiles kernels, if any

    def block(rows: np.ndarray, k: int) -> Ranked:
        return top_inner_products(tiers, users[rows], excluded[rows], k)

    width = len(tiers.columns[tiers.first_tier(args.k)])
    queries = np.arange(len(users))
    whole, blocked = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ranked = top_inner_products(tiers, users, excluded, args.k)
        whole.append(time.perf_counter() - start)
        start = time.perf_counter()
        in_blocks = rank_in_blocks(queries, args.k, width, block)
        blocked.append(time.perf_counter() - start)
    assert np.array_equal(ranked.items, in_blocks.items)
    print(
        f"{'ALS' if args.als else 'generated'} factors, {len(users):,} customers x {len(items):,} items x "
        f"{items.shape[1]} factors, k={args.k}: top_inner_products best {min(whole):.3f} s "
        f"(runs {', '.join(f'{t:.3f}' for t in whole)}); in publish blocks best {min(blocked):.3f} s "
        f"(runs {', '.join(f'{t:.3f}' for t in blocked)}); NormTiers.build {built:.3f} s"
    )
    print(f"checksum items {int(ranked.items.astype(np.int64).sum())} scores {float(ranked.scores.sum()):.6f}")


if __name__ == "__main__":
    main()
