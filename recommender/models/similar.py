"""Similar items ("customers who bought this also bought"), from co-purchase.

Two items are similar when the same customers buy both: cosine similarity between the item columns
of the binary customer x item matrix, shrunk towards zero for rarely bought pairs,
``sim(a, b) = co(a, b) / (sqrt(n_a * n_b) + shrinkage)``. Only the best ``neighbours`` of every item
are kept, as a CSR matrix (rows sorted best first, self excluded). The item x item product never
exists whole: a compiled kernel (``similar_kernels``) computes a block of its rows at a time, in two
threads, keeping each row's best entries only, so memory stays n_items x neighbours on large catalogs.

With ``same_category_only`` (alternatives, not complements), items people buy once and never two of
(tents) have no co-purchased neighbour in their own category. They get second-order similarity: two
items are alike when their buyers buy the same other things (each item's profile is its row of
unrestricted co-purchase similarities; profiles are compared by cosine), weighted by ``profile_weight``
and added to the first-order score, so a tent's alternatives are the tents whose buyers also buy
sleeping bags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recommender.base import ModelConfig, QueryKind, Ranked, Recommender
from recommender.errors import ModelFileError
from recommender.history import OrderHistory
from recommender.model_files import check_csr, require_arrays
from recommender.models.pair_blocks import map_pair_blocks
from recommender.numeric.row_blocks import row_blocks
from recommender.numeric.topk import descending_bits, topk_sparse

# item rows per compiled-kernel call (a block of the work for a thread)
_KERNEL_ROWS = 1_000


class SimilarConfig(ModelConfig):
    """``neighbours`` kept per item; ``shrinkage`` damps pairs with few buyers; ``same_category_only``:
    an item with a known category only gets neighbours of that category."""

    neighbours: int = Field(default=50, ge=1)
    shrinkage: float = Field(default=5.0, ge=0)
    same_category_only: bool = True  # "items like this one": alternatives in its category, not complements
    profile_weight: float = Field(default=0.1, ge=0)  # second-order (shared co-purchases) similarity, see above


def top_per_row(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest stored entries of every row (ties: lower column first), rows sorted best first.

    One stable sort of (row, descending value) keys over columns ascending within rows (``lexsort`` of the
    three keys was 60% of a similar-items fit).
    """
    m = m.tocsr()
    if not m.has_sorted_indices:
        m = m.sorted_indices()
    lengths = np.diff(m.indptr)
    row_of = np.repeat(np.arange(m.shape[0], dtype=np.int64), lengths)
    order = np.argsort((row_of << 32) | descending_bits(m.data).astype(np.int64), kind="stable")
    rank = np.arange(len(order)) - m.indptr[row_of[order]]
    keep = order[rank < n]
    counts = np.minimum(lengths, n)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return sp.csr_matrix((m.data[keep], m.indices[keep], indptr), shape=m.shape)


def neighbour_matrix(buyers: sp.csr_matrix, config: SimilarConfig, category: np.ndarray) -> sp.csr_matrix:
    """Item x item CSR of the best ``neighbours`` per item, from a binary customer x item matrix."""
    first = co_purchase_matrix(buyers, config, category)
    if not (config.same_category_only and config.profile_weight > 0 and np.any(category >= 0)):
        return first
    profiles = co_purchase_matrix(buyers, config.model_copy(update={"same_category_only": False}), category)
    second = profile_similarity(profiles, category, config.neighbours)
    return top_per_row((first + config.profile_weight * second).tocsr(), config.neighbours)


@dataclass(frozen=True)
class ProductInputs:
    """What every row block of ``product_top_rows`` shares: both factors' CSR arrays and the scoring rule."""

    a: tuple[np.ndarray, np.ndarray, np.ndarray]  # indptr, indices (int64), data (the product's type)
    b: tuple[np.ndarray, np.ndarray, np.ndarray]
    k: int
    weights: np.ndarray  # float64 per item: its count (shrunk cosine) or zeros
    shrinkage: float
    shrunk_cosine: bool
    category: np.ndarray  # int64 per item
    same_category: bool
    unknown_keeps_all: bool


def product_block(inputs: ProductInputs, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``lo:hi`` of ``product_top_rows``: (entries per row int64, columns int32, values float32), the
    rows' entries one row after the other, best first (compiled; a pure function of the block and ``inputs``)."""
    from recommender.models.similar_kernels import product_top  # numba: imported where it runs

    columns = np.zeros((hi - lo, inputs.k), dtype=np.int64)
    values = np.zeros((hi - lo, inputs.k), dtype=np.float32)
    counts = np.zeros(hi - lo, dtype=np.int64)
    product_top(
        *inputs.a, *inputs.b, lo, inputs.weights, inputs.shrinkage, inputs.shrunk_cosine, inputs.category,
        inputs.same_category, inputs.unknown_keeps_all, columns, values, counts,
    )  # fmt: skip
    found = np.arange(inputs.k)[None, :] < counts[:, None]
    return counts, columns[found].astype(np.int32), values[found]


def product_top_rows(
    a: sp.csr_matrix,
    b: sp.csr_matrix,
    k: int,
    category: np.ndarray,
    same_category: bool,
    unknown_keeps_all: bool = True,
    count: np.ndarray | None = None,
    shrinkage: float = 0.0,
) -> sp.csr_matrix:
    """The best ``k`` entries of every row of the square item x item product ``a @ b``, rows sorted best
    first, the diagonal dropped; with ``same_category`` only columns of the row's known category (a row of
    unknown category keeps all with ``unknown_keeps_all``, none without); with ``count``, entries are the
    shrunk cosine ``co / (sqrt(count_a * count_b) + shrinkage)``. Compiled, in row blocks (``product_block``)
    run by the fit's ``PairLists`` (``recommender.models.pair_blocks``: two threads here, or Spark tasks)."""
    n = a.shape[0]
    kk = max(0, min(k, n))
    if n == 0 or kk == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    a, b = a.tocsr(), b.tocsr()
    dtype = np.result_type(a.dtype, b.dtype)  # scipy's product accumulates in this type: so does the kernel
    inputs = ProductInputs(
        a=(a.indptr.astype(np.int64), a.indices.astype(np.int64), a.data.astype(dtype)),
        b=(b.indptr.astype(np.int64), b.indices.astype(np.int64), b.data.astype(dtype)),
        k=kk,
        weights=np.zeros(n) if count is None else np.asarray(count, dtype=np.float64),
        shrinkage=float(shrinkage),
        shrunk_cosine=count is not None,
        category=np.asarray(category, dtype=np.int64),
        same_category=same_category,
        unknown_keeps_all=unknown_keeps_all,
    )
    blocks = map_pair_blocks(product_block, inputs, row_blocks(n, _KERNEL_ROWS), "similar-items")
    indptr = np.concatenate([[0], np.cumsum(np.concatenate([counts for counts, _, _ in blocks]))])
    columns = np.concatenate([columns for _, columns, _ in blocks])
    values = np.concatenate([values for _, _, values in blocks])
    return sp.csr_matrix((values, columns, indptr), shape=(n, n))


def profile_similarity(profiles: sp.csr_matrix, category: np.ndarray, neighbours: int) -> sp.csr_matrix:
    """Cosine between items' co-purchase profiles, same (known) category only, self excluded, top per row."""
    norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())
    unit = sp.csr_matrix(sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ profiles)
    return product_top_rows(unit, unit.T.tocsr(), neighbours, category, same_category=True, unknown_keeps_all=False)


def co_purchase_matrix(buyers: sp.csr_matrix, config: SimilarConfig, category: np.ndarray) -> sp.csr_matrix:
    """First-order similarity: shrunk co-purchase cosine, the best ``neighbours`` per item."""
    item_buyers = buyers.T.tocsr()
    n_buyers = np.diff(item_buyers.indptr).astype(np.float64)
    return product_top_rows(
        item_buyers,
        buyers,
        config.neighbours,
        category,
        same_category=config.same_category_only,
        count=n_buyers,
        shrinkage=config.shrinkage,
    )


class SimilarItemsModel(Recommender):
    """Items like this one, ranked by shrunk co-purchase cosine similarity."""

    name: ClassVar[str] = "similar"
    query_kind: ClassVar[QueryKind] = "item"
    config_class: ClassVar[type[ModelConfig]] = SimilarConfig
    config: SimilarConfig

    def __init__(self, config: SimilarConfig | None = None) -> None:
        super().__init__(config)
        self._neighbours = sp.csr_matrix((0, 0), dtype=np.float32)

    @property
    def neighbours(self) -> sp.csr_matrix:
        """Item x item similarities (CSR, float32): every row holds its best neighbours, best first."""
        self._check_fitted()
        return self._neighbours

    # the contract ----------------------------------------------------------------------------------
    def _fit(self, history: OrderHistory) -> None:
        category = history.catalog.category.astype(np.int32)
        self._neighbours = neighbour_matrix(history.customer_items("binary"), self.config, category)

    def _recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        return topk_sparse(self._neighbours, k, rows=queries)

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "indptr": self._neighbours.indptr.astype(np.int64),
            "indices": self._neighbours.indices.astype(np.int32),
            "data": self._neighbours.data.astype(np.float32),
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        require_arrays(self.name, arrays, ["indptr", "indices", "data"])
        indptr, indices, data = arrays["indptr"], arrays["indices"], arrays["data"]
        if len(indptr) != self.n_items + 1 or len(indices) != len(data) or int(indptr[-1]) != len(data):
            raise ModelFileError(f"{self.name} model file: neighbour arrays do not match {self.n_items} items")
        shape = (self.n_items, self.n_items)
        check_csr(self.name, "neighbours", indptr, indices, shape)
        self._neighbours = sp.csr_matrix(
            (data.astype(np.float32), indices.astype(np.int32), indptr.astype(np.int64)), shape=shape
        )
