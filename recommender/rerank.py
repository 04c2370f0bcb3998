"""Request-time re-ranking: merge a precomputed list with the customer's recent events and the filters.

Publish precomputes one ranked list per customer and per item; between two publishes a customer keeps
buying, carting and viewing. The functions here take what one request read (the precomputed list, the
recent events, the complement lists of the items just bought or carted) and return the answer:

- ``rerank_for_you``: recently purchased items drop out (and, given category repeat rates, other items of a
  just-bought item's one-off category: no second tent), complements of purchases made within the window
  come first, each naming the item it goes with, then the precomputed list;
- ``rerank_next_purchase``: the same, except that a just-purchased repeat item comes back once its repeat
  interval has passed since the event, and complements come after the due repeat items;
- ``cart_complements``: complement scores summed over the cart, without the cart's items and their
  categories (substitutes), each naming its strongest source item;
- ``item_list``: similar items or complements of one item, without the item itself.

Every answer is padded from a ``Fallback`` list (popular) up to ``offset + k`` rows, with the same filters,
and sliced to ``[offset, offset + k)``: the full list is deterministic, so page 2 continues page 1.
``Reranked.fallback`` is true when no personal (non-popular) row survived the filters.

Lists are small (at most a few hundred rows), so everything is a handful of numpy calls per request.
Indices are those of the published version's item table; nothing here knows about Redis or HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from recommender.errors import RecommenderError
from recommender.history import DAY
from recommender.numeric import pair_keys
from recommender.substitutes import MIN_REPEAT_RATE
from recommender.vocabulary import EVENT_TYPES, REASON_KINDS, EventType, ReasonKind

# one precomputed entry, as published lists are packed in Redis (``serving.cache`` packs and unpacks with it;
# any structured array with fields item, score and reason is accepted)
ENTRY = np.dtype([("item", "<i4"), ("score", "<f4"), ("reason", "<f4")])
DUE_SHARE = 0.5  # a repeat row scoring at least this share of the list's top score counts as due
# next purchase: a complement of a just-bought item goes ahead of the customer's own non-due items only when
# at least this share of the item's buyers bought it within the window. On raw Ta-Feng (benchmarks.quality,
# complements section) HitRate@5 within 30 days of the post-purchase answer was .378 with every complement,
# .408 from .1, .412 from .2 and .413 from .3: weak grocery pairs displaced the customer's own staples.
MIN_COMPLEMENT_SHARE = 0.2
_KIND_DTYPE = f"<U{max(len(kind) for kind in REASON_KINDS)}"


class UnknownEventTypeError(RecommenderError, ValueError):
    """An event whose type is not one of ``EVENT_TYPES``."""


def entries(
    items: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, reasons: object = None
) -> np.ndarray:
    """A list as an ``ENTRY`` array (``reasons`` None: -1 for every row)."""
    items = np.asarray(items, dtype=np.int32).ravel()
    out = np.empty(len(items), dtype=ENTRY)
    out["item"] = items
    out["score"] = np.asarray(scores, dtype=np.float32).ravel()
    out["reason"] = -1.0 if reasons is None else np.asarray(reasons, dtype=np.float32).ravel()
    return out


# recent events --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """One event of a customer: its type, the item indices it names, and when (Unix seconds)."""

    type: EventType
    items: np.ndarray | Sequence[int]
    at: int


def _latest(items: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct items (sorted) with the latest time each occurs at."""
    order = np.lexsort((-at, items))
    items, at = items[order], at[order]
    first = np.ones(len(items), dtype=bool)
    first[1:] = items[1:] != items[:-1]
    return items[first].astype(np.int32), at[first]


@dataclass(frozen=True)
class RecentEvents:
    """What a customer did recently, by item: sorted distinct item indices with their latest time.

    ``cart`` holds items added to the cart and not purchased since (a purchase at the same moment as
    the add counts as buying it).
    """

    purchased: np.ndarray  # int32, sorted, distinct
    purchased_at: np.ndarray  # int64, latest purchase per item
    cart: np.ndarray
    cart_at: np.ndarray
    viewed: np.ndarray
    viewed_at: np.ndarray

    @classmethod
    def empty(cls) -> RecentEvents:
        none, never = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
        return cls(none, never, none, never, none, never)

    @classmethod
    def from_events(cls, events: Sequence[Event]) -> RecentEvents:
        """Summarize events in any order (newest first as stored is fine); item indices < 0 are ignored."""
        unknown = sorted({str(e.type) for e in events} - set(EVENT_TYPES))
        if unknown:
            raise UnknownEventTypeError(f"unknown event type(s) {', '.join(unknown)}; use {', '.join(EVENT_TYPES)}")
        if not events:
            return cls.empty()
        per_event = [np.asarray(e.items, dtype=np.int64).ravel() for e in events]
        lengths = [len(items) for items in per_event]
        item = np.concatenate(per_event)
        at = np.repeat(np.array([int(e.at) for e in events], dtype=np.int64), lengths)
        code = np.repeat(np.array([EVENT_TYPES.index(e.type) for e in events], dtype=np.int8), lengths)
        known = item >= 0
        item, at, code = item[known], at[known], code[known]
        bought, bought_at = _latest(item[code == 0], at[code == 0])
        carted, carted_at = _latest(item[code == 1], at[code == 1])
        viewed, viewed_at = _latest(item[code == 2], at[code == 2])
        still = carted_at > pair_keys.values_at(bought, bought_at, carted, default=np.iinfo(np.int64).min)
        return cls(bought, bought_at, carted[still], carted_at[still], viewed, viewed_at)

    def purchased_since(self, since: int) -> np.ndarray:
        """Items whose latest purchase is at or after ``since`` (Unix seconds)."""
        return self.purchased[self.purchased_at >= since]

    def last_purchase(self, items: np.ndarray) -> np.ndarray:
        """Latest purchase time (int64) per item, -1 for items not purchased in these events."""
        return pair_keys.values_at(self.purchased, self.purchased_at, np.asarray(items, dtype=np.int64), default=-1)


def _column(value: object, n: int, dtype: np.dtype | type | str) -> np.ndarray:
    """``value`` as a column of ``n`` rows: a scalar is repeated, an array must have ``n`` values."""
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n, arr, dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"a column of {n} rows got shape {arr.shape}")
    return arr


# rows of an answer ----------------------------------------------------------------------------------------
class Candidate(NamedTuple):
    """One row of an answer. ``value`` is the reason's number (see ``Candidates``); ``source`` -1 for none."""

    item: int
    score: float
    kind: str
    value: float
    source: int


@dataclass(frozen=True)
class Candidates:
    """Rows of an answer as parallel arrays, best first.

    ``values`` per kind: complement / complement_of / cart: the share of the source item's buyers who
    bought it within the window (0..1, -1 unknown); repeat: the repeat interval in days; popular: the
    category index of the popular list (-1 overall); otherwise -1. ``sources``: the item a complement,
    cart or similar row comes from, else -1. Scores are those of the list each row came from (comparable
    within a kind, not across kinds): the order is the ranking.
    """

    items: np.ndarray  # int32
    scores: np.ndarray  # float32
    kinds: np.ndarray  # str, one of REASON_KINDS
    values: np.ndarray  # float32
    sources: np.ndarray  # int32

    @classmethod
    def empty(cls) -> Candidates:
        return cls.section(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32), "for_you")

    @classmethod
    def section(
        cls,
        items: np.ndarray,
        scores: np.ndarray,
        kind: ReasonKind | np.ndarray,
        values: float | np.ndarray = -1.0,
        sources: int | np.ndarray = -1,
    ) -> Candidates:
        """Rows from arrays; scalar ``kind``/``values``/``sources`` apply to every row."""
        items = np.asarray(items, dtype=np.int32).ravel()
        n = len(items)
        return cls(
            items,
            _column(scores, n, np.float32),
            _column(kind, n, _KIND_DTYPE),
            _column(values, n, np.float32),
            _column(sources, n, np.int32),
        )

    @classmethod
    def from_entries(cls, rows: np.ndarray, kind: ReasonKind | np.ndarray, source: int = -1) -> Candidates:
        """Rows from an ``ENTRY`` array; each entry's ``reason`` becomes the row's value."""
        return cls.section(rows["item"], rows["score"], kind, rows["reason"], source)

    @classmethod
    def concat(cls, parts: Sequence[Candidates]) -> Candidates:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.items for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.kinds.astype(_KIND_DTYPE) for p in parts]),
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.sources for p in parts]),
        )

    def take(self, index: np.ndarray | slice) -> Candidates:
        return Candidates(
            self.items[index], self.scores[index], self.kinds[index], self.values[index], self.sources[index]
        )

    def first_of_each(self) -> Candidates:
        """Without repeated items, keeping each item's first (best placed) row."""
        _, first = np.unique(self.items, return_index=True)
        return self.take(np.sort(first))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.rows())

    def rows(self) -> list[Candidate]:
        return [
            Candidate(int(i), float(s), str(kind), float(v), int(src))
            for i, s, kind, v, src in zip(
                self.items.tolist(),
                self.scores.tolist(),
                self.kinds.tolist(),
                self.values.tolist(),
                self.sources.tolist(),
                strict=True,
            )
        ]


@dataclass(frozen=True)
class Reranked:
    """One page of an answer, and whether it is a fallback (no personal row survived the filters)."""

    candidates: Candidates
    fallback: bool


@dataclass(frozen=True)
class Fallback:
    """The list to pad with (popular items, best first); ``category`` is its category index, -1 overall."""

    items: np.ndarray
    scores: np.ndarray
    category: int = -1

    def candidates(self) -> Candidates:
        return Candidates.section(self.items, self.scores, "popular", float(self.category))


# filters --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """Which items an answer may hold: not blocked, not in a blocked category (unless exempt), allowed."""

    blocked_items: np.ndarray
    blocked_categories: np.ndarray
    exempt: np.ndarray
    allowed: np.ndarray | None
    item_category: np.ndarray | None
    category: int | None

    def keep(self, items: np.ndarray) -> np.ndarray:
        items = np.asarray(items, dtype=np.int64)
        ok = (items >= 0) & ~np.isin(items, self.blocked_items)  # padding (-1) never passes
        items = np.maximum(items, 0)
        if self.allowed is not None:
            ok &= np.asarray(self.allowed, dtype=bool)[items]
        if self.item_category is not None:
            cat = np.asarray(self.item_category)[items]
            if len(self.blocked_categories):
                ok &= ~(np.isin(cat, self.blocked_categories) & (cat >= 0)) | np.isin(items, self.exempt)
            if self.category is not None:
                ok &= cat == self.category
        return ok


def _check_page(k: int, offset: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")


def one_off_categories(
    items: np.ndarray, item_category: np.ndarray | None, category_repeat_rate: np.ndarray | None, min_rate: float
) -> np.ndarray:
    """Categories of ``items`` whose repeat rate is below ``min_rate`` (bought once: tents), distinct."""
    if category_repeat_rate is None or len(items) == 0:
        return np.zeros(0, dtype=np.int32)
    if item_category is None:
        raise ValueError("category_repeat_rate needs item_category")
    cats = np.asarray(item_category)[np.asarray(items, dtype=np.int64)]
    cats = np.unique(cats[cats >= 0])
    return cats[np.asarray(category_repeat_rate)[cats] < min_rate].astype(np.int32)


def customer_filters(
    events: RecentEvents,
    *,
    keep_purchased: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    category: int | None = None,
    item_category: np.ndarray | None = None,
    category_repeat_rate: np.ndarray | None = None,
    min_repeat_rate: float = MIN_REPEAT_RATE,
) -> Filters:
    """Filters for a customer's list: purchased items out (but ``keep_purchased``), one-off categories out."""
    if category is not None and item_category is None:
        raise ValueError("a category filter needs item_category")
    kept = np.zeros(0, dtype=np.int32) if keep_purchased is None else np.asarray(keep_purchased, dtype=np.int32)
    return Filters(
        blocked_items=events.purchased[~np.isin(events.purchased, kept)],
        blocked_categories=one_off_categories(events.purchased, item_category, category_repeat_rate, min_repeat_rate),
        exempt=kept,
        allowed=allowed,
        item_category=item_category,
        category=category,
    )


# assembling an answer -------------------------------------------------------------------------------------
def assemble(
    sections: Sequence[Candidates], filters: Filters, *, k: int, offset: int, fallback: Fallback | None
) -> Reranked:
    """Sections in order, filtered, each item once; padded from ``fallback`` to ``offset + k``; one page."""
    _check_page(k, offset)
    merged = Candidates.concat(sections)
    merged = merged.take(filters.keep(merged.items)).first_of_each()
    personal = len(merged)
    need = offset + k
    if personal < need and fallback is not None:
        pad = fallback.candidates()
        pad = pad.take(filters.keep(pad.items) & ~np.isin(pad.items, merged.items)).first_of_each()
        merged = Candidates.concat([merged, pad.take(slice(0, need - personal))])
    return Reranked(merged.take(slice(offset, need)), fallback=personal == 0)


def plain_page(
    base: np.ndarray, order: np.ndarray | None, kind: ReasonKind | None, *, k: int, offset: int
) -> Reranked | None:
    """The page of an ``ENTRY`` list that no event and no filter touches, or None when the list cannot fill
    it alone (short, padded, an item twice: ``assemble`` then does the full work).

    ``order`` reorders the rows first (None: as published); ``kind`` is every row's kind, or None for
    next purchase's rule (``repeat`` where the reason holds an interval, else ``for_you``). Most requests
    are this case (a customer without recent purchases, no filter): the answer is the list's head, and a
    handful of array operations instead of the filter and merge machinery.
    """
    _check_page(k, offset)
    need = offset + k
    head = base[:need] if order is None else base[order[:need]]
    items = head["item"]
    if len(head) < need or int(items.min()) < 0 or len(np.unique(items)) < need:
        return None
    page = head[offset:need]
    kinds = kind if kind is not None else np.where(page["reason"] >= 0, "repeat", "for_you")
    return Reranked(Candidates.from_entries(page, kinds), fallback=False)


def best_first(rows: Candidates) -> Candidates:
    """Rows by score, best first (ties: lower item index first)."""
    return rows.take(np.lexsort((rows.items, -rows.scores)))


def with_evidence(complements: np.ndarray, min_share: float = 0.0) -> np.ndarray:
    """The rows of a published complements list that are real pairs (reason = share >= 0), not padding,
    and whose share of the anchor's buyers is at least ``min_share``."""
    return complements[complements["reason"] >= max(min_share, 0.0)]


def event_complements(
    events: RecentEvents,
    complements_of: Mapping[int, np.ndarray],
    *,
    now: int,
    window_days: float,
    min_share: float = 0.0,
) -> Candidates:
    """Complements of the items purchased within ``window_days`` before ``now``, best score first, each row
    naming its purchased item (kind ``complement_of``); an item offered by two purchases appears twice.
    Pairs whose share of the anchor's buyers is below ``min_share`` are left out."""
    anchors = events.purchased_since(int(now - window_days * DAY))
    parts = [
        Candidates.from_entries(with_evidence(complements_of[int(a)], min_share), "complement_of", source=int(a))
        for a in anchors.tolist()
        if int(a) in complements_of
    ]
    return best_first(Candidates.concat(parts))


def rerank_for_you(
    base: np.ndarray,
    events: RecentEvents,
    complements_of: Mapping[int, np.ndarray],
    *,
    k: int,
    now: int,
    window_days: float,
    offset: int = 0,
    allowed: np.ndarray | None = None,
    category: int | None = None,
    item_category: np.ndarray | None = None,
    category_repeat_rate: np.ndarray | None = None,
    fallback: Fallback | None = None,
    min_repeat_rate: float = MIN_REPEAT_RATE,
) -> Reranked:
    """The "for you" answer: complements of recent purchases first, then ``base``; purchased items out.

    ``base`` is the precomputed ``ENTRY`` list; ``complements_of`` maps a purchased item to its precomputed
    complement list; ``allowed`` a bool per item (stock, category); ``category`` keeps only that category
    (needs ``item_category``); ``category_repeat_rate`` per category drops other items of a just-bought
    item's category when its rate is below ``min_repeat_rate``.
    """
    if not len(events.purchased) and allowed is None and category is None:
        page = plain_page(base, None, "for_you", k=k, offset=offset)
        if page is not None:
            return page
    filters = customer_filters(
        events,
        allowed=allowed,
        category=category,
        item_category=item_category,
        category_repeat_rate=category_repeat_rate,
        min_repeat_rate=min_repeat_rate,
    )
    sections = [
        event_complements(events, complements_of, now=now, window_days=window_days),
        Candidates.from_entries(base, "for_you"),
    ]
    return assemble(sections, filters, k=k, offset=offset, fallback=fallback)


def rerank_next_purchase(
    base: np.ndarray,
    events: RecentEvents,
    complements_of: Mapping[int, np.ndarray],
    *,
    k: int,
    now: int,
    window_days: float,
    offset: int = 0,
    allowed: np.ndarray | None = None,
    category: int | None = None,
    item_category: np.ndarray | None = None,
    category_repeat_rate: np.ndarray | None = None,
    fallback: Fallback | None = None,
    min_repeat_rate: float = MIN_REPEAT_RATE,
    due_share: float = DUE_SHARE,
    min_complement_share: float = MIN_COMPLEMENT_SHARE,
) -> Reranked:
    """The "next purchase" answer: the published list as the model ranked it; after a purchase event, due
    repeat items, then strong complements of recent purchases, then the rest.

    ``base`` rows with ``reason >= 0`` are repeat items (reason = interval in days). A repeat item purchased
    in the events comes back once its interval has passed since that purchase (it then counts as due);
    other purchased items drop out. A repeat row is also due when its score is at least ``due_share`` of
    the list's top score (the model ranked by due-ness when it was published). Only complements bought by
    at least ``min_complement_share`` of the anchor's buyers within the window are mixed in (weaker pairs
    would push out the customer's own staples). Other parameters as in ``rerank_for_you``.
    """
    if not len(events.purchased) and allowed is None and category is None:
        # nothing bought since publish: the published list as the model ranked it (due-ness included)
        page = plain_page(base, None, None, k=k, offset=offset)
        if page is not None:
            return page
    repeat = base["reason"] >= 0
    top = float(base["score"].max()) if len(base) else 0.0
    strong = repeat & (base["score"] >= due_share * top)
    last = events.last_purchase(base["item"])
    bought = last >= 0
    # only an item with a rhythm of its own (interval > 0) comes back after being bought in the events
    due_again = repeat & bought & (base["reason"] > 0) & (now - last >= base["reason"].astype(np.float64) * DAY)
    due = strong | due_again
    kinds = np.where(repeat, "repeat", "for_you")
    filters = customer_filters(
        events,
        keep_purchased=base["item"][due_again],
        allowed=allowed,
        category=category,
        item_category=item_category,
        category_repeat_rate=category_repeat_rate,
        min_repeat_rate=min_repeat_rate,
    )
    rows = Candidates.from_entries(base, kinds)
    if not len(events.purchased):  # nothing bought since publish: the model's order
        return assemble([rows], filters, k=k, offset=offset, fallback=fallback)
    sections = [
        rows.take(due),
        event_complements(events, complements_of, now=now, window_days=window_days, min_share=min_complement_share),
        rows.take(~due),
    ]
    return assemble(sections, filters, k=k, offset=offset, fallback=fallback)


def cart_complements(
    cart_items: np.ndarray,
    complements_of: Mapping[int, np.ndarray],
    *,
    k: int,
    offset: int = 0,
    exclude: np.ndarray | None = None,
    item_category: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    fallback: Fallback | None = None,
) -> Reranked:
    """What completes a cart: complement scores summed over the cart items (kind ``cart``).

    The cart's items, ``exclude`` (e.g. purchased items) and, given ``item_category``, every item of a cart
    item's category (substitutes) are left out. Each row names its strongest source item (the cart item
    with the highest single complement score) and carries that pair's share.
    """
    cart = np.unique(np.asarray(cart_items, dtype=np.int64))
    cart = cart[cart >= 0].astype(np.int32)
    blocked = cart if exclude is None else np.union1d(cart, np.asarray(exclude, dtype=np.int32))
    cats = np.zeros(0, dtype=np.int32)
    if item_category is not None and len(cart):
        cats = np.unique(np.asarray(item_category)[cart])
        cats = cats[cats >= 0].astype(np.int32)
    filters = Filters(blocked, cats, np.zeros(0, dtype=np.int32), allowed, item_category, None)
    parts = [
        Candidates.from_entries(with_evidence(complements_of[int(c)]), "cart", source=int(c))
        for c in cart.tolist()
        if int(c) in complements_of
    ]
    pairs = Candidates.concat(parts)
    return assemble([summed_by_item(pairs)], filters, k=k, offset=offset, fallback=fallback)


def summed_by_item(pairs: Candidates) -> Candidates:
    """One row per item: scores summed, value and source of its best-scoring row; best total first."""
    if len(pairs) == 0:
        return pairs
    items, inverse = np.unique(pairs.items, return_inverse=True)
    total = np.bincount(inverse, weights=pairs.scores.astype(np.float64), minlength=len(items))
    order = np.lexsort((pairs.sources, -pairs.scores, inverse))  # per item: strongest source first
    first = order[np.r_[True, inverse[order][1:] != inverse[order][:-1]]]
    strongest = pairs.take(first)  # one row per item, in item order
    summed = Candidates(
        items.astype(np.int32), total.astype(np.float32), strongest.kinds, strongest.values, strongest.sources
    )
    return best_first(summed)


def item_list(
    base: np.ndarray,
    *,
    k: int,
    exclude_item: int | None,
    fallback: Fallback | None = None,
    kind: Literal["similar", "complement"] = "similar",
    offset: int = 0,
    allowed: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> Reranked:
    """Similar items or complements of one item (``exclude_item``, the source of every row, never offered);
    ``exclude`` drops more items (e.g. what the customer bought)."""
    blocked = [] if exclude_item is None else [exclude_item]
    if exclude is not None:
        blocked = np.union1d(blocked, np.asarray(exclude, dtype=np.int64))
    filters = Filters(
        np.asarray(blocked, dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        allowed,
        None,
        None,
    )
    source = -1 if exclude_item is None else int(exclude_item)
    answer = assemble(
        [Candidates.from_entries(base, kind, source=source)], filters, k=k, offset=offset, fallback=fallback
    )
    if kind == "complement" and not (base["reason"] >= 0).any():
        # complements rows without pair evidence (reason < 0) are what sells after any purchase, kept in the
        # model's order; a list made only of them says nothing about this item, so it is marked a fallback
        return Reranked(answer.candidates, fallback=True)
    return answer
