"""Steps over the rows of one answer at request time (``recommender.request_time``), in as few calls as
possible.

An answer has tens of rows; each numpy call on such arrays costs about a microsecond of overhead whatever
its size, so these steps are written for the fewest calls (``benchmarks.serve_speed``: the diversity cap
as a dozen numpy calls was a seventh of a customer request's CPU). Not numba: the serving process imports
no JIT (``tests/serving/test_import_weight.py``; numba adds about 65 MB to each worker). Every step is exact:
same result as the longer numpy it replaces, no floating point involved.
"""

from __future__ import annotations

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


def touched_rows(items: np.ndarray, blocked: np.ndarray | None, factor: np.ndarray | None) -> tuple[int, int]:
    """(rows whose item ``blocked`` marks, rows whose item has a ``factor`` other than 1); None counts
    nothing, and items outside the arrays count as untouched."""
    n_blocked = 0 if blocked is None else int(np.count_nonzero(gathered(blocked, items, False)))
    n_moved = 0 if factor is None else int(np.count_nonzero(gathered(factor, items, 1.0) != 1.0))
    return n_blocked, n_moved


def capped_order(items: np.ndarray, category: np.ndarray, cap: int) -> np.ndarray | None:
    """The rows' order under a diversity cap: by tier (a row's occurrence within its category // ``cap``),
    stable; rows of no category (-1, or an item outside ``category``) are tier 0. None when every row is
    tier 0 (nothing moves).

    One gather, then one pass over the rows' categories as a list: for tens of rows this is about half the
    time of the eight numpy calls that rank occurrences within categories (measured in
    ``benchmarks.serve_speed``'s setup, 40 rows: 9.5 against 14.8 µs)."""
    seen: dict[int, int] = {}
    tiers: list[int] = []
    moved = False
    for cat in gathered(np.asarray(category), items, -1).tolist():
        if cat < 0:
            tiers.append(0)
            continue
        before = seen.get(cat, 0)
        seen[cat] = before + 1
        tier = before // cap
        moved = moved or tier > 0
        tiers.append(tier)
    if not moved:
        return None
    return np.argsort(np.asarray(tiers), kind="stable")
