"""The synthetic shop's customers: their tastes, favourites and activity, and their background items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.synthetic.catalog import _Catalog
from recommender.synthetic.products import FILLERS
from recommender.synthetic.rules import TASTE_FAVOURITE_PROB
from recommender.synthetic.shop import ShopConfig


@dataclass(frozen=True)
class _People:
    taste: np.ndarray  # (n, 4) background category positions, the first n_taste of them used
    n_taste: np.ndarray  # 2..4 per customer
    favourite: np.ndarray  # (n, 4) favourite item per taste slot
    activity: np.ndarray  # mean background orders over the period, per customer


def _sample_in_category(cat: _Catalog, category_pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One item per entry, following popularity within the given background category positions."""
    at = np.searchsorted(cat.pool_cum, category_pos + rng.random(len(category_pos)), side="right")
    return cat.pool_item[np.minimum(at, len(cat.pool_item) - 1)]


def _draw_people(cfg: ShopConfig, cat: _Catalog, rng: np.random.Generator) -> _People:
    n = cfg.customers
    gumbel = np.log(cat.category_weight)[None, :] + rng.gumbel(size=(n, len(FILLERS)))
    taste = np.argsort(-gumbel, axis=1)[:, :4]  # categories without replacement, by popularity
    favourite = _sample_in_category(cat, taste.ravel(), rng).reshape(taste.shape)
    mean_orders = cfg.orders_per_month * cfg.days / 30.0
    activity = mean_orders * rng.gamma(1.2, 1.0 / 1.2, n)
    return _People(taste=taste, n_taste=rng.integers(2, 5, n), favourite=favourite, activity=activity)


def _background_items(
    cfg: ShopConfig, cat: _Catalog, people: _People, customer: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One background item per entry of ``customer``: tastes and favourites, or noise by popularity."""
    slot = (rng.random(len(customer)) * people.n_taste[customer]).astype(np.int64)
    category = people.taste[customer, slot]
    noise = rng.random(len(customer)) < cfg.noise
    category[noise] = rng.choice(len(FILLERS), size=int(noise.sum()), p=cat.category_weight)
    item = _sample_in_category(cat, category, rng)
    fav = ~noise & (rng.random(len(customer)) < TASTE_FAVOURITE_PROB)
    item[fav] = people.favourite[customer[fav], slot[fav]]
    return item
