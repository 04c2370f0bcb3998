"""Writing a synthetic shop as ``orders.csv`` and ``catalog.csv``, and ``recs generate``'s entry."""

from __future__ import annotations

from pathlib import Path

from recommender.synthetic.generator import generate_shop
from recommender.synthetic.shop import Shop, ShopConfig

ORDERS_FILE = "orders.csv"
CATALOG_FILE = "catalog.csv"


def write_shop(shop: Shop, out_dir: str | Path) -> dict[str, Path]:
    """Write ``orders.csv`` and ``catalog.csv`` under ``out_dir`` (created if needed); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"orders": out / ORDERS_FILE, "catalog": out / CATALOG_FILE}
    shop.orders.write_csv(paths["orders"])
    shop.catalog.write_csv(paths["catalog"])
    return paths


def generate(out_dir: str | Path, customers: int = 2000, seed: int = 7) -> dict[str, Path]:
    """``recs generate``: a default shop of ``customers`` customers written to ``out_dir``."""
    return write_shop(generate_shop(ShopConfig(customers=customers, seed=seed)), out_dir)
