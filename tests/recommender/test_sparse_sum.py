"""sum_sparse: the binary-counter sum of many sparse matrices equals the plain sum, canonical."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.numeric.sparse_sum import sum_sparse


@pytest.mark.parametrize("n_chunks", [0, 1, 2, 3, 7, 16, 33])
def test_equals_the_running_sum(n_chunks: int) -> None:
    rng = np.random.default_rng(n_chunks)
    chunks = [sp.random(30, 20, density=0.1, format="coo", dtype=np.float32, rng=rng) for _ in range(n_chunks)]
    expected = np.zeros((30, 20), dtype=np.float32)
    for chunk in chunks:
        expected += chunk.toarray()
    total = sum_sparse(iter(chunks), (30, 20), np.float32)
    assert isinstance(total, sp.csr_matrix) and total.shape == (30, 20) and total.dtype == np.float32
    assert total.has_canonical_format
    np.testing.assert_allclose(total.toarray(), expected, rtol=1e-6)
    assert total.nnz == np.count_nonzero(expected)
