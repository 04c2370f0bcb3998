"""Where the per-customer and per-order passes over a history run: parts of its lines, mapped by a
``HistoryParts``.

Some steps of a fit look at each customer's (or each order's) lines alone: the time split's last orders and
next purchase's repeat statistics per customer, popularity's distinct order lines per order. Such a pass is
written as ``work(part)``, a pure function of an ``OrderHistory`` that holds every line of a range of customers
(or orders), with the whole history's id maps and catalog (no browsing signals: the passes read order lines
only). Its caller combines the parts' results in range order: per-customer rows concatenated, per-item values
summed in the order the whole history would sum them. So any runner that returns ``[work(part) for part in
parts]``, the parts cutting the key's values into consecutive ranges, gives the result of one part holding
everything: the rule is declared once, in ``work``.

``whole_history`` (the default) runs ``work`` once, on the whole history, in this process; a caller that fits
inside ``history_parts_by(other)`` has the parts run elsewhere (``recs train --engine spark`` ships each
part's lines to a Spark task: ``training.spark.history_parts``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from recommender.history import OrderHistory, Signals
from recommender.scoped import Scoped

PartKey = Literal["customer", "order"]
"""What a part holds whole: every line of its customers, or of its orders."""

PartWork = Callable[[OrderHistory], Any]
"""``work(part)``: the part's result, a pure function of its lines (and the id maps' sizes)."""

HistoryParts = Callable[[PartWork, OrderHistory, PartKey, str], list[Any]]
"""``run(work, history, key, name)``: ``[work(part) for part in parts]``, the parts cutting ``key``'s values
into consecutive ranges, in range order (one part: the whole history)."""

LINE_FIELDS = ("customer", "item", "order", "ordered_at", "quantity", "price")


def whole_history(work: PartWork, history: OrderHistory, key: PartKey, name: str) -> list[Any]:
    """One part, the whole history, computed in this process."""
    return [work(history)]


def key_ranges(history: OrderHistory, key: PartKey, n_parts: int) -> list[tuple[int, int]]:
    """At most ``n_parts`` consecutive ranges ``[lo, hi)`` of ``key``'s values covering every line, with about
    as many lines each (a range holds at least one line)."""
    values = getattr(history, key)
    if history.n_lines == 0 or n_parts <= 1:
        return [(0, int(values.max()) + 1 if history.n_lines else 0)]
    per_value = np.cumsum(np.bincount(values))
    targets = history.n_lines * np.arange(1, n_parts) / n_parts
    cuts = np.unique(np.searchsorted(per_value, targets, side="left") + 1)
    bounds = [0, *(int(c) for c in cuts if 0 < c < len(per_value)), len(per_value)]
    return [(lo, hi) for lo, hi in pairwise(bounds) if per_value[hi - 1] > (per_value[lo - 1] if lo else 0)]


def bare_history(history: OrderHistory) -> OrderHistory:
    """The history without lines and signals: its id maps and catalog, what every part shares."""
    return replace(history.select(np.zeros(history.n_lines, dtype=bool)), signals=Signals.empty())


def cut_lines(history: OrderHistory, key: PartKey, ranges: list[tuple[int, int]]) -> list[dict[str, np.ndarray]]:
    """Per range ``[lo, hi)`` of ``ranges`` (``key_ranges``' consecutive ranges), the line arrays of the lines
    whose ``key`` is in it, in the history's line order: one stable sort of the lines' range numbers, each
    array gathered once."""
    values = getattr(history, key)
    part = np.searchsorted(np.array([hi for _, hi in ranges]), values, side="right")
    by_part = np.argsort(part.astype(np.min_scalar_type(len(ranges))), kind="stable")  # radix under 65,536 parts
    ends = np.cumsum(np.bincount(part, minlength=len(ranges))[: len(ranges)])
    arrays = {name: np.split(getattr(history, name)[by_part], ends[:-1]) for name in LINE_FIELDS}
    return [{name: arrays[name][index] for name in LINE_FIELDS} for index in range(len(ranges))]


def with_lines(bare: OrderHistory, lines: dict[str, np.ndarray]) -> OrderHistory:
    """``bare_history``'s result holding ``lines`` (one of ``cut_lines``' parts): a part."""
    return replace(bare, **lines)


# the parts' runner of the running fit: a context variable, so a scope sets it (``history_parts_by``)
_HISTORY_PARTS: Scoped[HistoryParts] = Scoped("recs_history_parts", whole_history)


def history_parts_by(run: HistoryParts) -> AbstractContextManager[None]:
    """Within this block (and threads started with a copy of its context), history parts run by ``run``."""
    return _HISTORY_PARTS.using(run)


def map_history_parts(work: PartWork, history: OrderHistory, key: PartKey, name: str) -> list[Any]:
    """``[work(part) for part in parts]`` by the running fit's ``HistoryParts``."""
    return _HISTORY_PARTS.get()(work, history, key, name)


def concatenated(parts: list[Any], n_fields: int) -> tuple[np.ndarray, ...]:
    """The parts' results (tuples of ``n_fields`` arrays) joined field by field, in part order (one part: as is)."""
    if len(parts) == 1:
        return tuple(parts[0])
    return tuple(np.concatenate([part[field] for part in parts]) for field in range(n_fields))
