"""The live catalog applied to a version's tables: stock, price, category, name and ``active`` per item, and
items the version does not know (new items), appended after its own.

``apply_records(tables, records)`` returns new ``VersionTables`` (the given ones are never changed: requests
in flight keep theirs). A record's fields override the version's; fields it does not give keep the
version's values. A new item starts in stock, with no price (0) and no category unless its record says so;
it gets the next index after the version's items (``published_items`` marks where they start), has no
precomputed list, and is ranked in the popular lists after the version's own items (overall, and in its
category), in the order the items were first written. Applying the records already applied again gives the
same tables, so a process applies only what changed since its stamp, and everything to a fresh version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from serving.cache import VersionTables

NEW_ITEM_SCORE = 0.0  # a new item's popular score: below every sold item (the version's scores are > 0)


def apply_records(tables: VersionTables, records: Mapping[str, Mapping[str, Any]]) -> VersionTables:
    """``tables`` with ``records`` (item id -> fields) applied; ``tables`` itself when ``records`` is empty."""
    if not records:
        return tables
    published = tables.published_items if tables.published_items >= 0 else len(tables.item_ids)
    index = tables.item_index
    new_ids = [item for item in records if item not in index]
    if new_ids:
        index = {**index, **{item: len(tables.item_ids) + i for i, item in enumerate(new_ids)}}
    extra = len(new_ids)
    item_ids = np.concatenate([tables.item_ids, np.asarray(new_ids, dtype=str)]) if extra else tables.item_ids
    category = np.concatenate([tables.category, np.full(extra, -1, dtype=np.int32)])
    in_stock = np.concatenate([tables.in_stock, np.ones(extra, dtype=bool)])
    price = np.concatenate([tables.price, np.zeros(extra, dtype=np.float32)])
    names = tables.names.astype(object)
    names = np.concatenate([names, np.full(extra, "", dtype=object)])
    listed = np.ones(len(item_ids), dtype=bool)
    if tables.listed is not None:
        listed[: len(tables.listed)] = tables.listed
    categories = list(tables.categories)
    category_of = {name: c for c, name in enumerate(categories)}
    for item, record in records.items():
        i = index[item]
        if isinstance(record.get("in_stock"), bool):
            in_stock[i] = record["in_stock"]
        if isinstance(record.get("active"), bool):
            listed[i] = record["active"]
        if isinstance(record.get("price"), int | float) and record["price"] >= 0:
            price[i] = record["price"]
        if isinstance(record.get("name"), str):
            names[i] = record["name"]
        name = record.get("category")
        if isinstance(name, str) and name:
            if name not in category_of:
                category_of[name] = len(categories)
                categories.append(name)
            category[i] = category_of[name]
    overall, by_category = new_item_popular(tables, category, published, len(categories))
    return dataclasses.replace(
        tables,
        item_ids=item_ids,
        item_index=index,
        category=category,
        categories=categories,
        in_stock=in_stock,
        price=price,
        names=names.astype(str),
        listed=listed,
        published_items=published,
        popular_items=overall[0],
        popular_scores=overall[1],
        popular_by_category=by_category,
        category_repeat_rate=repeat_rates(tables.category_repeat_rate, len(categories)),
    )


def new_item_popular(
    tables: VersionTables, category: np.ndarray, published: int, n_categories: int
) -> tuple[tuple[np.ndarray, np.ndarray], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """The popular lists (overall, per category) of the version's items, then the new items after them."""
    new = np.arange(published, len(category), dtype=np.int32)

    def extended(items: np.ndarray, scores: np.ndarray, add: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = items < published  # the version's own items (new ones are appended again below)
        items, scores = items[keep], scores[keep]
        return (
            np.concatenate([items, add]).astype(np.int32),
            np.concatenate([scores, np.full(len(add), NEW_ITEM_SCORE, dtype=np.float32)]).astype(np.float32),
        )

    overall = extended(tables.popular_items, tables.popular_scores, new)
    empty = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
    by_category = {
        c: extended(*tables.popular_by_category.get(c, empty), new[category[new] == c]) for c in range(n_categories)
    }
    return overall, by_category


def repeat_rates(rates: np.ndarray | None, n_categories: int) -> np.ndarray | None:
    """Per-category repeat rates, extended for new categories (1.0: never treated as bought once)."""
    if rates is None or len(rates) >= n_categories:
        return rates
    return np.concatenate([rates, np.ones(n_categories - len(rates), dtype=np.float32)])
