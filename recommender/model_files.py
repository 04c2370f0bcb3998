"""Reading a saved model's arrays back: the checks every model's ``_load_state`` shares.

``require_arrays`` names what a model file lacks; ``load_pattern`` rebuilds a stored binary CSR pattern
(e.g. what each customer bought) and refuses one that does not fit the model's shape. Both raise
``ModelFileError``, so a damaged file is refused with a clear message.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.errors import ModelFileError


def require_arrays(model: str, arrays: dict[str, np.ndarray], names: list[str]) -> None:
    """Raise ``ModelFileError`` naming the arrays a saved model lacks."""
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ModelFileError(f"{model} model file lacks array(s) {', '.join(missing)}")


def pattern_matrix(indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A binary CSR matrix from a stored (indptr, indices) pattern."""
    data = np.ones(len(indices), dtype=np.float32)
    return sp.csr_matrix((data, indices.astype(np.int32), indptr.astype(np.int64)), shape=shape)


def load_pattern(model: str, indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """``pattern_matrix`` from a model file, refusing arrays that do not describe a ``shape`` matrix."""
    consistent = len(indptr) == shape[0] + 1 and len(indptr) > 0 and int(indptr[-1]) == len(indices)
    in_range = len(indices) == 0 or (int(indices.min()) >= 0 and int(indices.max()) < shape[1])
    if not (consistent and in_range and np.all(np.diff(indptr) >= 0)):
        raise ModelFileError(f"{model} model file: a sparse pattern does not match shape {shape}")
    return pattern_matrix(indptr, indices, shape)
