"""Packed (row, column) keys: membership and positions in a sorted key array, against a Python set."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.numeric import pair_keys


def test_positions_find_every_stored_pair_and_only_those() -> None:
    rng = np.random.default_rng(3)
    matrix = sp.random(40, 30, density=0.1, format="csr", random_state=4)
    matrix.sort_indices()
    keys = pair_keys.csr_keys(matrix)
    assert np.all(np.diff(keys) > 0)
    stored = set(zip(*matrix.nonzero(), strict=True))
    rows, cols = rng.integers(0, 40, 500), rng.integers(0, 30, 500)
    found = pair_keys.positions(keys, pair_keys.pack(rows, cols, 30))
    assert [f >= 0 for f in found] == [(r, c) in stored for r, c in zip(rows, cols, strict=True)]
    hit = found >= 0
    assert np.array_equal(keys[found[hit]], rows[hit] * 30 + cols[hit])


def test_values_at_gives_the_default_where_absent_and_on_empty_keys() -> None:
    keys = np.array([3, 7, 11], dtype=np.int64)
    values = np.array([30, 70, 110])
    got = pair_keys.values_at(keys, values, np.array([7, 8, 3, 12]), default=-1)
    assert got.tolist() == [70, -1, 30, -1]
    empty = pair_keys.values_at(np.zeros(0, np.int64), np.zeros(0, np.int64), np.array([1, 2]), default=5)
    assert empty.tolist() == [5, 5]
