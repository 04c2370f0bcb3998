"""What a new item's similar list is worth before the next retrain: the live catalog's answer (its category's
popular items, as ``GET /v1/items/{new item}/similar`` pads it) against ordering the same items by price
(closest to the new item's first, by the ratio of prices), both scored by how much of the trained model's
own similar list (what the item gets after the next retrain) they hold.

Every item of the generated shop with a full similar list plays the new item in turn: the answers see only
its category and price, as for an item pushed through ``PUT /v1/items``. ``python -m benchmarks.new_items``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from recommender.models.popular import PopularModel
from recommender.synthetic.files import generate
from training.pipeline import train

K = 10


def overlap(got: np.ndarray, truth: np.ndarray) -> float:
    return len(set(got.tolist()) & set(truth.tolist())) / max(len(truth), 1)


def closest_in_price(pool: np.ndarray, price: np.ndarray, target: float) -> np.ndarray:
    """``pool`` closest in price to ``target`` first (ties and unpriced items keep the pool's order)."""
    prices = price[pool]
    distance = np.where(prices > 0, np.abs(np.log(np.maximum(prices, 1e-9) / max(target, 1e-9))), np.inf)
    return pool[np.argsort(distance, kind="stable")]


def main(customers: int = 3000, seed: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shop = generate(Path(tmp), customers=customers, seed=seed)
        bundle = train(shop["orders"], shop["catalog"], rejects_path=Path(tmp) / "rejects.csv").bundle
    catalog = bundle.catalog
    popular = bundle.models["popular"]
    assert isinstance(popular, PopularModel)
    pools = {c: popular.top(100, category=c)[0] for c in range(len(catalog.categories))}
    price = np.nan_to_num(catalog.price.astype(np.float64), nan=0.0)
    items = bundle.items.ids
    model = bundle.recommend(items.tolist(), "similar", k=K)
    served, by_price = [], []
    for i, item in enumerate(items.tolist()):
        truth = bundle.items.index(model["item_id"][(model["id"] == item) & ~model["fallback"]].tolist())
        category = int(catalog.category[i])
        if len(truth) < K or category < 0:
            continue
        pool = pools[category][pools[category] != i]
        served.append(overlap(pool[:K], truth))
        by_price.append(overlap(closest_in_price(pool, price, float(price[i]))[:K], truth))
    print(f"items playing the new item: {len(served)} (shop of {customers} customers, seed {seed})")
    print(f"| a new item's similar items | share of the model's similar top-{K} they hold |")
    print("|---|---|")
    print(f"| its category's popular items (served) | {np.mean(served):.3f} |")
    print(f"| its category's items closest in price | {np.mean(by_price):.3f} |")


if __name__ == "__main__":
    main()
