"""The next purchase model: fit, recommend, reasons, save and load, composing the pieces of this package.

The formula is in the package docstring. The state is plain arrays: the repeat statistics
(``RepeatStats``), the neighbour lists (computed lazily, see ``_ensure_neighbours``), the transition lists
and new-item odds factors when enabled, and the nested parts ``state`` names.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.base import ModelConfig, QueryKind, Ranked, Recommender
from recommender.errors import EmptyHistoryError, RecommenderError
from recommender.history import OrderHistory
from recommender.models.collaborative import CollaborativeModel
from recommender.models.next_purchase.candidates import gather_rows, top_candidates
from recommender.models.next_purchase.config import NextPurchaseConfig
from recommender.models.next_purchase.explore import explore_scores
from recommender.models.next_purchase.features import candidate_features
from recommender.models.next_purchase.neighbours import NEIGHBOUR_FIELDS, add_neighbour_lists, neighbour_scores
from recommender.models.next_purchase.ranker import (
    HistoryStats,
    below_reordered,
    booster_to_array,
    reorder,
    train_booster,
)
from recommender.models.next_purchase.repeats import RepeatStats, new_item_odds
from recommender.models.next_purchase.state import (
    EXPLORE_PREFIX,
    OWNERSHIP_PREFIX,
    RANKER_PREFIX,
    check_shapes,
    load_customer_lists,
    load_explore,
    load_ownership,
    load_ranker,
    own_arrays,
)
from recommender.models.next_purchase.transitions import add_transitions, transition_lists
from recommender.substitutes import CategoryOwnership
from recommender.wording import describe_interval

if TYPE_CHECKING:
    import lightgbm


class UnknownCustomerError(RecommenderError, LookupError):
    """A customer index outside the fitted model."""


class NextPurchaseModel(Recommender):
    """What each customer buys next: due repeat items blended with collaborative explore items."""

    name: ClassVar[str] = "next_purchase"
    query_kind: ClassVar[QueryKind] = "customer"
    config_class: ClassVar[type[ModelConfig]] = NextPurchaseConfig
    config: NextPurchaseConfig

    def __init__(
        self, config: NextPurchaseConfig | None = None, collaborative: CollaborativeModel | None = None
    ) -> None:
        super().__init__(config)
        if collaborative is not None:
            if not isinstance(collaborative, CollaborativeModel):
                raise TypeError(f"collaborative must be a CollaborativeModel, got {type(collaborative).__name__}")
            self.config = self.config.model_copy(update={"collaborative": collaborative.config})
        self._explore = collaborative
        self._refit_explore = collaborative is None or not collaborative.is_fitted
        self._end_time = 0
        # per (customer, item) the customer bought, and per item
        self._repeats = RepeatStats.empty()
        # per customer: the neighbours' mean vector, best ``neighbour_items`` items (CSR arrays)
        self._nb_indptr = np.zeros(1, dtype=np.int64)
        self._nb_items = np.zeros(0, dtype=np.int32)
        self._nb_scores = np.zeros(0, dtype=np.float32)
        self._nb_done = np.zeros(0, dtype=bool)  # customers whose neighbour list is computed
        self._nb_lock = threading.Lock()
        self._pattern: sp.csr_matrix | None = None  # bought pattern, built from the arrays on first use
        # per customer (only when enabled): transition lists (CSR arrays), new-item odds factor
        self._tr_indptr = np.zeros(1, dtype=np.int64)
        self._tr_items = np.zeros(0, dtype=np.int32)
        self._tr_scores = np.zeros(0, dtype=np.float32)
        self._explore_factor = np.zeros(0, dtype=np.float32)
        self._ownership: CategoryOwnership | None = None
        # the learned re-ordering (``config.ranker.rounds > 0``; None also when the history had nothing to
        # learn it from) and the history statistics its features need
        self._booster: lightgbm.Booster | None = None
        self._stats: HistoryStats | None = None

    @property
    def collaborative(self) -> CollaborativeModel | None:
        """The nested explore model (None when ``explore_weight`` is 0)."""
        return self._explore if self.config.explore_weight > 0 else None

    @property
    def category_repeat_rate(self) -> np.ndarray | None:
        """Per catalog category index, the share of its buyers who buy from it again (float32), or None
        when the model keeps no category ownership data (no catalog categories used, or damping off)."""
        return None if self._ownership is None else self._ownership.repeat_rate

    @property
    def _shape(self) -> tuple[int, int]:
        return self.n_customers, self.n_items

    # fitting -------------------------------------------------------------------------------------------
    def _fit(self, history: OrderHistory) -> None:
        if history.n_lines == 0:
            raise EmptyHistoryError("the order history has no lines: nothing to learn what customers buy next")
        self._end_time = history.end_time
        self._repeats = RepeatStats.fit(history, self.config)
        self._pattern = None
        self._fit_neighbours()
        if self.config.explore_weight > 0:
            self._fit_explore(history)
        explores = self.config.explore_weight > 0 or self.config.neighbours > 0
        self._ownership = CategoryOwnership.fit(history) if explores and self.config.damp_owned_categories else None
        cfg = self.config
        if cfg.transition_weight > 0:
            lists = transition_lists(history, cfg.transition_shrinkage, cfg.neighbour_items)
            self._tr_indptr = lists.indptr.astype(np.int64)
            self._tr_items = lists.indices.astype(np.int32)
            self._tr_scores = lists.data.astype(np.float32)
        if cfg.explore_by_customer > 0:
            odds = new_item_odds(history, cfg.explore_by_customer_prior)
            self._explore_factor = (odds**cfg.explore_by_customer).astype(np.float32)
        self._booster, self._stats = None, None
        if cfg.ranker.rounds > 0:
            self._stats = HistoryStats.of(history)
            self._booster = self._fit_ranker(history)

    def _fit_ranker(self, history: OrderHistory) -> lightgbm.Booster | None:
        """Hold out each customer's last order, fit this model without the ranker on the rest, and learn
        which of its top candidates the held-out orders hold (None: no customer has two orders, or no
        held-out order holds a candidate: the formula's order stays)."""
        from recommender.evaluation.splits import NothingToEvaluateError, sample_customers, split_last_order

        cfg = self.config
        try:
            split = sample_customers(split_last_order(history), cfg.ranker.max_customers, seed=cfg.ranker.seed)
        except NothingToEvaluateError:
            return None
        plain = cfg.model_copy(update={"ranker": cfg.ranker.model_copy(update={"rounds": 0})})
        inner = NextPurchaseModel(plain).fit(split.train)
        inner._stats = HistoryStats.of(split.train)
        candidates = inner._formula_recommend(split.customers, cfg.ranker.candidates, split.at)
        rows, items, features = inner._candidate_features(split.customers, candidates, split.at)
        labels = np.asarray(split.targets[rows, items]).ravel() > 0
        if not labels.any() or labels.all():
            return None
        return train_booster(features, labels, cfg.ranker)

    def _fit_neighbours(self) -> None:
        """Start with no neighbour lists: ``_ensure_neighbours`` computes them for the customers asked for
        (an evaluation asks for some customers only) and for everyone before saving."""
        self._nb_indptr = np.zeros(self.n_customers + 1, dtype=np.int64)
        self._nb_items = np.zeros(0, dtype=np.int32)
        self._nb_scores = np.zeros(0, dtype=np.float32)
        self._nb_done = np.full(self.n_customers, self.config.neighbours == 0)

    def reuse_neighbours(self, other: NextPurchaseModel) -> bool:
        """Take the neighbour lists ``other`` computed so far, when they are this model's too: the same personal
        vectors (same history, same ``NEIGHBOUR_FIELDS``) give the same neighbours. Returns whether it did.

        ``recs train``'s tuning fits several configs on one history; those that differ only in how the
        signals are weighed search the neighbours once."""
        self._check_fitted()
        mine, theirs = self.config, other.config
        same = (
            other.is_fitted
            and all(getattr(mine, f) == getattr(theirs, f) for f in NEIGHBOUR_FIELDS)
            and (self.n_customers, self.n_items) == (other.n_customers, other.n_items)
            and np.array_equal(self._repeats.indptr, other._repeats.indptr)
            and np.array_equal(self._repeats.items, other._repeats.items)
            and np.array_equal(self._repeats.weight, other._repeats.weight)
        )
        if same:
            with other._nb_lock:
                self._nb_indptr, self._nb_items, self._nb_scores = other._nb_indptr, other._nb_items, other._nb_scores
                self._nb_done = other._nb_done.copy()
        return same

    def complete(self) -> None:
        """Compute every customer's neighbour list now (saving does it anyway; a fit that is about to be saved
        can do it in its own thread)."""
        self._check_fitted()
        self._ensure_neighbours(np.arange(self.n_customers))

    def _ensure_neighbours(self, customers: np.ndarray) -> None:
        """The neighbour list of every given customer that has none yet (``add_neighbour_lists``)."""
        with self._nb_lock:
            missing = np.unique(customers[~self._nb_done[customers]])
            if len(missing) == 0:
                return
            if 2 * len(missing) > self.n_customers:  # most of them: everyone left, one pass
                missing = np.flatnonzero(~self._nb_done)
            known = (self._nb_indptr, self._nb_items, self._nb_scores)
            merged = add_neighbour_lists(self._repeats, known, missing, self.config, self._shape)
            self._nb_indptr = merged.indptr.astype(np.int64, copy=False)
            self._nb_items = merged.indices.astype(np.int32, copy=False)
            self._nb_scores = merged.data.astype(np.float32, copy=False)
            self._nb_done[missing] = True

    def _fit_explore(self, history: OrderHistory) -> None:
        if self._explore is None or self._refit_explore:
            self._explore = CollaborativeModel(self.config.collaborative).fit(history)
            self._refit_explore = True
            return
        if (self._explore.n_customers, self._explore.n_items) != (history.n_customers, history.n_items):
            raise ValueError(
                f"the given collaborative model was fitted on {self._explore.n_customers} customers x "
                f"{self._explore.n_items} items, the history has {history.n_customers} x {history.n_items}"
            )

    # recommending --------------------------------------------------------------------------------------
    def _recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        if self._booster is None:
            return self._formula_recommend(queries, k, now)
        # the ranker re-orders the formula's top ``candidates`` (what it learned on); a longer list goes on with
        # the formula's order below them, so any k gives the first k of a longer list (publish asks for 100)
        n = self.config.ranker.candidates
        formula = self._formula_recommend(queries, max(k, n), now)
        top = Ranked(formula.items[:, :n], formula.scores[:, :n])
        rows, items, features = self._candidate_features(queries, top, now)
        odds = self._booster.predict(features) if len(rows) else np.zeros(0)
        head_items, head_scores = reorder(rows, items, np.asarray(odds, dtype=np.float64), len(queries), min(k, n))
        if k <= n:
            return Ranked(head_items, head_scores)
        return Ranked(*below_reordered(head_items, head_scores, formula, n, k))

    def _when(self, queries: np.ndarray, now: int | np.ndarray | None) -> np.ndarray:
        """The moment asked for, per query (the end of the fitted history when None)."""
        return np.broadcast_to(np.asarray(self._end_time if now is None else now, dtype=np.int64), queries.shape)

    def _candidate_features(
        self, queries: np.ndarray, candidates: Ranked, now: int | np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, item, features) of every candidate (rows index ``queries``; columns as ``ranker.FEATURES``)."""
        if self._stats is None:
            raise RecommenderError("the ranker's history statistics are missing")
        lists = (self._nb_indptr, self._nb_items, self._nb_scores), (self._tr_indptr, self._tr_items, self._tr_scores)
        when = self._when(queries, now)
        return candidate_features(
            queries, candidates, when, self._repeats, lists, self._explore_factor, self._stats, self._shape
        )

    def _formula_recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        """Top-k by the hand-set formula of the package docstring (before any learned re-ordering)."""
        self._ensure_neighbours(queries)
        cfg, repeats = self.config, self._repeats
        when = self._when(queries, now)
        which, entry = gather_rows(repeats.indptr, queries)
        repeat = repeats.scores(entry, when[which], cfg)
        nb_lists = (self._nb_indptr, self._nb_items, self._nb_scores)
        own_items = repeats.items[entry]
        nb_rows, nb_items, nb_own, nb_explore = neighbour_scores(
            cfg, nb_lists, queries, which, own_items, self.n_items, self._ownership
        )
        if cfg.neighbours > 0:
            alpha = cfg.own_weight
            repeat *= alpha * repeats.weight[entry] + (1.0 - alpha) * nb_own
        keep = repeat > 0
        rows, items, scores = which[keep], repeats.items[entry[keep]], repeat[keep]
        rows = np.concatenate([rows, nb_rows])
        items = np.concatenate([items, nb_items])
        scores = np.concatenate([scores, nb_explore])
        tr_lists = (self._tr_indptr, self._tr_items, self._tr_scores)
        candidates = (rows, items, scores)
        n_bought = int(keep.sum())
        rows, items, scores = add_transitions(
            cfg, queries, candidates, n_bought, tr_lists, self._explore_factor, self._bought
        )
        explore = self.collaborative
        if explore is not None:
            top_repeat = np.ones(len(queries), dtype=np.float64)  # customers without repeat items: 1
            best = np.zeros(len(queries), dtype=np.float64)
            np.maximum.at(best, rows, scores)
            top_repeat[best > 0] = best[best > 0]
            e_rows, e_items, e_scores = explore_scores(
                cfg, explore, queries, k, top_repeat, repeats.indptr, self.n_items, self._bought, self._ownership
            )
            rows = np.concatenate([rows, e_rows])
            items = np.concatenate([items, e_items])
            scores = np.concatenate([scores, e_scores])
        return top_candidates(rows, items, scores, len(queries), self.n_items, k)

    def _bought(self, customers: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each (customer, item) pair is in the fitted history."""
        if self._pattern is None:
            self._pattern = sp.csr_matrix(
                (np.ones(len(self._repeats.items), dtype=np.int8), self._repeats.items, self._repeats.indptr),
                shape=self._shape,
            )
            self._pattern.has_sorted_indices = True  # items are sorted within each customer's row
        return np.asarray(self._pattern[customers, items]).ravel() > 0

    # reasons -------------------------------------------------------------------------------------------
    def intervals(self, customers: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Repeat interval in days of every (customer, item) pair, vectorized (float32).

        The customer's own mean interval when they bought the item in two or more orders (what "you buy
        this about every 2 weeks" may claim); 0 for an item they bought once (no rhythm of their own to
        state); -1 for an item the customer never bought (an explore item) and for out-of-range indices.
        """
        self._check_fitted()
        customer = np.asarray(customers, dtype=np.int64).ravel()
        item = np.asarray(items, dtype=np.int64).ravel()
        if len(customer) != len(item):
            raise ValueError(f"{len(customer)} customers for {len(item)} items")
        out = np.full(len(customer), -1.0, dtype=np.float32)
        valid = (customer >= 0) & (customer < self.n_customers) & (item >= 0) & (item < self.n_items)
        entry = self._repeats.entries(customer[valid], item[valid], self._shape)
        hit = entry >= 0
        found = entry[hit]
        own = self._repeats.count[found] >= 2
        out[np.flatnonzero(valid)[hit]] = np.where(own, self._repeats.own_interval[found], 0.0)
        return out

    def reason(self, customer: int, item: int) -> str:
        """ "you buy this about every 2 weeks" for a repeat item, "customers like you buy this" otherwise."""
        self._check_fitted()
        if not (0 <= customer < self.n_customers and 0 <= item < self.n_items):
            raise UnknownCustomerError(f"customer {customer} or item {item} is outside the fitted model")
        repeats = self._repeats
        lo, hi = int(repeats.indptr[customer]), int(repeats.indptr[customer + 1])
        pos = lo + int(np.searchsorted(repeats.items[lo:hi], item))
        if pos >= hi or repeats.items[pos] != item:
            return "customers like you buy this"
        if repeats.count[pos] >= 2:
            return f"you buy this about every {describe_interval(float(repeats.own_interval[pos]))}"
        return f"time to buy it again: customers rebuy it about every {describe_interval(float(repeats.interval[pos]))}"

    # state ---------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        self._ensure_neighbours(np.arange(self.n_customers))
        state = {
            "end_time": np.array([self._end_time], dtype=np.int64),
            **self._repeats.state(),
            "nb_indptr": self._nb_indptr,
            "nb_items": self._nb_items,
            "nb_scores": self._nb_scores,
        }
        if self.config.transition_weight > 0:
            state.update({"tr_indptr": self._tr_indptr, "tr_items": self._tr_items, "tr_scores": self._tr_scores})
        if self.config.explore_by_customer > 0:
            state["explore_factor"] = self._explore_factor
        explore = self.collaborative
        if explore is not None:
            state.update({EXPLORE_PREFIX + key: value for key, value in explore._state().items()})
        if self._ownership is not None:
            state.update(self._ownership.state(OWNERSHIP_PREFIX))
        if self.config.ranker.rounds > 0 and self._stats is not None:
            state.update(self._stats.state(RANKER_PREFIX))
            empty = np.zeros(0, dtype=np.uint8)  # no booster: the history had nothing to learn from
            state[RANKER_PREFIX + "model"] = empty if self._booster is None else booster_to_array(self._booster)
        return state

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        own = own_arrays(self.name, arrays, self._shape)
        self._end_time = int(own["end_time"][0])
        self._repeats = RepeatStats.from_state(own)
        self._nb_indptr = own["nb_indptr"].astype(np.int64, copy=False)
        self._nb_items = own["nb_items"].astype(np.int32, copy=False)
        self._nb_scores = own["nb_scores"].astype(np.float32, copy=False)
        self._nb_done = np.ones(self.n_customers, dtype=bool)
        transitions, factor = load_customer_lists(self.name, own, self.config, self._shape)
        if transitions is not None:
            self._tr_indptr, self._tr_items, self._tr_scores = transitions
        if factor is not None:
            self._explore_factor = factor
        check_shapes(self.name, self._repeats, (self._nb_indptr, self._nb_items, self._nb_scores), self._shape)
        self._pattern = None
        self._explore = load_explore(self.name, arrays, self.config, self._shape)
        self._refit_explore = True
        self._ownership = load_ownership(self.name, arrays, self._shape)
        self._booster, self._stats = load_ranker(self.name, arrays, self.config, self._shape)
