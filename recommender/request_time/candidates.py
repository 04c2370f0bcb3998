"""Rows of an answer: ``Candidates`` (parallel arrays, best first), one page of them (``Reranked``) and the
list an answer is padded from (``Fallback``).

Each row carries its item, the score of the list it came from, its reason kind (``REASON_KINDS``), the
reason's number and the item it comes from; ``recommender.request_time.reasons`` turns a row into text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from recommender.vocabulary import REASON_KINDS, ReasonKind

_KIND_DTYPE = f"<U{max(len(kind) for kind in REASON_KINDS)}"


def _column(value: object, n: int, dtype: np.dtype | type | str) -> np.ndarray:
    """``value`` as a column of ``n`` rows: a scalar is repeated, an array must have ``n`` values."""
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n, arr, dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"a column of {n} rows got shape {arr.shape}")
    return arr


class Candidate(NamedTuple):
    """One row of an answer. ``value`` is the reason's number (see ``Candidates``); ``source`` -1 for none."""

    item: int
    score: float
    kind: str
    value: float
    source: int


@dataclass(slots=True)  # built several times per request: a plain init is 3x faster than a frozen one
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


def best_first(rows: Candidates) -> Candidates:
    """Rows by score, best first (ties: lower item index first)."""
    return rows.take(np.lexsort((rows.items, -rows.scores)))


@dataclass(slots=True)  # built several times per request: a plain init is 3x faster than a frozen one
class Reranked:
    """One page of an answer, and whether it is a fallback (no personal row survived the filters)."""

    candidates: Candidates
    fallback: bool


@dataclass(slots=True)  # built several times per request: a plain init is 3x faster than a frozen one
class Fallback:
    """The list to pad with (popular items, best first); ``category`` is its category index, -1 overall.
    ``rest``: items to fill with after it (score 0), only read when the list and it cannot fill the page."""

    items: np.ndarray
    scores: np.ndarray
    category: int = -1
    rest: np.ndarray | None = None

    def candidates(self) -> Candidates:
        return Candidates.section(self.items, self.scores, "popular", float(self.category))
