"""The sort-based distinct helpers agree with ``np.unique`` on every return form, empty input included."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.distinct import unique_counts, unique_inverse, unique_values


@pytest.mark.parametrize("n", [0, 1, 7, 5_000])
def test_distinct_helpers_match_numpy_unique(n: int) -> None:
    keys = np.random.default_rng(n).integers(0, max(n // 3, 1), n).astype(np.int64)
    expected, expected_inverse, expected_counts = np.unique(keys, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(unique_values(keys), expected)
    values, counts = unique_counts(keys)
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(counts, expected_counts)
    values, inverse = unique_inverse(keys)
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.ravel())
    np.testing.assert_array_equal(values[inverse], keys)
