"""Rules and diversity applied to the rows of an answer: ``merchandise`` (one page out, and the rules that
touched it).

The rows come in ranked (an answer's full list up to the end of its page and beyond, filtered and padded by
the merge); in order:

1. ``block``: matching rows out (and never brought back by a pin or a promotion);
2. ``boost`` / ``bury``: each row's rank weight ``1 / (1 + rank)`` times the factors of the rules matching
   it, rows re-ranked by weight (stable): a boost of 2 lets an item pass those up to about twice as high;
   scores across the merge's sections are not comparable, ranks are;
3. diversity: with a ``cap``, the rows of a category past its first ``cap`` move down, below every row of a
   lower tier (tier = occurrence within the category // cap; items of no category stay where they are);
4. ``pin``: the item at its position (1-based, on the whole list, so page 1 holds positions 1..k), with the
   reason kind ``pinned``; an item the answer may not hold (``allowed``) or a blocked one is never pinned;
5. the page ``[offset, offset + k)``;
6. ``promote``: ``ceil(share * k)`` slots of the page for matching items: those already there count, then
   the best-ranked matching rows below the page, then the ``popular`` list (allowed, not blocked), each
   taking the slot of the lowest row that is neither pinned, nor promoted, nor matching.

Pins and promotions are a merchandiser's explicit choice: they may pass the diversity cap. Everything is a
handful of numpy calls per rule; no loop over items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from recommender.numeric.page_kernels import capped_order
from recommender.request_time.candidates import Candidates, Fallback
from recommender.request_time.rules import Rule, RuleBook

Mask = Callable[[np.ndarray], np.ndarray]  # items -> which of them are blocked


@dataclass(slots=True)  # built several times per request: a plain init is 3x faster than a frozen one
class Merchandised:
    """One page after rules and diversity, and the ids of the rules that touched it (in rule order)."""

    rows: Candidates
    rules: tuple[str, ...]


def diversified(rows: Candidates, category: np.ndarray, cap: int) -> Candidates:
    """Rows of a category past its first ``cap`` moved down by tier (occurrence // cap), stable otherwise."""
    n = len(rows)
    if cap <= 0 or n == 0:
        return rows
    order = capped_order(rows.items, np.asarray(category), cap)
    return rows if order is None else rows.take(order)  # None: no category past its cap, nothing moves


def merchandise(
    rows: Candidates,
    rules: Sequence[Rule],
    book: RuleBook,
    *,
    k: int,
    offset: int = 0,
    popular: Fallback | None = None,
    allowed: np.ndarray | None = None,
    cap: int = 0,
) -> Merchandised:
    """The page ``[offset, offset + k)`` of ``rows`` after ``rules`` (those in effect on this answer) and a
    diversity ``cap`` per category (0: none); ``allowed`` masks the items this answer may hold (pins and
    promotions from ``popular`` respect it)."""
    need = offset + k
    if not rules and cap <= 0:
        return Merchandised(rows.take(slice(offset, need)), ())
    touched: list[str] = []

    def touch(rule: Rule) -> None:
        if rule.rule_id is not None and rule.rule_id not in touched:
            touched.append(rule.rule_id)

    effects = book.effects(rules)  # the block and boost/bury rules as one mask and one factor per item
    catalog_size = len(book.catalog.category)
    rows = rows.take(inside(rows.items, catalog_size))  # every row a catalog item: plain gathers from here on

    def blocked(items: np.ndarray) -> np.ndarray:
        return np.zeros(len(items), dtype=bool) if effects.blocked is None else effects.blocked[items]

    hit = blocked(rows.items)
    if hit.any():
        for rule in effects.blocks:
            if book.target(rule)[rows.items[hit]].any():
                touch(rule)
        rows = rows.take(~hit)

    if effects.factor is not None and (effects.factor[rows.items] != 1.0).any():
        weight = 1.0 / (1.0 + np.arange(len(rows), dtype=np.float64))
        for rule in effects.weights:  # rule by rule, as the rules are ordered
            matched = book.target(rule)[rows.items]
            if matched.any():
                weight[matched] *= float(rule.factor or 1.0)
                touch(rule)
        rows = rows.take(np.argsort(-weight, kind="stable"))
    rows = diversified(rows, book.catalog.category, cap)

    rows, pinned = _pinned(rows, effects.pins, book, need, allowed, blocked, touch)
    page, rest = rows.take(slice(offset, need)), rows.take(slice(need, None))
    fixed = pinned[offset:need].copy()
    shown = rows.items[:need]
    for rule in effects.promotions:
        page, rest, fixed = _promoted(page, rest, fixed, shown, rule, book, k, popular, allowed, blocked)
        if book.target(rule)[page.items].any():
            touch(rule)
    return Merchandised(page, tuple(touched))


def inside(items: np.ndarray, size: int) -> slice | np.ndarray:
    """Which of ``items`` are catalog items (``0 <= item < size``): a slice of all of them, as always in
    practice, after one bounds check (two reductions instead of a check per gather)."""
    if not len(items) or (int(items.min()) >= 0 and int(items.max()) < size):
        return slice(None)
    return (items >= 0) & (items < size)


def _inside(items: np.ndarray, scores: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    keep = inside(np.asarray(items), size)
    return np.asarray(items)[keep], np.asarray(scores)[keep]


def _pinned(
    rows: Candidates,
    pins: list[Rule],
    book: RuleBook,
    need: int,
    allowed: np.ndarray | None,
    blocked: Mask,
    touch: Callable[[Rule], None],
) -> tuple[Candidates, np.ndarray]:
    """Rows with each pinned item at its position, and which rows are pinned."""
    placed: list[tuple[int, int, Rule]] = []
    for rule in sorted(pins, key=lambda r: (r.position or 0, r.rule_id or "")):
        item = book.item(rule.item_id)
        position = int(rule.position or 1) - 1
        if item < 0 or position >= need or blocked(np.array([item]))[0]:
            continue
        if allowed is not None and not bool(np.asarray(allowed)[item]):
            continue
        if any(p == position or i == item for p, i, _ in placed):
            continue  # a position or an item taken by a pin of an earlier rule (by position, then id)
        placed.append((position, item, rule))
    flags = np.zeros(len(rows), dtype=bool)
    if not placed:
        return rows, flags
    items = np.array([i for _, i, _ in placed], dtype=np.int32)
    present = np.isin(rows.items, items)
    own_score = dict(zip(rows.items[present].tolist(), rows.scores[present].tolist(), strict=True))
    rows = rows.take(~present)
    for position, item, rule in placed:  # ascending positions: a later insert never moves an earlier one
        at = min(position, len(rows))
        score = own_score.get(item, float(rows.scores[at]) if at < len(rows) else 0.0)
        row = Candidates.section(np.array([item]), np.array([score]), "pinned")
        rows = Candidates.concat([rows.take(slice(0, at)), row, rows.take(slice(at, None))])
        flags = np.concatenate([flags[:at], [True], flags[at:]])
        touch(rule)
    return rows, flags


def _promoted(
    page: Candidates,
    rest: Candidates,
    fixed: np.ndarray,
    shown: np.ndarray,
    rule: Rule,
    book: RuleBook,
    k: int,
    popular: Fallback | None,
    allowed: np.ndarray | None,
    blocked: Mask,
) -> tuple[Candidates, Candidates, np.ndarray]:
    """The page with ``rule``'s reserved slots filled (see ``merchandise``), what is left below it, and which
    page rows are fixed (pinned or promoted)."""
    target = book.target(rule)
    hit = target[page.items]
    short = min(rule.slots(k), len(page)) - int(hit.sum())
    free = np.flatnonzero(~hit & ~fixed)[::-1]  # the lowest replaceable rows first
    short = min(short, len(free))
    if short <= 0:
        return page, rest, fixed | hit
    below = np.flatnonzero(target[rest.items])[:short]
    extra = rest.take(below)
    left = np.ones(len(rest), dtype=bool)
    left[below] = False
    rest = rest.take(left)
    if len(extra) < short and popular is not None:
        items, scores = _inside(popular.items, popular.scores, len(target))
        ok = target[items] & ~blocked(items)
        if allowed is not None:
            ok &= np.asarray(allowed, dtype=bool)[items]
        # the first few matching popular items, then the ones shown or taken already out: the popular list may
        # be the whole catalog, the exclusions need only as many candidates as they could remove
        first = np.flatnonzero(ok)[: short - len(extra) + len(shown) + len(extra) + len(page)]
        first = first[~np.isin(items[first], np.concatenate([shown, extra.items, page.items]))]
        pad = Candidates.section(items[first], scores[first], "popular", float(popular.category))
        extra = Candidates.concat([extra, pad.take(slice(0, short - len(extra)))])
    slots = np.sort(free[: len(extra)])
    items, scores, kinds = page.items.copy(), page.scores.copy(), page.kinds.copy()
    values, sources = page.values.copy(), page.sources.copy()
    items[slots], scores[slots], kinds[slots] = extra.items, extra.scores, extra.kinds
    values[slots], sources[slots] = extra.values, extra.sources
    fixed = fixed | hit
    fixed[slots] = True
    return Candidates(items, scores, kinds, values, sources), rest, fixed
