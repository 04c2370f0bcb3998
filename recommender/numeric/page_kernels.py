"""Steps over the rows of one answer at request time (``recommender.request_time``), in as few calls as
possible.

An answer has tens of rows; each numpy call on such arrays costs about a microsecond of overhead whatever
its size, so these steps are written for the fewest calls (``benchmarks.serve_speed``: the diversity cap
as a dozen numpy calls was a seventh of a customer request's CPU). Not numba: the serving process imports
no JIT (``tests/serving/test_import_weight.py``; numba adds about 65 MB to each worker). Every step is exact:
same result as the longer numpy it replaces, no floating point involved.
"""

from __future__ import annotations

import itertools

import numpy as np


def gathered(per_item: np.ndarray, items: np.ndarray, fill: bool | float = 0) -> np.ndarray:
    """``per_item`` (a value per catalog item) at ``items``; items outside the catalog (-1: none) get
    ``fill``. The rows of an answer are catalog items: one bounds check, then a plain gather."""
    items = np.asarray(items)
    n = len(per_item)
    if not len(items) or (int(items.min()) >= 0 and int(items.max()) < n):
        return per_item[items]
    valid = (items >= 0) & (items < n)
    out = np.full(len(items), fill, dtype=per_item.dtype)
    out[valid] = per_item[items[valid]]
    return out


def allowed_head(items: np.ndarray, allowed: np.ndarray, need: int) -> np.ndarray | None:
    """Positions of the first ``need`` rows whose item ``allowed`` lets through (items outside it are not
    allowed), in order, fewer when the list runs out; None when an item shows twice among them."""
    positions = np.flatnonzero(gathered(allowed, items))[:need]
    head = items[positions].tolist()
    if len(set(head)) < len(head):  # a set of tens of ints: faster than np.unique's sort
        return None
    return positions


def capped_order(items: np.ndarray, category: np.ndarray, cap: int) -> np.ndarray | None:
    """The rows' order under a diversity cap: by tier (a row's occurrence within its category // ``cap``),
    stable; rows of no category (-1, or an item outside ``category``) are tier 0. None when every row is
    tier 0 (nothing moves).

    One gather, then one pass over the rows' categories as a list, each row put in its tier's bucket (no
    sort): for tens of rows this is about half the time of the eight numpy calls that rank occurrences within
    categories (``benchmarks.serve_speed``'s setup, 40 rows: 9.5 against 14.8 µs)."""
    seen: dict[int, int] = {}
    tiers: list[list[int]] = [[]]  # row positions by tier, in order: their concatenation is the stable sort
    for position, cat in enumerate(gathered(np.asarray(category), items, -1).tolist()):
        tier = 0
        if cat >= 0:
            before = seen.get(cat, 0)
            seen[cat] = before + 1
            tier = before // cap
        while len(tiers) <= tier:
            tiers.append([])
        tiers[tier].append(position)
    if len(tiers) == 1:
        return None
    return np.fromiter(itertools.chain.from_iterable(tiers), dtype=np.intp, count=len(items))
