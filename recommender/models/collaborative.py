"""Collaborative filtering ("recommended for you") on implicit's alternating least squares.

``CollaborativeModel`` factorizes the customer x item purchase-count matrix (plus the browsing signals'
weights when the history has them: ``OrderHistory.interactions``), weighted (BM25 by
default, or the confidence ``1 + alpha * count`` of Hu, Koren and Volinsky, or raw counts), with
implicit's ALS: on the CPU, or with implicit's CUDA model where one is found (``device``, ``fit_device``).
The state is plain arrays: customer factors, item factors (float32), the customer
x item bought pattern (CSR indptr / indices: purchases only, what ``exclude_bought`` excludes) and the item
popularity used for customers with no interaction in the fitted data (their factors are zero, so a factor
score would be arbitrary). Scoring
is an exact top-k of the factor products that skips items whose factor norm rules them out
(``recommender.numeric.inner_product_topk``), a block of customers at a time.

Where the factors are computed is a ``Factorizer``: ``fit_factors`` (implicit, in this process) unless a
caller runs the fit inside ``factorized_by(other)`` (``recs train --engine spark``: Spark MLlib's ALS); every
model that fits ALS (for you, next purchase's explore part, the tuning's trials) goes through ``_fit`` here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import bm25_weight
from pydantic import Field
from threadpoolctl import ThreadpoolController, threadpool_limits

from recommender.base import ModelConfig, QueryKind, Ranked, Recommender
from recommender.errors import ModelFileError
from recommender.history import OrderHistory
from recommender.model_files import load_pattern, pattern_matrix, require_arrays, require_length
from recommender.numeric.inner_product_topk import NormTiers, top_inner_products
from recommender.numeric.topk import rank_in_blocks, topk_dense
from recommender.scoped import Scoped

# floor of a BM25 confidence: a purchase is never read as a negative signal
_MIN_CONFIDENCE = 1e-3

Weighting = Literal["bm25", "alpha", "none"]
# "auto": implicit's GPU ALS where implicit was built with CUDA and sees a device, else the CPU; "cpu": the CPU
Device = Literal["auto", "cpu"]


class CollaborativeConfig(ModelConfig):
    """ALS hyperparameters.

    ``weighting`` turns purchase counts C into confidences: "bm25" gives ``alpha * bm25(C)``
    (``bm25_k1``, ``bm25_b``), "alpha" gives ``1 + alpha * C``, "none" gives ``alpha * C``.

    Defaults (32 factors, strong regularization) were chosen on the last-order split, new items only:
    P@10 on the generated shop .027 (64 factors / 0.05: .017; MostPop .026), on MovieLens 100k .038
    (64 / 0.05: .035; MostPop .021).
    """

    factors: int = Field(default=32, ge=1)
    regularization: float = Field(default=10.0, ge=0)
    iterations: int = Field(default=15, ge=1)
    alpha: float = Field(default=1.0, gt=0)
    weighting: Weighting = "bm25"
    bm25_k1: float = Field(default=100.0, gt=0)
    bm25_b: float = Field(default=0.8, ge=0, le=1)
    seed: int = 42
    exclude_bought: bool = True
    device: Device = "auto"  # where ALS runs (see ``fit_device``); the factors and the bundle are CPU arrays


def confidence_matrix(counts: sp.csr_matrix, config: CollaborativeConfig) -> sp.csr_matrix:
    """The weighted customer x item matrix ALS learns from (float32 CSR, same pattern as ``counts``)."""
    if config.weighting == "bm25":
        weighted = bm25_weight(counts, K1=config.bm25_k1, B=config.bm25_b).tocsr()
        # an item bought by nearly every customer gets idf <= 0, which implicit reads as "disliked"
        weighted.data = config.alpha * np.maximum(weighted.data, _MIN_CONFIDENCE)
    elif config.weighting == "alpha":
        weighted = counts.copy()
        weighted.data = 1.0 + config.alpha * weighted.data
    else:
        weighted = counts.copy()
        weighted.data *= config.alpha
    return weighted.astype(np.float32)


def gpu_available() -> bool:
    """implicit was built with CUDA (and RMM) and sees at least one device."""
    import implicit.gpu

    if not implicit.gpu.HAS_CUDA:
        return False
    try:
        return int(implicit.gpu.get_device_count()) > 0
    except RuntimeError:  # a driver that went away since the import
        return False


def fit_device(config: CollaborativeConfig) -> Literal["cpu", "gpu"]:
    """Where ``fit_factors`` runs ALS for ``config``: the GPU when ``device`` is "auto" and one is found."""
    return "gpu" if config.device == "auto" and gpu_available() else "cpu"


def als_arguments(config: CollaborativeConfig) -> dict[str, Any]:
    """implicit's ALS arguments for ``config``, on the CPU or the GPU (alpha 1: the confidence is already in the
    weighted matrix)."""
    return {
        "factors": config.factors,
        "regularization": config.regularization,
        "alpha": 1.0,
        "iterations": config.iterations,
        "random_state": config.seed,
    }


def fit_factors(weighted: sp.csr_matrix, config: CollaborativeConfig) -> tuple[np.ndarray, np.ndarray]:
    """Customer and item factors (float32) from implicit's ALS, seeded: on the GPU where ``fit_device`` says
    so (implicit's CUDA model, its factors brought back with ``to_cpu``), else on the CPU, BLAS
    single-threaded. The GPU solves each step by conjugate gradient, so its factors differ from the CPU's in
    the last digits; the arrays, and so the bundle, have the same shapes and types."""
    if fit_device(config) == "gpu":
        from implicit.gpu.als import AlternatingLeastSquares as GpuAlternatingLeastSquares

        gpu = GpuAlternatingLeastSquares(**als_arguments(config))
        gpu.fit(weighted, show_progress=False)
        cpu = gpu.to_cpu()
        return np.ascontiguousarray(cpu.user_factors, np.float32), np.ascontiguousarray(cpu.item_factors, np.float32)
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(**als_arguments(config))
        als.fit(weighted, show_progress=False)
    return np.ascontiguousarray(als.user_factors, np.float32), np.ascontiguousarray(als.item_factors, np.float32)


Factorizer = Callable[[sp.csr_matrix, CollaborativeConfig], tuple[np.ndarray, np.ndarray]]
# the factorizer of the running fit: a context variable, so a scope sets it (``factorized_by``), never a process
_FACTORIZER: Scoped[Factorizer] = Scoped("recs_factorizer", fit_factors)


def factorized_by(factorizer: Factorizer) -> AbstractContextManager[None]:
    """Within this block (and threads started with a copy of its context), ALS fits call ``factorizer``."""
    return _FACTORIZER.using(factorizer)


def score_block(
    user_factors: np.ndarray,
    tiers: NormTiers,
    bought: sp.csr_matrix,
    popularity: np.ndarray,
    exclude_bought: bool,
    k: int,
) -> Ranked:
    """Top-k for one block of customers (``user_factors`` and ``bought`` are the block's rows).

    Customers with nothing in the fitted interactions (zero factors) are ranked by ``popularity`` instead, and
    only get items someone bought; the others by their factor scores (``inner_product_topk``: exact, pruned).
    A customer with browsing signals and no purchase is warm: personal, with nothing excluded.
    """
    out = Ranked.empty(len(user_factors), k)
    cold = ~user_factors.any(axis=1)
    warm = np.flatnonzero(~cold)
    if len(warm):
        excluded = bought[warm] if exclude_bought else None
        out.items[warm], out.scores[warm] = top_inner_products(tiers, user_factors[warm], excluded, k)
    if cold.any():  # one list, the same for every cold customer
        ranked = topk_dense(np.where(popularity > 0, popularity, -np.inf)[None, :], k)
        out.items[cold], out.scores[cold] = ranked.items[0], ranked.scores[0]
    return out


class CollaborativeModel(Recommender):
    """Personalized lists from matrix factorization; already-bought items excluded by default."""

    name: ClassVar[str] = "collaborative"
    query_kind: ClassVar[QueryKind] = "customer"
    config_class: ClassVar[type[ModelConfig]] = CollaborativeConfig
    config: CollaborativeConfig

    def __init__(self, config: CollaborativeConfig | None = None) -> None:
        super().__init__(config)
        self._user_factors = np.zeros((0, 0), dtype=np.float32)
        self._item_factors = np.zeros((0, 0), dtype=np.float32)
        self._popularity = np.zeros(0, dtype=np.float32)
        self._bought = sp.csr_matrix((0, 0), dtype=np.float32)
        self._blas: ThreadpoolController | None = None  # found once: threadpool_limits costs ~1 ms a call
        self._tiers = NormTiers.build(self._item_factors)  # derived from the item factors, never saved

    @property
    def user_factors(self) -> np.ndarray:
        """Customer factors (n_customers, factors), float32; zero rows for customers with no history."""
        self._check_fitted()
        return self._user_factors

    @property
    def item_factors(self) -> np.ndarray:
        """Item factors (n_items, factors), float32."""
        self._check_fitted()
        return self._item_factors

    # the contract ----------------------------------------------------------------------------------
    def _fit(self, history: OrderHistory) -> None:
        bought = history.customer_items("count")
        self._bought = pattern_matrix(bought.indptr, bought.indices, bought.shape)
        buyers = np.bincount(bought.indices, minlength=history.n_items).astype(np.float32)
        self._popularity = buyers / max(history.n_customers, 1)
        counts = history.interactions("count")  # purchases plus weighted browsing signals (if any)
        if counts.nnz == 0:  # nothing to factorize: every customer is cold
            user_factors = np.zeros((history.n_customers, self.config.factors), dtype=np.float32)
            item_factors = np.zeros((history.n_items, self.config.factors), dtype=np.float32)
        else:
            factorize = _FACTORIZER.get()
            user_factors, item_factors = factorize(confidence_matrix(counts, self.config), self.config)
            user_factors[np.diff(counts.indptr) == 0] = 0.0
        self._user_factors, self._item_factors = user_factors, item_factors
        self._tiers = NormTiers.build(item_factors)

    def _recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        def block(rows: np.ndarray, k: int) -> Ranked:
            return score_block(
                self._user_factors[rows],
                self._tiers,
                self._bought[rows],
                self._popularity,
                self.config.exclude_bought,
                k,
            )

        if self._blas is None:
            self._blas = ThreadpoolController()
        with self._blas.limit(limits=1, user_api="blas"):
            # blocks sized for the first set of columns scored (most customers need no other)
            width = len(self._tiers.columns[self._tiers.first_tier(k)])
            return rank_in_blocks(queries, k, width, block)

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self._user_factors,
            "item_factors": self._item_factors,
            "item_popularity": self._popularity,
            "bought_indptr": self._bought.indptr.astype(np.int64),
            "bought_indices": self._bought.indices.astype(np.int32),
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        names = ["user_factors", "item_factors", "item_popularity", "bought_indptr", "bought_indices"]
        require_arrays(self.name, arrays, names)
        user_factors, item_factors = arrays["user_factors"], arrays["item_factors"]
        shapes_ok = user_factors.ndim == 2 and item_factors.ndim == 2 and user_factors.shape[1] == item_factors.shape[1]
        if not shapes_ok or len(user_factors) != self.n_customers or len(item_factors) != self.n_items:
            raise ModelFileError(f"{self.name} model file: factor shapes do not match the saved sizes")
        self._user_factors = np.ascontiguousarray(user_factors, np.float32)
        self._item_factors = np.ascontiguousarray(item_factors, np.float32)
        self._tiers = NormTiers.build(self._item_factors)
        require_length(self.name, "item_popularity", arrays["item_popularity"], self.n_items)
        self._popularity = arrays["item_popularity"].astype(np.float32)
        shape = (self.n_customers, self.n_items)
        self._bought = load_pattern(self.name, arrays["bought_indptr"], arrays["bought_indices"], shape)
