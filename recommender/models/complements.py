"""Directional complements: "bought a tent, offer a sleeping bag within days, never another tent".

For an anchor item A and a candidate B, counted over distinct customers of the fitted history:

- ``n_AB``: customers who bought B in a strictly later order within ``(0, window_days]`` after an
  order containing A (the same customer; orders at the same moment do not count);
- ``n_BA``: the same the other way round;
- ``n_A``: customers who bought A at all;
- ``m_B``: customers who bought B within the window after *any* earlier order of theirs (B's
  popularity in a follow-up window, the "popularity-in-window" baseline of the evaluation protocol);
- ``N``: customers with at least one order.

With ``base_B = m_B / N`` (B's base rate of being bought in a follow-up window), the score is::

    confidence(A -> B) = (n_AB + shrinkage * base_B) / (n_A + shrinkage)   # shrunk towards base_B
    share(A -> B)      = (n_AB + 1) / (n_AB + n_BA + 2)                  # direction, smoothed: ~1 = after A
    score(A -> B)      = confidence * base_B ** -popularity_exponent * share

The confidence is shrunk towards B's base rate, so an anchor with few buyers ranks its candidates
mostly by popularity-in-window and a well-observed anchor by its own evidence; dividing by
``base_B ** popularity_exponent`` (0: none, 1: the full lift) keeps an item everyone buys from
outranking the real complement; the share (add-one smoothed) makes the score directional.

A pair is kept when ``n_AB >= min_support``, ``B != A``, the raw lift ``(n_AB / n_A) / base_B`` is
above ``min_lift`` (1: B follows A more often than it follows any order), the share is at least ``min_direction``
(so a sleeping bag never offers the tent it usually follows), and, when the catalog has categories
and ``exclude_same_category`` is set, B is not in A's category (a substitute). Each anchor keeps its
best ``neighbours`` candidates, with ``n_AB`` and ``n_A`` for a human reason.

Defaults were picked on the synthetic shop (10k customers, anchors after an 80% time cut, HitRate@5):
planted anchors (tents, cameras, printers) .85 against .30 for popularity-in-window and .80 for
symmetric co-occurrence; over all anchors .37 against .40 and .40 (same-category exclusion and the
popularity normalization trade some hits on background items for real complements).

Counting is sparse and vectorized, never an explosion of line pairs: F (orders x orders) links an
order to the same customer's later orders within the window (orders sorted by customer and time,
``searchsorted`` for the window end); P ((customer, item) pairs x orders) marks the orders holding
each pair; O (orders x items) is binary. ``binarize(P @ F @ O)`` says which candidates followed each
(customer, anchor) pair, and summing its rows by anchor gives ``n_AB``. P's rows are processed in
chunks whose worst-case product size is bounded by ``max_chunk_triples``, so memory stays flat as the
history grows.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recommender.base import ModelConfig, QueryKind, Ranked, Recommender
from recommender.distinct import unique_values
from recommender.errors import DataError, ModelFileError, RecommenderError
from recommender.history import DAY, OrderHistory
from recommender.model_files import check_csr
from recommender.ranking import topk_sparse
from recommender.sparse_sum import sum_sparse

_INT64_SAFE = 2**62


class UnknownPairError(RecommenderError, LookupError):
    """The (anchor, item) pair is not among the kept complements of the anchor."""


PAD_SCALE = 1e-3  # padded (popular-in-window) items score this times their base rate: below any complement


class ComplementsConfig(ModelConfig):
    """Hyperparameters of the directional complements model (see the module docstring for the formula).

    ``max_chunk_triples`` is a memory knob only (how many (customer, anchor, candidate) triples may be
    materialized at once); it never changes the result.
    """

    window_days: int = Field(default=14, ge=1)
    min_support: int = Field(default=2, ge=1)
    neighbours: int = Field(default=50, ge=1)
    shrinkage: float = Field(default=20.0, ge=0)
    popularity_exponent: float = Field(default=0.25, ge=0, le=1)
    min_direction: float = Field(default=0.3, ge=0, le=1)
    min_lift: float = Field(default=1.0, ge=0)
    pad_with_popular: bool = True  # fill short lists with what is bought after any order (see _recommend)
    exclude_same_category: bool = True
    max_chunk_triples: int = Field(default=4_000_000, ge=1)


# sparse building blocks ------------------------------------------------------------------------------
def window_matrix(history: OrderHistory, window_days: int) -> sp.csr_matrix:
    """Orders x orders: ``F[o, p] = 1`` when ``p`` is the same customer's order ``(0, window]`` after ``o``."""
    table = history.orders_table()
    n_orders = history.n_orders
    if len(table["order"]) == 0:
        return sp.csr_matrix((n_orders, n_orders), dtype=np.float32)
    window = int(window_days) * DAY
    t = table["ordered_at"] - table["ordered_at"].min()
    stride = int(t.max()) + window + 1
    if (int(table["customer"].max()) + 1) * stride >= _INT64_SAFE:
        raise DataError("order timestamps span too long a period to index by customer and time")
    key = table["customer"].astype(np.int64) * stride + t
    perm = np.argsort(key, kind="stable")
    key_sorted = key[perm]
    start = np.searchsorted(key_sorted, key_sorted, side="right")  # first order strictly later
    end = np.searchsorted(key_sorted, key_sorted + window, side="right")  # past the window end
    counts = end - start
    total = int(counts.sum())
    rows = np.repeat(np.arange(len(perm)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.repeat(start, counts) + offsets
    order_of = table["order"][perm]
    return sp.csr_matrix(
        (np.ones(total, dtype=np.float32), (order_of[rows], order_of[cols])), shape=(n_orders, n_orders)
    )


def distinct_pairs(history: OrderHistory) -> sp.csr_matrix:
    """Customers x items binary CSR in canonical form: one stored entry per distinct (customer, item)."""
    bought = history.customer_items("binary")
    bought.sort_indices()
    return bought


def entry_keys(matrix: sp.csr_matrix) -> np.ndarray:
    """``row * n_cols + col`` of every stored entry of a canonical CSR matrix (sorted ascending)."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return rows * matrix.shape[1] + matrix.indices


def customer_item_pairs(history: OrderHistory) -> tuple[np.ndarray, sp.csr_matrix]:
    """Distinct (customer, item) pairs (their item, sorted by customer) and the pairs x orders incidence."""
    bought = distinct_pairs(history)
    pair_item = bought.indices.astype(np.int32)
    # position of every line's (customer, item) among the stored entries (sorted by row, then column)
    pair = np.searchsorted(entry_keys(bought), history.customer.astype(np.int64) * bought.shape[1] + history.item)
    incidence = sp.csr_matrix(
        (np.ones(history.n_lines, dtype=np.float32), (pair, history.order)),
        shape=(len(pair_item), history.n_orders),
    )
    incidence.sum_duplicates()
    incidence.data[:] = 1.0
    return pair_item, incidence


def chunk_bounds(costs: np.ndarray, budget: int) -> np.ndarray:
    """Row boundaries ``[0, ..., n]`` so that each chunk's summed cost stays near ``budget`` (>= 1 row each)."""
    n = len(costs)
    if n == 0:
        return np.array([0], dtype=np.int64)
    cum = np.cumsum(costs, dtype=np.float64)
    marks = np.arange(budget, cum[-1], budget, dtype=np.float64)
    cuts = np.searchsorted(cum, marks, side="left") + 1
    return np.unique(np.concatenate([[0], np.clip(cuts, 1, n), [n]])).astype(np.int64)


def followed_counts(history: OrderHistory, follow: sp.csr_matrix, max_chunk_triples: int) -> sp.csr_matrix:
    """Items x items ``n_AB`` counts (distinct customers), diagonal included, canonical CSR float32.

    ``follow`` is ``window_matrix(history, window_days)``.
    """
    n_items = history.n_items
    basket = history.order_items()
    pair_item, incidence = customer_item_pairs(history)
    # worst-case size of each pair's row of P @ F @ O: items in the orders that follow its orders
    order_cost = follow @ np.asarray(basket.sum(axis=1)).ravel()
    pair_cost = incidence @ order_cost

    def chunk_counts(lo: int, hi: int) -> sp.csr_matrix:
        followed = (incidence[lo:hi] @ follow) @ basket
        followed.data[:] = 1.0  # distinct customers: each (customer, anchor) counts a candidate once
        by_anchor = sp.csr_matrix(
            (np.ones(hi - lo, dtype=np.float32), (pair_item[lo:hi], np.arange(hi - lo))), shape=(n_items, hi - lo)
        )
        return by_anchor @ followed

    bounds = chunk_bounds(pair_cost, max_chunk_triples)
    chunks = (chunk_counts(lo, hi) for lo, hi in itertools.pairwise(bounds) if pair_cost[lo:hi].sum() > 0)
    return sum_sparse(chunks, (n_items, n_items), np.float32)  # canonical: sorted indices, one entry per pair


def window_popularity(history: OrderHistory, follow: sp.csr_matrix) -> np.ndarray:
    """Per item ``m_B``: distinct customers who bought it within the window after any earlier order of theirs."""
    is_followup = np.asarray(follow.sum(axis=0)).ravel() > 0
    followups = distinct_pairs(history.select(is_followup[history.order]))
    return np.bincount(followups.indices, minlength=history.n_items).astype(np.int64)


def lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at the positions of ``query`` in the sorted ``keys``; 0 where a query key is absent."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=values.dtype)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[pos] == query, values[pos], 0)


def reverse_counts(counts: sp.csr_matrix) -> np.ndarray:
    """For every stored entry ``(a, b)`` of a canonical square CSR, the value stored at ``(b, a)`` (0 if none).

    The transpose's keys are looked up with the entries' own keys, which are sorted: a merge that walks both
    arrays in order (33M pairs of the Complete Journey: 1 s, against 24 s for the same lookups in pair order).
    """
    transposed = counts.T.tocsr()
    transposed.sum_duplicates()  # canonical: sorted indices
    return lookup(entry_keys(transposed), transposed.data, entry_keys(counts))


def backward_pairs(
    keys: np.ndarray, counts: np.ndarray, reverse: np.ndarray, n_items: int, min_direction: float
) -> np.ndarray:
    """Sorted keys ``b * n_items + a`` of every pair b -> a seen mostly the other way round (a then b), at
    any support: a sleeping bag -> the tent it follows. Short lists are never padded with those.

    ``keys`` / ``counts``: the counted entries (``then`` bought after ``first``), ``reverse`` their
    ``reverse_counts``."""
    n = max(n_items, 1)
    first, then = keys // n, keys % n
    share = direction_share(reverse, counts)  # of the pair then -> first
    return unique_values((then * n + first)[share < min_direction])


def direction_share(n_ab: np.ndarray, n_ba: np.ndarray) -> np.ndarray:
    """Smoothed share of the pair's customers who bought A first: ``(n_AB + 1) / (n_AB + n_BA + 2)``."""
    return (n_ab + 1.0) / (n_ab + n_ba + 2.0)


def pair_score(
    n_ab: np.ndarray, n_a: np.ndarray, base: np.ndarray, share: np.ndarray, cfg: ComplementsConfig
) -> np.ndarray:
    """The complement score of kept pairs (see the module docstring); ``base`` is ``m_B / N``."""
    confidence = (n_ab + cfg.shrinkage * base) / (n_a + cfg.shrinkage)
    return confidence * base ** (-cfg.popularity_exponent) * share


def rows_to_csr(rows: np.ndarray, cols: np.ndarray, n: int, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sort entries by (row, col) and return ``indptr``, ``indices`` and the values in that order."""
    order = np.lexsort((cols, rows))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    return (indptr, cols[order].astype(np.int32), *(v[order] for v in values))


class ComplementsModel(Recommender):
    """Item-to-item directional complements; ``recommend(anchor_items, k)`` gives what to offer next."""

    name: ClassVar[str] = "complements"
    query_kind: ClassVar[QueryKind] = "item"
    config_class: ClassVar[type[ModelConfig]] = ComplementsConfig
    config: ComplementsConfig

    def __init__(self, config: ComplementsConfig | None = None) -> None:
        super().__init__(config)
        self._indptr = np.zeros(1, dtype=np.int64)
        self._indices = np.zeros(0, dtype=np.int32)
        self._score = np.zeros(0, dtype=np.float32)
        self._n_ab = np.zeros(0, dtype=np.int32)
        self._n_a = np.zeros(0, dtype=np.int32)
        self._category = np.zeros(0, dtype=np.int32)
        self._followed = np.zeros(0, dtype=np.float32)  # per item: share of customers buying it after any order
        self._backward = np.zeros(0, dtype=np.int64)  # sorted anchor * n_items + item keys of wrong-direction pairs

    # fitting -------------------------------------------------------------------------------------------
    def _fit(self, history: OrderHistory) -> None:
        cfg = self.config
        n = history.n_items
        self._category = self._item_categories(history)
        self._n_a = self._buyers(history)
        follow = window_matrix(history, cfg.window_days)
        counts = followed_counts(history, follow, cfg.max_chunk_triples)
        keys = entry_keys(counts)
        anchor, cand, n_ab = keys // max(n, 1), keys % max(n, 1), counts.data.astype(np.int64)
        reverse = reverse_counts(counts).astype(np.int64)  # n_BA of every counted pair
        self._backward = backward_pairs(keys, n_ab, reverse, n, cfg.min_direction)
        keep = (n_ab >= cfg.min_support) & (anchor != cand) & ~self._same_category(anchor, cand)
        anchor, cand, n_ab, n_ba = anchor[keep], cand[keep], n_ab[keep], reverse[keep]
        share = direction_share(n_ab, n_ba)
        keep = share >= cfg.min_direction
        anchor, cand, n_ab, share = anchor[keep], cand[keep], n_ab[keep], share[keep]
        n_customers = max(int(np.count_nonzero(np.bincount(history.customer, minlength=1))), 1)
        self._followed = (window_popularity(history, follow) / n_customers).astype(np.float32)
        base = self._followed[cand].astype(np.float64)
        # a complement is bought after A more often than after any order: coffee that 12% of tent
        # buyers buy within the window, while 30% of all customers do, is no complement of a tent
        lifted = n_ab > cfg.min_lift * base * self._n_a[anchor]
        anchor, cand, n_ab, share, base = anchor[lifted], cand[lifted], n_ab[lifted], share[lifted], base[lifted]
        score = pair_score(n_ab, self._n_a[anchor], base, share, cfg)
        top = self._top_per_anchor(anchor, score, cfg.neighbours)
        self._indptr, self._indices, self._score, self._n_ab = rows_to_csr(
            anchor[top], cand[top], n, score[top].astype(np.float32), n_ab[top].astype(np.int32)
        )

    @staticmethod
    def _item_categories(history: OrderHistory) -> np.ndarray:
        catalog = history.catalog
        if not catalog.has_categories:
            return np.full(history.n_items, -1, dtype=np.int32)
        return np.asarray(catalog.category, dtype=np.int32).copy()

    @staticmethod
    def _buyers(history: OrderHistory) -> np.ndarray:
        return np.bincount(distinct_pairs(history).indices, minlength=history.n_items).astype(np.int32)

    def _same_category(self, anchor: np.ndarray, cand: np.ndarray) -> np.ndarray:
        if not self.config.exclude_same_category:
            return np.zeros(len(anchor), dtype=bool)
        cat = self._category[anchor]
        return (cat >= 0) & (cat == self._category[cand])

    @staticmethod
    def _top_per_anchor(anchor: np.ndarray, score: np.ndarray, neighbours: int) -> np.ndarray:
        """Indices of the best ``neighbours`` entries of every anchor."""
        order = np.lexsort((-score, anchor))
        sorted_anchor = anchor[order]
        first = np.searchsorted(sorted_anchor, sorted_anchor, side="left")
        rank = np.arange(len(order)) - first
        return order[rank < neighbours]

    # the matrix ----------------------------------------------------------------------------------------
    @property
    def matrix(self) -> sp.csr_matrix:
        """Items x items scores of the kept pairs (anchor rows, candidate columns)."""
        return sp.csr_matrix((self._score, self._indices, self._indptr), shape=(self.n_items, self.n_items))

    def _recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        ranked = topk_sparse(self.matrix, k, rows=queries)
        if self.config.pad_with_popular:
            self._pad(queries, ranked, k)
        return ranked

    def _pad(self, queries: np.ndarray, ranked: Ranked, k: int) -> None:
        """In place: fill short rows with the items most often bought after any order (popularity in the
        window), never the anchor, its category (when excluded) or an item already listed; their scores
        (``PAD_SCALE * base rate``) stay below every real complement's."""
        short = np.flatnonzero(ranked.items[:, -1] < 0)
        if len(short) == 0 or not np.any(self._followed > 0):
            return
        n_pool = min(self.n_items, 2 * k + 20)
        pool = np.argsort(-self._followed, kind="stable")[:n_pool]
        pool = pool[self._followed[pool] > 0]
        anchors = queries[short]
        blocked = pool[None, :] == anchors[:, None]
        if self.config.exclude_same_category:
            cat = self._category
            blocked |= (cat[pool][None, :] == cat[anchors][:, None]) & (cat[anchors][:, None] >= 0)
        listed = ranked.items[short]
        pool_position = np.full(max(self.n_items, 1), -1, dtype=np.int64)
        pool_position[pool] = np.arange(len(pool))
        at = np.where(listed >= 0, pool_position[np.maximum(listed, 0)], -1)  # listed items' places in the pool
        listed_rows, listed_cols = np.nonzero(at >= 0)
        blocked[listed_rows, at[listed_rows, listed_cols]] = True
        if len(self._backward):
            keys = anchors[:, None].astype(np.int64) * max(self.n_items, 1) + pool[None, :]
            pos = np.minimum(np.searchsorted(self._backward, keys), len(self._backward) - 1)
            blocked |= self._backward[pos] == keys
        have = (listed >= 0).sum(axis=1)
        free = ~blocked
        slot = have[:, None] + np.cumsum(free, axis=1) - 1  # the position each free pool item would take
        place = free & (slot < k)
        rows, cols = np.nonzero(place)
        ranked.items[short[rows], slot[rows, cols]] = pool[cols]
        ranked.scores[short[rows], slot[rows, cols]] = PAD_SCALE * self._followed[pool[cols]]

    def for_basket(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Complements of a set of items: scores summed over the anchors, best first.

        The anchors themselves are excluded, and so are their categories when ``exclude_same_category``
        is set. Unknown (out-of-range) item indices are ignored. Returns ``(items int32, scores float32)``
        of at most ``k`` entries, without padding.
        """
        self._check_fitted()
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        basket = np.asarray(items, dtype=np.int64).ravel()
        basket = np.unique(basket[(basket >= 0) & (basket < self.n_items)])
        if len(basket) == 0:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        summed = np.asarray(self.matrix[basket].sum(axis=0)).ravel()
        excluded = np.zeros(self.n_items, dtype=bool)
        excluded[basket] = True
        if self.config.exclude_same_category:
            cats = self._category[basket]
            cats = cats[cats >= 0]
            excluded |= np.isin(self._category, cats) & (self._category >= 0)
        candidates = np.flatnonzero((summed > 0) & ~excluded)
        best = candidates[np.lexsort((candidates, -summed[candidates]))][:k]
        return best.astype(np.int32), summed[best].astype(np.float32)

    # reasons -------------------------------------------------------------------------------------------
    def pair_stats(self, anchor: int, item: int) -> tuple[int, int]:
        """``(n_AB, n_A)`` of a kept pair: customers who bought ``item`` within the window after ``anchor``,
        and customers who bought ``anchor``. Raises ``UnknownPairError`` for a pair that was not kept."""
        self._check_fitted()
        if not (0 <= anchor < self.n_items and 0 <= item < self.n_items):
            raise UnknownPairError(f"item index out of range: anchor {anchor}, item {item}")
        lo, hi = int(self._indptr[anchor]), int(self._indptr[anchor + 1])
        pos = lo + int(np.searchsorted(self._indices[lo:hi], item))
        if pos >= hi or self._indices[pos] != item:
            raise UnknownPairError(f"item {item} is not a kept complement of anchor {anchor}")
        return int(self._n_ab[pos]), int(self._n_a[anchor])

    def shares(self, anchors: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``n_AB / n_A`` of every (anchor, item) pair, vectorized (float32, in (0, 1]).

        The share of the anchor's buyers who bought the item within the window after it: the number
        ``reason`` states. Pairs that were not kept (or hold an out-of-range index) get -1.
        """
        self._check_fitted()
        anchor = np.asarray(anchors, dtype=np.int64).ravel()
        item = np.asarray(items, dtype=np.int64).ravel()
        if len(anchor) != len(item):
            raise ValueError(f"{len(anchor)} anchors for {len(item)} items")
        out = np.full(len(anchor), -1.0, dtype=np.float32)
        valid = (anchor >= 0) & (anchor < self.n_items) & (item >= 0) & (item < self.n_items)
        # kept pairs are stored sorted by (anchor, item), so their keys are sorted ascending; lookup gives
        # position + 1 of a found key, 0 for a missing one
        positions = np.arange(1, len(self._indices) + 1, dtype=np.int64)
        found = lookup(entry_keys(self.matrix), positions, anchor[valid] * self.n_items + item[valid]) - 1
        hit = np.flatnonzero(valid)[found >= 0]
        n_ab = self._n_ab[found[found >= 0]].astype(np.float64)
        out[hit] = n_ab / np.maximum(self._n_a[anchor[hit]], 1)
        return out

    def reason(self, anchor: int, item: int, anchor_label: str) -> str:
        """A short human reason, e.g. "bought by 23% of Tent buyers within 14 days"."""
        n_ab, n_a = self.pair_stats(anchor, item)
        pct = 100.0 * n_ab / n_a
        share = f"{pct:.0f}%" if pct >= 1 else "<1%"
        return f"bought by {share} of {anchor_label} buyers within {self.config.window_days} days"

    # state ---------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {
            "indptr": self._indptr,
            "indices": self._indices,
            "score": self._score,
            "n_ab": self._n_ab,
            "n_a": self._n_a,
            "category": self._category,
            "followed": self._followed,
            "backward": self._backward,
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        try:
            indptr = arrays["indptr"].astype(np.int64)
            indices = arrays["indices"].astype(np.int32)
            score = arrays["score"].astype(np.float32)
            n_ab = arrays["n_ab"].astype(np.int32)
            n_a = arrays["n_a"].astype(np.int32)
            category = arrays["category"].astype(np.int32)
            self._followed = arrays["followed"].astype(np.float32)
            self._backward = np.sort(arrays["backward"].astype(np.int64))
        except KeyError as exc:
            raise ModelFileError(f"complements model file lacks array {exc}") from exc
        check_csr(self.name, "pairs", arrays["indptr"], arrays["indices"], (self.n_items, self.n_items))
        nnz = len(indices)
        if len(indptr) != self.n_items + 1 or indptr[-1] != nnz or len(score) != nnz or len(n_ab) != nnz:
            raise ModelFileError("complements model arrays are inconsistent with each other")
        if len(n_a) != self.n_items or len(category) != self.n_items or len(self._followed) != self.n_items:
            raise ModelFileError("complements model per-item arrays do not match the item count")
        self._indptr, self._indices, self._score, self._n_ab, self._n_a, self._category = (
            indptr,
            indices,
            score,
            n_ab,
            n_a,
            category,
        )
