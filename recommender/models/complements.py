"""Complements: what sells within days after a purchase ("bought a tent: offer the sleeping bag").

Every purchase of an item A whose window ``(t, t + window_days]`` lies inside the fitted history is an
*anchor event*; what its customer bought in that window (other than A, each item once) are its
follow-ups. Anchor events weigh ``0.5 ** (age / half_life_days)``, ``age`` counted back from the last
anchor event, so the shop's recent weeks count most. Per anchor A and candidate B:

- ``w_AB``: the weighted number of A's anchor events followed by B; ``w_A``: A's weighted anchor events;
- ``base_B``: the weighted share of all anchor events followed by B (B's popularity in a follow-up window);
- ``n_AB`` / ``n_A``: the same counts without weights, for the reason ("bought by 23% of Tent buyers
  within 14 days").

The score is the chance that an offer of B after a purchase of A is bought within the window, shrunk
towards B's base rate, with an optional lift::

    score(A -> B) = (w_AB + shrinkage * base_B) / (w_A + shrinkage) * base_B ** -popularity_exponent

With ``popularity_exponent`` 0 (the default) the list is what A's buyers most often buy next, which is
what maximises the hit rate on real shops (raw Ta-Feng and the Complete Journey; the lift that older
versions used lost a third of the hits there); 1 ranks by the full lift (items everybody buys drop).
``recs train`` picks the shrinkage and the exponent per shop on a validation window
(``training.self_tune``). A well-observed anchor ranks by its own evidence; an anchor with few anchor
events, or none, by ``base_B``: every list also considers the ``prior_items`` items most often bought after
any purchase, so no list is short while the shop sells anything (``pad_with_popular``).

Rules on top of the score:

- direction: a pair seen mostly the other way round (``(n_AB + 1) / (n_AB + n_BA + 2) < min_direction``)
  is dropped at any support: a sleeping bag never offers the tent it usually follows;
- substitutes (with a catalog): with ``exclude_same_category = "one_off"`` (the default) a candidate of
  the anchor's own category is dropped when that category is a one-off kind (its buyers rarely buy from
  it again: ``recommender.substitutes``, repeat rate below ``MIN_REPEAT_RATE``): no second tent, while a
  grocery's next yoghurt stays; ``"always"`` drops every same-category candidate, ``"never"`` none;
- a pair seen fewer than ``min_support`` times claims no share in its reason (``shares`` gives -1: "often
  bought after a purchase"), and without ``pad_with_popular`` it is not offered at all.

Each anchor keeps its best ``neighbours`` candidates with ``n_AB`` and ``n_A``. The counting and scoring
run in compiled kernels (``complements_kernels``) over blocks of anchor items, each block a pure function
(``complements_blocks``) run by the fit's ``PairLists`` (``pair_blocks``: two threads, or Spark tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recommender.base import ModelConfig, QueryKind, Ranked, Recommender
from recommender.distinct import customer_time_key, distinct_events
from recommender.errors import ModelFileError, RecommenderError
from recommender.history import DAY, OrderHistory
from recommender.model_files import check_csr
from recommender.models import complements_blocks as blocks
from recommender.models import complements_kernels as kernels
from recommender.models.pair_blocks import map_pair_blocks
from recommender.numeric import pair_keys
from recommender.numeric.row_blocks import row_blocks
from recommender.numeric.topk import topk_sparse
from recommender.substitutes import MIN_REPEAT_RATE, CategoryOwnership

ROWS_PER_BLOCK = 2048  # anchor items per kernel call (two calls in flight)
DIRECTION_ROOM = 2  # each row first keeps this many times ``neighbours`` candidates, then drops wrong directions


class UnknownPairError(RecommenderError, LookupError):
    """The (anchor, item) pair is not among the kept complements of the anchor."""


class ComplementsConfig(ModelConfig):
    """Hyperparameters of the complements model (see the module docstring for the formula)."""

    window_days: int = Field(default=14, ge=1)
    half_life_days: float = Field(default=60.0, gt=0)
    shrinkage: float = Field(default=50.0, ge=0)
    category_shrinkage: float = Field(default=20.0, ge=0)
    popularity_exponent: float = Field(default=0.0, ge=0, le=1)
    min_support: int = Field(default=2, ge=1)
    min_direction: float = Field(default=0.2, ge=0, le=1)
    neighbours: int = Field(default=50, ge=1)
    prior_items: int = Field(default=100, ge=0)
    pad_with_popular: bool = True
    exclude_same_category: Literal["one_off", "always", "never"] = "one_off"


class AnchorEvents:
    """Distinct purchase events sorted by (customer, time) with the window after each, and the anchor events
    (those whose window lies inside the history) grouped by item, with their recency weights."""

    def __init__(self, history: OrderHistory, window_days: int, half_life_days: float) -> None:
        customer, item, at = distinct_events(history)
        window = int(window_days) * DAY
        span = max(history.end_time - history.start_time, 0) + window
        key = customer_time_key(customer, at, history.start_time, span)
        self.n_items = history.n_items
        self.item = item.astype(np.int32)
        self.lo = np.searchsorted(key, key, side="right")  # the customer's first strictly later event
        self.hi = np.searchsorted(key, key + window, side="right")  # past the window's end
        anchors = np.flatnonzero(at + window <= history.end_time)
        self.event = anchors[np.argsort(self.item[anchors], kind="stable")].astype(np.int64)  # by anchor item
        self.count = np.bincount(self.item[self.event], minlength=self.n_items).astype(np.int32)
        self.indptr = np.concatenate([[0], np.cumsum(self.count)]).astype(np.int64)
        latest = int(at[anchors].max()) if len(anchors) else 0
        # an anchor event followed by nothing in its window scores nothing (the hit rate it is judged by counts
        # purchases followed by something); it still counts in ``count``, the reason's denominator
        followed = kernels.followed_by_other(self.item, self.lo, self.hi, self.event)
        weight = np.where(followed, np.power(0.5, (latest - at[self.event]) / DAY / half_life_days), 0.0)
        # scaled to a mean of 1 per followed event: the shrinkage is then in events, whatever the history's span
        self.weight = weight / weight[followed].mean() if followed.any() else weight

    def item_weight(self) -> np.ndarray:
        """Weighted anchor events per item."""
        return np.bincount(self.item[self.event], weights=self.weight, minlength=self.n_items)

    def base_rate(self) -> np.ndarray:
        """Per item: the weighted share of all anchor events followed by it (each event counts it once)."""
        total = float(self.weight.sum())
        if total <= 0:
            return np.zeros(self.n_items)
        return kernels.followed_weight(self.item, self.lo, self.hi, self.event, self.weight, self.n_items) / total

    def top_lists(self, width: int, rule: ScoreRule) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every anchor item's best ``width`` candidates: (anchor, candidate, score float32, n_AB int32) flat
        arrays, best first within each anchor, anchors ascending."""
        group_indptr, group_items = rule.groups()
        inputs = blocks.TopInputs(self, self.item_weight(), rule, group_indptr, group_items, width)
        rows = map_pair_blocks(blocks.followup_block, inputs, group_blocks(group_indptr, ROWS_PER_BLOCK), "complements")
        return blocks.stack_top_lists(rows, self.n_items)

    def reverse_counts(self, anchor: np.ndarray, candidate: np.ndarray) -> np.ndarray:
        """For each (anchor, candidate) pair (distinct pairs): how many of the candidate's anchor events were
        followed by the anchor, i.e. the pair seen the other way round."""
        order = np.argsort(candidate, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(candidate, minlength=self.n_items))]).astype(np.int64)
        target = anchor[order].astype(np.int64)
        inputs = blocks.ReverseInputs(self, indptr, target)
        parts = map_pair_blocks(
            blocks.reverse_block, inputs, row_blocks(self.n_items, ROWS_PER_BLOCK), "complements-reverse"
        )
        out = np.concatenate([np.zeros(0, dtype=np.int64), *parts])
        reverse = np.empty(len(order), dtype=np.int64)
        reverse[order] = out
        return reverse


@dataclass(frozen=True)
class ScoreRule:
    """What ``followup_top`` needs to score and filter candidates (see the module docstring)."""

    base: np.ndarray  # float64 per item
    prior: np.ndarray  # int64 items every list may take
    category: np.ndarray  # int32 per item, -1 unknown
    n_categories: int
    blocked_category: np.ndarray  # bool per category: no candidate of the anchor's own category
    shrinkage: float
    category_shrinkage: float
    exponent: float
    min_support: int
    with_prior: bool

    def groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Items grouped by category (``indptr``, ``items``); the items without one follow, in groups of at
        most ``ROWS_PER_BLOCK`` (they share no prior, so any split gives the same lists)."""
        known = self.category >= 0
        uncategorized = np.flatnonzero(~known)
        group = np.where(known, self.category, self.n_categories).astype(np.int64)
        group[uncategorized] += np.arange(len(uncategorized)) // ROWS_PER_BLOCK
        n_groups = self.n_categories + -(-len(uncategorized) // ROWS_PER_BLOCK)
        items = np.argsort(group, kind="stable").astype(np.int64)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=n_groups))]).astype(np.int64)
        return indptr, items


def group_blocks(indptr: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """Consecutive ``(lo, hi)`` group ranges of about ``rows`` items each (a group is never split)."""
    n_groups = len(indptr) - 1
    cuts = np.unique(np.searchsorted(indptr[1:], np.arange(rows, int(indptr[-1]), rows), side="left") + 1)
    bounds = [0, *(int(c) for c in cuts if 0 < c < n_groups), n_groups]
    return [(lo, hi) for lo, hi in pairwise(bounds) if hi > lo]


def blocked_categories(history: OrderHistory, mode: str) -> np.ndarray:
    """Per category: drop candidates of an anchor's own category? (``ComplementsConfig.exclude_same_category``)"""
    n_categories = len(history.catalog.categories) if history.catalog.has_categories else 0
    if mode == "never" or n_categories == 0:
        return np.zeros(max(n_categories, 1), dtype=bool)
    if mode == "always":
        return np.ones(n_categories, dtype=bool)
    return CategoryOwnership.fit(history).repeat_rate < MIN_REPEAT_RATE


def rank_within(rows: np.ndarray) -> np.ndarray:
    """Position of every entry among the entries of its row, for entries grouped by row in order."""
    first = np.searchsorted(rows, rows, side="left")
    return np.arange(len(rows)) - first


class ComplementsModel(Recommender):
    """Item-to-item complements; ``recommend(anchor_items, k)`` gives what to offer after each anchor."""

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
        self._blocked = np.zeros(1, dtype=bool)  # per category: same-category candidates dropped

    # fitting -------------------------------------------------------------------------------------------
    def _fit(self, history: OrderHistory) -> None:
        cfg = self.config
        n = history.n_items
        events = AnchorEvents(history, cfg.window_days, cfg.half_life_days)
        base = events.base_rate()
        followed = np.flatnonzero(base > 0)
        prior = followed[np.argsort(-base[followed], kind="stable")][: cfg.prior_items].astype(np.int64)
        self._category = (
            history.catalog.category.astype(np.int32) if history.catalog.has_categories else np.full(n, -1, np.int32)
        )
        self._blocked = blocked_categories(history, cfg.exclude_same_category)
        rule = ScoreRule(
            base=base,
            prior=prior,
            category=self._category,
            n_categories=len(history.catalog.categories) if history.catalog.has_categories else 0,
            blocked_category=self._blocked,
            shrinkage=cfg.shrinkage,
            category_shrinkage=cfg.category_shrinkage,
            exponent=cfg.popularity_exponent,
            min_support=cfg.min_support,
            with_prior=cfg.pad_with_popular,
        )
        anchor, cand, score, n_ab = events.top_lists(DIRECTION_ROOM * cfg.neighbours, rule)
        n_ba = events.reverse_counts(anchor, cand)
        forward = (n_ab + 1.0) / (n_ab + n_ba + 2.0) >= cfg.min_direction
        anchor, cand, score, n_ab = anchor[forward], cand[forward], score[forward], n_ab[forward]
        top = rank_within(anchor) < cfg.neighbours
        anchor, cand, score, n_ab = anchor[top], cand[top], score[top], n_ab[top]
        order = np.lexsort((cand, anchor))  # stored by (anchor, item): lookups by sorted keys
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(anchor, minlength=n))]).astype(np.int64)
        self._indices = cand[order].astype(np.int32)
        self._score = score[order]
        self._n_ab = n_ab[order]
        self._n_a = events.count

    # the matrix ----------------------------------------------------------------------------------------
    @property
    def matrix(self) -> sp.csr_matrix:
        """Items x items scores of the kept pairs (anchor rows, candidate columns)."""
        return sp.csr_matrix((self._score, self._indices, self._indptr), shape=(self.n_items, self.n_items))

    def _recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        return topk_sparse(self.matrix, k, rows=queries)

    def for_basket(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Complements of a set of items: scores summed over the anchors, best first.

        The anchors themselves are excluded, and so are their categories where same-category candidates
        are dropped (see ``exclude_same_category``). Unknown (out-of-range) item indices are ignored.
        Returns ``(items int32, scores float32)`` of at most ``k`` entries.
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
        cats = self._category[basket]
        cats = cats[cats >= 0]
        cats = cats[self._blocked[cats]]
        excluded |= np.isin(self._category, cats) & (self._category >= 0)
        candidates = np.flatnonzero((summed > 0) & ~excluded)
        best = candidates[np.lexsort((candidates, -summed[candidates]))][:k]
        return best.astype(np.int32), summed[best].astype(np.float32)

    # reasons -------------------------------------------------------------------------------------------
    def _positions(self, anchor: np.ndarray, item: np.ndarray) -> np.ndarray:
        """Position of every (anchor, item) pair among the kept pairs, -1 where it is not kept (or out of range)."""
        out = np.full(len(anchor), -1, dtype=np.int64)
        valid = (anchor >= 0) & (anchor < self.n_items) & (item >= 0) & (item < self.n_items)
        if not len(self._indices) or not valid.any():
            return out
        rows = np.repeat(np.arange(self.n_items, dtype=np.int64), np.diff(self._indptr))
        keys = pair_keys.pack(rows, self._indices, self.n_items)  # sorted: pairs are stored by (anchor, item)
        out[valid] = pair_keys.positions(keys, pair_keys.pack(anchor[valid], item[valid], self.n_items))
        return out

    def shares(self, anchors: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``n_AB / n_A`` of every (anchor, item) pair, vectorized (float32, in (0, 1]): the share of the
        anchor's purchases followed by the item within the window, the number ``reason`` states. Pairs that
        are not kept, or kept with fewer than ``min_support`` observations (offered for their base rate),
        get -1."""
        self._check_fitted()
        anchor = np.asarray(anchors, dtype=np.int64).ravel()
        item = np.asarray(items, dtype=np.int64).ravel()
        if len(anchor) != len(item):
            raise ValueError(f"{len(anchor)} anchors for {len(item)} items")
        out = np.full(len(anchor), -1.0, dtype=np.float32)
        pos = self._positions(anchor, item)
        found = np.flatnonzero(pos >= 0)
        n_ab = self._n_ab[pos[found]]
        evidence = n_ab >= self.config.min_support
        hit = found[evidence]
        out[hit] = n_ab[evidence] / np.maximum(self._n_a[anchor[hit]], 1)
        return out

    def pair_stats(self, anchor: int, item: int) -> tuple[int, int]:
        """``(n_AB, n_A)`` of a kept pair with evidence: purchases of ``anchor`` followed by ``item`` within the
        window, and purchases of ``anchor``. ``UnknownPairError`` for any other pair."""
        self._check_fitted()
        pos = int(self._positions(np.array([anchor], dtype=np.int64), np.array([item], dtype=np.int64))[0])
        if pos < 0 or self._n_ab[pos] < self.config.min_support:
            raise UnknownPairError(f"item {item} is not a complement of anchor {anchor} with evidence")
        return int(self._n_ab[pos]), int(self._n_a[anchor])

    def reason(self, anchor: int, item: int, anchor_label: str) -> str:
        """A short human reason, e.g. "bought by 23% of Tent buyers within 14 days"."""
        from recommender.request_time.reasons import complement_text

        n_ab, n_a = self.pair_stats(anchor, item)
        return complement_text(n_ab / n_a, anchor_label, self.config.window_days)

    # state ---------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {
            "indptr": self._indptr,
            "indices": self._indices,
            "score": self._score,
            "n_ab": self._n_ab,
            "n_a": self._n_a,
            "category": self._category,
            "blocked_category": self._blocked.astype(bool),
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        try:
            indptr = arrays["indptr"].astype(np.int64)
            indices = arrays["indices"].astype(np.int32)
            score = arrays["score"].astype(np.float32)
            n_ab = arrays["n_ab"].astype(np.int32)
            n_a = arrays["n_a"].astype(np.int32)
            category = arrays["category"].astype(np.int32)
            blocked = arrays["blocked_category"].astype(bool)
        except KeyError as exc:
            raise ModelFileError(f"complements model file lacks array {exc}") from exc
        check_csr(self.name, "pairs", arrays["indptr"], arrays["indices"], (self.n_items, self.n_items))
        nnz = len(indices)
        if len(indptr) != self.n_items + 1 or indptr[-1] != nnz or len(score) != nnz or len(n_ab) != nnz:
            raise ModelFileError("complements model arrays are inconsistent with each other")
        if len(n_a) != self.n_items or len(category) != self.n_items:
            raise ModelFileError("complements model per-item arrays do not match the item count")
        if len(blocked) == 0 or int(category.max(initial=-1)) >= len(blocked):
            raise ModelFileError("complements model blocked_category does not cover every category")
        self._indptr, self._indices, self._score, self._n_ab, self._n_a = indptr, indices, score, n_ab, n_a
        self._category, self._blocked = category, blocked
