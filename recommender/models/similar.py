"""Similar items ("customers who bought this also bought"), from co-purchase.

Two items are similar when the same customers buy both: cosine similarity between the item columns
of the binary customer x item matrix, shrunk towards zero for rarely bought pairs,
``sim(a, b) = co(a, b) / (sqrt(n_a * n_b) + shrinkage)``. Only the best ``neighbours`` of every item
are kept, as a CSR matrix (rows sorted best first, self excluded). The item x item product is
computed in blocks of rows sized by their cost, so memory stays bounded on large catalogs.

With ``same_category_only`` (alternatives, not complements), items people buy once and never two of
(tents) have no co-purchased neighbour in their own category. They get second-order similarity: two
items are alike when their buyers buy the same other things (each item's profile is its row of
unrestricted co-purchase similarities; profiles are compared by cosine), weighted by ``profile_weight``
and added to the first-order score, so a tent's alternatives are the tents whose buyers also buy
sleeping bags.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recommender.base import ModelConfig, QueryKind, Ranked, Recommender
from recommender.errors import ModelFileError
from recommender.history import OrderHistory
from recommender.model_files import check_csr, require_arrays
from recommender.ranking import descending_bits, topk_sparse

# most co-purchase products (an upper bound of stored entries) computed in one block of item rows
_BLOCK_WORK = 5_000_000


class SimilarConfig(ModelConfig):
    """``neighbours`` kept per item; ``shrinkage`` damps pairs with few buyers; ``same_category_only``:
    an item with a known category only gets neighbours of that category."""

    neighbours: int = Field(default=50, ge=1)
    shrinkage: float = Field(default=5.0, ge=0)
    same_category_only: bool = True  # "items like this one": alternatives in its category, not complements
    profile_weight: float = Field(default=0.1, ge=0)  # second-order (shared co-purchases) similarity, see above


def item_blocks(buyers: sp.csr_matrix, budget: int) -> np.ndarray:
    """Boundaries of consecutive item blocks whose co-purchase products stay within ``budget``.

    The cost of item a is the number of (customer, item) pairs reached through its buyers, an upper
    bound of the stored entries of its co-purchase row. A single item above the budget is its own block.
    """
    n_items = buyers.shape[1]
    basket = np.diff(buyers.indptr).astype(np.float64)
    cum = np.cumsum(buyers.T @ basket)
    bounds = [0]
    while bounds[-1] < n_items:
        done = cum[bounds[-1] - 1] if bounds[-1] > 0 else 0.0
        stop = int(np.searchsorted(cum, done + budget, side="right"))
        bounds.append(min(max(stop, bounds[-1] + 1), n_items))
    return np.asarray(bounds, dtype=np.int64)


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


def similarity_block(
    item_buyers: sp.csr_matrix,
    buyers: sp.csr_matrix,
    n_buyers: np.ndarray,
    start: int,
    stop: int,
    config: SimilarConfig,
    category: np.ndarray,
) -> sp.csr_matrix:
    """Shrunk cosine similarities of items ``start:stop`` to every item, top ``neighbours`` per row."""
    co = (item_buyers[start:stop] @ buyers).tocoo()
    rows = co.row + start
    keep = rows != co.col
    if config.same_category_only:
        anchor = category[rows]
        keep &= (anchor < 0) | (category[co.col] == anchor)
    rows, cols, together = rows[keep], co.col[keep], co.data[keep]
    sims = together / (np.sqrt(n_buyers[rows] * n_buyers[cols]) + config.shrinkage)
    block = sp.csr_matrix((sims.astype(np.float32), (rows - start, cols)), shape=(stop - start, buyers.shape[1]))
    return top_per_row(block, config.neighbours)


def neighbour_matrix(buyers: sp.csr_matrix, config: SimilarConfig, category: np.ndarray) -> sp.csr_matrix:
    """Item x item CSR of the best ``neighbours`` per item, from a binary customer x item matrix."""
    first = co_purchase_matrix(buyers, config, category)
    if not (config.same_category_only and config.profile_weight > 0 and np.any(category >= 0)):
        return first
    profiles = co_purchase_matrix(buyers, config.model_copy(update={"same_category_only": False}), category)
    second = profile_similarity(profiles, category, config.neighbours)
    return top_per_row((first + config.profile_weight * second).tocsr(), config.neighbours)


def profile_similarity(profiles: sp.csr_matrix, category: np.ndarray, neighbours: int) -> sp.csr_matrix:
    """Cosine between items' co-purchase profiles, same (known) category only, self excluded, top per row."""
    norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())
    unit = sp.csr_matrix(sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ profiles)
    unit_t = unit.T.tocsr()
    n = profiles.shape[0]
    step = max(1, _BLOCK_WORK // max(int(unit.nnz / max(n, 1)) ** 2 * 4, 1))
    blocks = []
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        co = (unit[lo:hi] @ unit_t).tocoo()
        rows = co.row + lo
        keep = (rows != co.col) & (category[rows] >= 0) & (category[co.col] == category[rows])
        block = sp.csr_matrix((co.data[keep].astype(np.float32), (co.row[keep], co.col[keep])), shape=(hi - lo, n))
        blocks.append(top_per_row(block, neighbours))
    return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((n, n), dtype=np.float32)


def co_purchase_matrix(buyers: sp.csr_matrix, config: SimilarConfig, category: np.ndarray) -> sp.csr_matrix:
    """First-order similarity: shrunk co-purchase cosine, the best ``neighbours`` per item."""
    item_buyers = buyers.T.tocsr()
    n_buyers = np.diff(item_buyers.indptr).astype(np.float64)
    bounds = item_blocks(buyers, _BLOCK_WORK)
    blocks = [
        similarity_block(item_buyers, buyers, n_buyers, int(a), int(b), config, category)
        for a, b in itertools.pairwise(bounds)
    ]
    if not blocks:
        return sp.csr_matrix((buyers.shape[1], buyers.shape[1]), dtype=np.float32)
    return sp.vstack(blocks, format="csr")


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
