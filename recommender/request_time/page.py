"""One page of an answer: ``assemble`` (sections in order, filtered, each item once, padded from the
fallback, sliced) and ``plain_page``, its shortcut for a list that no event and no filter touches.

Every answer is padded from a ``Fallback`` list (popular) up to ``offset + k`` rows, with the same filters,
and sliced to ``[offset, offset + k)``: the full list is deterministic, so page 2 continues page 1.
``Reranked.fallback`` is true when no personal (non-popular) row survived the filters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recommender.numeric.page_kernels import allowed_head
from recommender.request_time.candidates import Candidates, Fallback, Reranked
from recommender.request_time.filters import Filters
from recommender.vocabulary import ReasonKind


def _check_page(k: int, offset: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")


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
        if len(merged) < need and fallback.rest is not None:  # a narrow filter: every other eligible item
            rest = Candidates.section(fallback.rest, np.zeros(len(fallback.rest)), "popular", float(fallback.category))
            rest = rest.take(filters.keep(rest.items) & ~np.isin(rest.items, merged.items)).first_of_each()
            merged = Candidates.concat([merged, rest.take(slice(0, need - len(merged)))])
    return Reranked(merged.take(slice(offset, need)), fallback=personal == 0)


def plain_page(
    base: np.ndarray,
    order: np.ndarray | None,
    kind: ReasonKind | None,
    *,
    k: int,
    offset: int,
    allowed: np.ndarray | None = None,
) -> Reranked | None:
    """The page of an ``ENTRY`` list that no event touches, or None when the list cannot fill it alone
    (short, padded, an item twice: ``assemble`` then does the full work).

    ``order`` reorders the rows first (None: as published); ``kind`` is every row's kind, or None for
    next purchase's rule (``repeat`` where the reason holds an interval, else ``for_you``); ``allowed`` (a
    bool per item, e.g. in stock) drops rows first. Most requests are this case (a customer without recent
    purchases): the answer is the head of the list's allowed rows, a handful of array operations instead of
    the filter and merge machinery.
    """
    _check_page(k, offset)
    need = offset + k
    rows = base if order is None else base[order]
    if allowed is not None:  # the head of the allowed rows, or unfit (short, an item twice): a few calls
        positions = allowed_head(rows["item"], np.asarray(allowed, dtype=bool), need)
        if positions is None or len(positions) < need:
            return None
        page = rows[positions[offset:need]]
        kinds = kind if kind is not None else np.where(page["reason"] >= 0, "repeat", "for_you")
        return Reranked(Candidates.from_entries(page, kinds), fallback=False)
    head = rows[:need]
    items = head["item"]
    if len(head) < need or int(items.min()) < 0 or len(np.unique(items)) < need:
        return None
    page = head[offset:need]
    kinds = kind if kind is not None else np.where(page["reason"] >= 0, "repeat", "for_you")
    return Reranked(Candidates.from_entries(page, kinds), fallback=False)
