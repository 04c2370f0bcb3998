"""Time-decayed popularity: what sells now, overall and per category.

Every order line weighs ``0.5 ** ((end_time - t) / half_life)``, so a sale ``half_life_days`` before
the end of the history counts half as much as one at the end. A customer buying the same item twice
in one order counts once. ``PopularModel`` keeps the item scores, the overall ranking and one ranking
per catalog category (the category of every item is stored at fit time, so ``top(k, category)`` works
after ``load``). ``recommend`` gives every customer the overall list, minus what they already bought
when ``exclude_bought`` is set. It is the fallback for unknown customers and the baseline (MostPop,
G-TopFreq) of the evaluation protocols.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recommender.base import ModelConfig, QueryKind, Ranked, Recommender
from recommender.errors import ModelFileError
from recommender.history import DAY, OrderHistory
from recommender.history_parts import concatenated, map_history_parts
from recommender.model_files import check_csr, check_indices, load_pattern, require_arrays

# most cells of one dense (customers x candidates) block when excluding bought items
_BLOCK_CELLS = 4_000_000


class PopularConfig(ModelConfig):
    """``half_life_days``: age at which a sale counts half; ``exclude_bought``: drop a customer's own items."""

    half_life_days: float = Field(default=30.0, gt=0)
    exclude_bought: bool = False


def decayed_item_scores(history: OrderHistory, half_life_days: float) -> np.ndarray:
    """Sum of ``0.5 ** (age / half_life)`` over distinct (order, item) lines, per item (float64). The lines
    and their weights come from parts of whole orders (``decayed_lines``, run by the fit's ``HistoryParts``),
    joined in order; the sums are taken here, in the same order as over the whole history."""
    if history.n_lines == 0:
        return np.zeros(history.n_items, dtype=np.float64)
    work = partial(decayed_lines, end_time=history.end_time, half_life_days=half_life_days)
    item, weight = concatenated(map_history_parts(work, history, "order", "popularity"), 2)
    return np.bincount(item, weights=weight, minlength=history.n_items)


def decayed_lines(history: OrderHistory, end_time: int, half_life_days: float) -> tuple[np.ndarray, np.ndarray]:
    """The item and the weight ``0.5 ** (age at end_time / half_life)`` of every distinct (order, item) line of
    ``history``, in (order, item) order."""
    key = history.order.astype(np.int64) * history.n_items + history.item
    _, first = np.unique(key, return_index=True)
    age_days = (end_time - history.ordered_at[first]) / DAY
    return history.item[first], np.exp2(-age_days / half_life_days)


def rank_items(scores: np.ndarray, sold: np.ndarray) -> np.ndarray:
    """Items where ``sold`` holds, best score first (ties: lower index first), int32."""
    idx = np.flatnonzero(sold)
    return idx[np.lexsort((idx, -scores[idx]))].astype(np.int32)


def rank_by_category(
    scores: np.ndarray, sold: np.ndarray, category: np.ndarray, n_categories: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-category rankings of sold items as CSR-like arrays (indptr over categories, items best first)."""
    idx = np.flatnonzero(sold & (category >= 0) & (category < n_categories))
    ordered = idx[np.lexsort((idx, -scores[idx], category[idx]))].astype(np.int32)
    counts = np.bincount(category[ordered], minlength=n_categories)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return indptr, ordered


def first_unbought(
    ranking: np.ndarray, scores: np.ndarray, bought: sp.csr_matrix, k: int, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``bought``, the first ``k`` items of ``ranking`` not in that row (padded -1)."""
    n = bought.shape[0]
    items = np.full((n, k), -1, dtype=np.int32)
    top_scores = np.full((n, k), -np.inf, dtype=np.float32)
    row_len = np.diff(bought.indptr)
    n_cand = min(len(ranking), k + (int(row_len.max()) if n else 0))
    if n == 0 or n_cand == 0:
        return items, top_scores
    cand = ranking[:n_cand]
    position = np.full(n_items, -1, dtype=np.int64)
    position[cand] = np.arange(n_cand)
    rows = np.repeat(np.arange(n), row_len)
    pos = position[bought.indices]
    hit = pos >= 0
    keep = np.ones((n, n_cand), dtype=bool)
    keep[rows[hit], pos[hit]] = False
    # stable sort puts the kept candidates first, in ranking order
    take = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    valid = np.take_along_axis(keep, take, axis=1)
    width = take.shape[1]
    items[:, :width] = np.where(valid, cand[take], -1)
    top_scores[:, :width] = np.where(valid, scores[cand[take]], -np.inf)
    return items, top_scores


class PopularModel(Recommender):
    """Most sold items, recent sales weighing more; overall and per category."""

    name: ClassVar[str] = "popular"
    query_kind: ClassVar[QueryKind] = "customer"
    config_class: ClassVar[type[ModelConfig]] = PopularConfig
    config: PopularConfig

    def __init__(self, config: PopularConfig | None = None) -> None:
        super().__init__(config)
        self._scores = np.zeros(0, dtype=np.float32)
        self._ranking = np.zeros(0, dtype=np.int32)
        self._category = np.zeros(0, dtype=np.int32)
        self._cat_indptr = np.zeros(1, dtype=np.int64)
        self._cat_items = np.zeros(0, dtype=np.int32)
        self._bought: sp.csr_matrix | None = None

    # public extras ---------------------------------------------------------------------------------
    @property
    def item_scores(self) -> np.ndarray:
        """Decayed popularity of every item (float32, index = item), 0 for items never sold."""
        self._check_fitted()
        view = self._scores.view()
        view.flags.writeable = False
        return view

    @property
    def n_categories(self) -> int:
        return len(self._cat_indptr) - 1

    def top(self, k: int, category: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` items (int32) and scores (float32), overall or in ``category`` (a catalog index).

        Only items sold in the fitted history are listed, so fewer than ``k`` may come back; an
        unknown category (negative, or not in the catalog at fit time) gives empty arrays.
        """
        self._check_fitted()
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if category is None:
            items = self._ranking[:k]
        elif 0 <= category < self.n_categories:
            start = int(self._cat_indptr[category])
            items = self._cat_items[start : min(start + k, int(self._cat_indptr[category + 1]))]
        else:
            items = np.zeros(0, dtype=np.int32)
        return items.copy(), self._scores[items]

    # the contract ----------------------------------------------------------------------------------
    def _fit(self, history: OrderHistory) -> None:
        scores = decayed_item_scores(history, self.config.half_life_days)
        sold = np.bincount(history.item, minlength=history.n_items) > 0
        self._scores = scores.astype(np.float32)
        self._ranking = rank_items(scores, sold)
        self._category = history.catalog.category.astype(np.int32)
        n_categories = len(history.catalog.categories)
        self._cat_indptr, self._cat_items = rank_by_category(scores, sold, self._category, n_categories)
        self._bought = history.customer_items("binary") if self.config.exclude_bought else None

    def _recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        if self._bought is not None:
            return self._recommend_unbought(self._bought[queries], k)
        items, scores = self.top(k)
        out = Ranked.empty(len(queries), k)
        out.items[:, : len(items)] = items
        out.scores[:, : len(items)] = scores
        return out

    def _recommend_unbought(self, bought: sp.csr_matrix, k: int) -> Ranked:
        """The overall ranking minus each row's bought items, in blocks of rows."""
        n = bought.shape[0]
        out = Ranked.empty(n, k)
        row_len = np.diff(bought.indptr)
        width = k + (int(row_len.max()) if n else 0)
        step = max(1, _BLOCK_CELLS // width)
        for start in range(0, n, step):
            stop = min(start + step, n)
            items, scores = first_unbought(self._ranking, self._scores, bought[start:stop], k, self.n_items)
            out.items[start:stop] = items
            out.scores[start:stop] = scores
        return out

    def _state(self) -> dict[str, np.ndarray]:
        state = {
            "item_scores": self._scores,
            "ranking": self._ranking,
            "category": self._category,
            "category_indptr": self._cat_indptr,
            "category_items": self._cat_items,
        }
        if self._bought is not None:
            state["bought_indptr"] = self._bought.indptr.astype(np.int64)
            state["bought_indices"] = self._bought.indices.astype(np.int32)
        return state

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        names = ["item_scores", "ranking", "category", "category_indptr", "category_items"]
        if self.config.exclude_bought:
            names += ["bought_indptr", "bought_indices"]
        require_arrays(self.name, arrays, names)
        if len(arrays["item_scores"]) != self.n_items or len(arrays["category"]) != self.n_items:
            raise ModelFileError(f"{self.name} model file: item arrays do not match {self.n_items} items")
        n_categories = len(arrays["category_indptr"]) - 1
        check_indices(self.name, "ranking", arrays["ranking"], self.n_items)
        check_indices(self.name, "category", arrays["category"], n_categories, missing_ok=True)
        category_shape = (n_categories, self.n_items)
        check_csr(self.name, "category lists", arrays["category_indptr"], arrays["category_items"], category_shape)
        self._scores = arrays["item_scores"].astype(np.float32)
        self._ranking = arrays["ranking"].astype(np.int32)
        self._category = arrays["category"].astype(np.int32)
        self._cat_indptr = arrays["category_indptr"].astype(np.int64)
        self._cat_items = arrays["category_items"].astype(np.int32)
        self._bought = None
        if self.config.exclude_bought:
            shape = (self.n_customers, self.n_items)
            self._bought = load_pattern(self.name, arrays["bought_indptr"], arrays["bought_indices"], shape)
