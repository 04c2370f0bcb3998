"""EASE ("Embarrassingly Shallow Autoencoders", Steck 2019): a closed-form item-item model for "recommended for you".

With ``X`` the binary customer x item matrix of the fitted history and ``lambda`` the regularization::

    P = (X^T X + lambda I)^-1        B = I - P / diag(P)   (column j divided by P_jj; so diag(B) = 0)
    score(customer, item) = sum over the customer's bought items i of B[i, item]

With browsing signals in the history (``recs train --events``), ``X`` is ``OrderHistory.interactions("binary")``:
1 for a bought item, the signals' weight (capped at 1) for an item only viewed or put in the cart. A customer's
scores come from that weighted row (the ``profile``), so a shopper who only browsed gets a personal list;
only bought items are excluded.

``EaseModel`` keeps ``B`` as a dense (items x items) float32 array, so it fits only where the catalog
does: above ``max_items`` items ``fit`` raises ``CatalogTooLargeError`` (memory grows with the square
of the item count: 20,000 items take 1.6 GB for ``B`` and twice that while solving). Items nobody
bought are never offered; customers with no purchases in the fitted history get the items by number
of buyers (their EASE scores are all zero); already-bought items are excluded by default.

Measured on MovieLens 100k (ratings read as purchases, seen items excluded, mean of 5 seeds;
``regularization`` tuned on a validation hold-out carved from the training part): random 80/20 hold-out,
``regularization = 500``: NDCG@10 .442, P@10 .369 (MostPop .221 / .193); per-customer stratified 75/25,
``regularization = 400``: NDCG@10 .479, P@10 .417 (MostPop .251 / .226).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from pydantic import Field
from threadpoolctl import ThreadpoolController

from recommender.base import ModelConfig, QueryKind, Ranked, Recommender
from recommender.errors import DataError, ModelFileError
from recommender.history import OrderHistory
from recommender.model_files import load_pattern, pattern_matrix, require_arrays
from recommender.numeric.topk import mask_sparse, rank_in_blocks, topk_dense

# most cells of one dense (customers x items) score block


class CatalogTooLargeError(DataError):
    """The catalog has more items than a dense item x item model may hold (``max_items``)."""

    def __init__(self, model: str, n_items: int, max_items: int) -> None:
        self.n_items = n_items
        self.max_items = max_items
        super().__init__(
            f"{model}: the history has {n_items} items, above max_items={max_items}; a dense item x item model "
            f"needs about {4 * n_items * n_items / 1e9:.1f} GB. Raise max_items if the memory is there, "
            "or use the collaborative (ALS) model"
        )


class EaseConfig(ModelConfig):
    """EASE hyperparameters: the L2 ``regularization`` (lambda), the catalog size limit, seen-item exclusion."""

    regularization: float = Field(default=500.0, gt=0)
    max_items: int = Field(default=20_000, ge=1)
    exclude_bought: bool = True


def ease_weights(bought: sp.csr_matrix, regularization: float) -> np.ndarray:
    """The EASE item-item matrix ``B`` (float32, zero diagonal) of a binary customer x item matrix.

    Solved in float32 with LAPACK's in-place Cholesky inverse (the Gram matrix plus ``lambda I`` is
    symmetric positive definite), so the peak memory is one dense items x items float32 matrix.
    """
    x = bought.astype(np.float32)
    gram = np.asfortranarray((x.T @ x).toarray(), dtype=np.float32)
    gram[np.diag_indices_from(gram)] += np.float32(regularization)
    factor, info = la.lapack.spotrf(gram, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise ArithmeticError(f"EASE: Cholesky factorization failed (LAPACK info {info})")
    p, info = la.lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise ArithmeticError(f"EASE: inverting the Gram matrix failed (LAPACK info {info})")
    _mirror_upper(p)
    p /= -np.diag(p).copy()[np.newaxis, :]
    p[np.diag_indices_from(p)] = 0.0
    return np.ascontiguousarray(p)


def _mirror_upper(matrix: np.ndarray, block: int = 1024) -> None:
    """In place: copy the upper triangle of a square matrix onto its lower triangle, a block of rows at a time."""
    for start in range(block, len(matrix) + block, block):
        lo, hi = start - block, min(start, len(matrix))
        rows = np.arange(lo, hi)
        below = np.arange(len(matrix))[np.newaxis, :] < rows[:, np.newaxis]  # strictly lower part of these rows
        matrix[lo:hi] = np.where(below, matrix[:, lo:hi].T, matrix[lo:hi])


class EaseModel(Recommender):
    """Personalized lists from the closed-form EASE item-item model; already-bought items excluded by default."""

    name: ClassVar[str] = "ease"
    query_kind: ClassVar[QueryKind] = "customer"
    config_class: ClassVar[type[ModelConfig]] = EaseConfig
    config: EaseConfig

    def __init__(self, config: EaseConfig | None = None) -> None:
        super().__init__(config)
        self._weights = np.zeros((0, 0), dtype=np.float32)
        self._popularity = np.zeros(0, dtype=np.float32)
        self._bought = sp.csr_matrix((0, 0), dtype=np.float32)
        self._profile = sp.csr_matrix((0, 0), dtype=np.float32)  # the weighted rows scores come from
        self._blas: ThreadpoolController | None = None

    @property
    def item_weights(self) -> np.ndarray:
        """The item x item matrix ``B`` (float32, zero diagonal): row = bought item, column = scored item."""
        self._check_fitted()
        return self._weights

    @property
    def popularity(self) -> np.ndarray:
        """Share of the fitted customers who bought each item (float32); 0 = never sold, never offered."""
        self._check_fitted()
        return self._popularity

    @property
    def bought(self) -> sp.csr_matrix:
        """The fitted customer x item bought pattern (binary CSR)."""
        self._check_fitted()
        return self._bought

    def raw_scores(self, queries: np.ndarray) -> np.ndarray:
        """Dense EASE scores (len(queries), n_items), float32, before any fallback or masking."""
        self._check_fitted()
        rows = np.asarray(queries, dtype=np.int64)
        return np.asarray(self._profile[rows] @ self._weights, dtype=np.float32)

    @property
    def profile(self) -> sp.csr_matrix:
        """The fitted customer x item rows scores come from (float32 CSR): purchases, plus browsing signals."""
        self._check_fitted()
        return self._profile

    # the contract ----------------------------------------------------------------------------------
    def _fit(self, history: OrderHistory) -> None:
        if history.n_items > self.config.max_items:
            raise CatalogTooLargeError(self.name, history.n_items, self.config.max_items)
        bought = history.customer_items("binary")
        self._bought = pattern_matrix(bought.indptr, bought.indices, bought.shape)
        buyers = np.bincount(bought.indices, minlength=history.n_items).astype(np.float32)
        self._popularity = buyers / max(history.n_customers, 1)
        self._profile = history.interactions("binary")
        if self._profile.nnz == 0:
            self._weights = np.zeros((history.n_items, history.n_items), dtype=np.float32)
        else:
            with ThreadpoolController().limit(limits=1, user_api="blas"):
                self._weights = ease_weights(self._profile, self.config.regularization)

    def _recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        if self._blas is None:
            self._blas = ThreadpoolController()
        with self._blas.limit(limits=1, user_api="blas"):
            return rank_in_blocks(queries, k, self.n_items, self._score_block)

    def _score_block(self, rows: np.ndarray, k: int) -> Ranked:
        """Top-k for one block of customers: EASE scores, popularity for customers with no interaction."""
        bought, profile = self._bought[rows], self._profile[rows]
        scores = np.asarray(profile @ self._weights, dtype=np.float32)
        cold = np.diff(profile.indptr) == 0
        if cold.any():
            scores[cold] = self._popularity
        scores[:, self._popularity <= 0] = -np.inf
        if self.config.exclude_bought:
            mask_sparse(scores, bought)
        return topk_dense(scores, k)

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "item_weights": self._weights,
            "item_popularity": self._popularity,
            "bought_indptr": self._bought.indptr.astype(np.int64),
            "bought_indices": self._bought.indices.astype(np.int32),
            "profile_indptr": self._profile.indptr.astype(np.int64),
            "profile_indices": self._profile.indices.astype(np.int32),
            "profile_data": self._profile.data.astype(np.float32),
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        require_arrays(self.name, arrays, ["item_weights", "item_popularity", "bought_indptr", "bought_indices"])
        weights, popularity = arrays["item_weights"], arrays["item_popularity"]
        if weights.shape != (self.n_items, self.n_items) or popularity.shape != (self.n_items,):
            raise ModelFileError(f"{self.name} model file: item arrays do not match {self.n_items} items")
        self._weights = np.ascontiguousarray(weights, np.float32)
        self._popularity = popularity.astype(np.float32)
        shape = (self.n_customers, self.n_items)
        self._bought = load_pattern(self.name, arrays["bought_indptr"], arrays["bought_indices"], shape)
        self._profile = self._bought  # a file from before browsing signals: the purchases
        if "profile_indptr" in arrays:
            pattern = load_pattern(self.name, arrays["profile_indptr"], arrays["profile_indices"], shape)
            data = arrays.get("profile_data")
            if data is None or data.shape != pattern.indices.shape:
                raise ModelFileError(f"{self.name} model file: profile_data does not match its pattern")
            self._profile = sp.csr_matrix((data.astype(np.float32), pattern.indices, pattern.indptr), shape=shape)
