"""``recommender.numeric.heap.keep_best``: the best k of many (value, column) pairs, the same as a stable sort.

The values are small integers as float32 (many ties, exact arithmetic), with NaN and infinities mixed in, so
the expected answer is a plain sort: value descending, then column ascending, NaN never kept.
"""

from __future__ import annotations

import numpy as np
import pytest

from recommender.numeric.heap import drain_best_first, keep_best


def _expected(values: np.ndarray, columns: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ok = ~np.isnan(values)
    v, c = values[ok], columns[ok]
    order = np.lexsort((c, -v.astype(np.float64)))[:k]
    return v[order], c[order]


def _kept(values: np.ndarray, columns: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    heap_v, heap_c = np.empty(k, dtype=np.float32), np.empty(k, dtype=np.int64)
    size = keep_best(values, columns, len(values), heap_v, heap_c, np.empty(len(values), dtype=np.float32))
    out_v, out_c = np.empty(size, dtype=np.float32), np.empty(size, dtype=np.int64)
    drain_best_first(heap_v, heap_c, size, out_v, out_c)
    return out_v, out_c


@pytest.mark.parametrize("n, k, spread", [(20_000, 300, 50), (4_000, 100, 7), (301, 300, 3), (50, 300, 10), (1, 1, 1)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keep_best_is_a_stable_sort_of_the_best(n: int, k: int, spread: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(-spread, spread + 1, size=n).astype(np.float32)
    odd = rng.random(n)
    values[odd < 0.01] = np.nan
    values[(odd >= 0.01) & (odd < 0.012)] = -np.inf
    values[(odd >= 0.012) & (odd < 0.013)] = np.inf
    columns = rng.permutation(n).astype(np.int64)  # not in position order: ties are broken by the column
    got_v, got_c = _kept(values, columns, k)
    want_v, want_c = _expected(values, columns, k)
    np.testing.assert_array_equal(got_c, want_c)
    np.testing.assert_array_equal(got_v, want_v)


def test_keep_best_keeps_every_tie_of_the_cut() -> None:
    # 1,000 blocks whose maxima all equal the k-th best: the cut must not drop the lower-column ties
    values = np.zeros(32_000, dtype=np.float32)
    values[::7] = 1.0
    columns = np.arange(32_000, dtype=np.int64)[::-1].copy()  # the last positions hold the lowest columns
    got_v, got_c = _kept(values, columns, 300)
    want_v, want_c = _expected(values, columns, 300)
    np.testing.assert_array_equal(got_c, want_c)
    np.testing.assert_array_equal(got_v, want_v)
