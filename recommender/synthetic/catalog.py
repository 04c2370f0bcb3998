"""Drawing the synthetic shop's catalog from its products: filler items, popularity, stock (as arrays).

``_build_catalog`` lays out the planted items of ``ROLES`` first, then a random number of filler items per
background category (readable ids, distinct names, log-normal prices), a Zipf popularity rank within each
category, the matching complement of every anchor item, and the out-of-stock items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.synthetic.products import ADJECTIVES, FILLERS, OUT_OF_STOCK_NAMED, ROLES, _Filler
from recommender.synthetic.rules import CATEGORY_ZIPF, ITEM_ZIPF, OUT_OF_STOCK_SHARE
from recommender.synthetic.shop import ShopConfig


@dataclass(frozen=True)
class _Catalog:
    ids: np.ndarray  # str per item
    names: np.ndarray  # str per item
    category: np.ndarray  # str per item
    price: np.ndarray  # float64 per item
    in_stock: np.ndarray  # bool per item
    roles: dict[str, np.ndarray]  # role -> item indices, most popular first
    match: np.ndarray  # int per item: the matching complement item index, -1 if none
    pool_item: np.ndarray  # background item indices grouped by background category
    pool_cum: np.ndarray  # category position + within-category cumulative popularity, per pool entry
    category_weight: np.ndarray  # popularity of each background category (sums to 1)


def _zipf(n: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return w / w.sum()


def _filler_counts(n_fill: int, rng: np.random.Generator) -> np.ndarray:
    """How many filler items each background category gets: at least one, roughly even, random."""
    share = rng.dirichlet(np.full(len(FILLERS), 8.0))
    counts = 1 + np.floor(share * (n_fill - len(FILLERS))).astype(np.int64)
    counts[np.argsort(-share)[: n_fill - counts.sum()]] += 1
    return counts


def _filler_items(filler: _Filler, count: int, rng: np.random.Generator) -> list[tuple[str, str, float]]:
    """``count`` (id, name, price) rows of one background category: readable ids, distinct names."""
    n_combo = len(ADJECTIVES) * len(filler.nouns)
    combo = rng.permutation(n_combo)[np.arange(count) % n_combo]
    prices = np.round(filler.base_price * rng.lognormal(0.0, 0.45, count)) - 0.01
    rows = []
    for j in range(count):
        adj, noun = ADJECTIVES[combo[j] % len(ADJECTIVES)], filler.nouns[combo[j] // len(ADJECTIVES)]
        suffix = "" if j < n_combo else f" {j // n_combo + 1}"
        noun_slug = noun.lower().replace(" ", "-")
        rows.append((f"{filler.slug}-{noun_slug}-{j + 1:03d}", f"{adj} {noun}{suffix}", float(max(prices[j], 0.99))))
    return rows


def _build_catalog(cfg: ShopConfig, rng: np.random.Generator) -> _Catalog:
    ids: list[str] = []
    names: list[str] = []
    cats: list[str] = []
    prices: list[float] = []
    roles: dict[str, np.ndarray] = {}
    for role in ROLES:
        roles[role.role] = np.arange(len(ids), len(ids) + len(role.items))
        ids += [it.item_id for it in role.items]
        names += [it.name for it in role.items]
        cats += [role.category] * len(role.items)
        prices += [it.price for it in role.items]
    n_named = len(ids)
    counts = _filler_counts(cfg.items - n_named, rng)
    pool_item: list[np.ndarray] = []
    pool_cum: list[np.ndarray] = []
    for pos, (filler, count) in enumerate(zip(FILLERS, counts, strict=True)):
        first = len(ids)
        for item_id, name, price in _filler_items(filler, int(count), rng):
            ids.append(item_id)
            names.append(name)
            cats.append(filler.category)
            prices.append(price)
        members = np.arange(first, len(ids))
        if filler.category == "Tea":
            members = np.concatenate([roles["teas"], members])
        members = rng.permutation(members)  # popularity rank within the category
        cum = np.cumsum(_zipf(len(members), ITEM_ZIPF))
        cum[-1] = 1.0
        pool_item.append(members)
        pool_cum.append(pos + cum)
    id_arr = np.array(ids)
    index = {item_id: i for i, item_id in enumerate(ids)}
    match = np.full(len(ids), -1, dtype=np.int64)
    for role in ROLES:
        for it in role.items:
            if it.match:
                match[index[it.item_id]] = index[it.match]
    in_stock = rng.random(len(ids)) >= OUT_OF_STOCK_SHARE
    in_stock[:n_named] = True
    in_stock[[index[i] for i in OUT_OF_STOCK_NAMED]] = False
    return _Catalog(
        ids=id_arr,
        names=np.array(names),
        category=np.array(cats),
        price=np.array(prices),
        in_stock=in_stock,
        roles=roles,
        match=match,
        pool_item=np.concatenate(pool_item),
        pool_cum=np.concatenate(pool_cum),
        category_weight=_zipf(len(FILLERS), CATEGORY_ZIPF),
    )
