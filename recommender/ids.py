"""Id maps: external string ids <-> dense integer indices.

External ids (customer ids, item ids, category names) become integer indices at the data boundary
and indices never leave the package: everything that reaches a user goes back through an IdMap.
Lookups are vectorized (a sorted array and ``np.searchsorted``), never a Python loop per id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

MISSING = -1  # index returned for an id the map does not know


class IdMap:
    """A bijection between external string ids and indices ``0..len-1``.

    Index ``i`` names ``ids[i]``. Indices follow the order the ids were given in, so a map built
    from sorted unique ids is itself sorted; lookups work either way.
    """

    __slots__ = ("_ids", "_order", "_sorted")

    def __init__(self, ids: Sequence[str] | np.ndarray) -> None:
        arr = np.asarray(ids, dtype=str)
        if arr.ndim != 1:
            raise ValueError("ids must be one-dimensional")
        self._ids = arr
        self._order = np.argsort(arr, kind="stable")
        self._sorted = arr[self._order]
        if len(arr) > 1 and bool(np.any(self._sorted[1:] == self._sorted[:-1])):
            dup = self._sorted[1:][self._sorted[1:] == self._sorted[:-1]][0]
            raise ValueError(f"duplicate id in id map: {dup!r}")

    @classmethod
    def from_values(cls, values: Iterable[str] | np.ndarray) -> tuple[IdMap, np.ndarray]:
        """Build a sorted map from raw values and return it with the index of every value."""
        uniq, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
        return cls(uniq), inverse.astype(np.int32)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, external_id: object) -> bool:
        return isinstance(external_id, str) and self.index_one(external_id) != MISSING

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and np.array_equal(self._ids, other._ids)

    def __repr__(self) -> str:
        return f"IdMap({len(self)} ids)"

    @property
    def ids(self) -> np.ndarray:
        """The external ids, index order (read-only view)."""
        view = self._ids.view()
        view.flags.writeable = False
        return view

    def index(self, external_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Indices of ``external_ids`` (int32); ``MISSING`` (-1) for ids the map does not know."""
        query = np.asarray(external_ids, dtype=str)
        if len(self) == 0:
            return np.full(query.shape, MISSING, dtype=np.int32)
        pos = np.searchsorted(self._sorted, query)
        pos_clipped = np.minimum(pos, len(self) - 1)
        found = self._sorted[pos_clipped] == query
        return np.where(found, self._order[pos_clipped], MISSING).astype(np.int32)

    def index_one(self, external_id: str) -> int:
        """Index of one id, or ``MISSING``."""
        return int(self.index([external_id])[0])

    def external(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """External ids of ``indices`` (which must all be valid)."""
        return self._ids[np.asarray(indices, dtype=np.int64)]

    def extend(self, new_ids: Iterable[str] | np.ndarray) -> IdMap:
        """A map with the ids of this one (same indices) followed by the unknown ones of ``new_ids``."""
        candidates = np.unique(np.asarray(list(new_ids) if not isinstance(new_ids, np.ndarray) else new_ids, dtype=str))
        unknown = candidates[self.index(candidates) == MISSING]
        if len(unknown) == 0:
            return self
        return IdMap(np.concatenate([self._ids, unknown]))

    def to_json(self) -> list[str]:
        return [str(x) for x in self._ids]

    @classmethod
    def from_json(cls, ids: list[str]) -> IdMap:
        return cls(np.asarray(ids, dtype=str))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> IdMap:
        return cls.from_json(json.loads(path.read_text()))
