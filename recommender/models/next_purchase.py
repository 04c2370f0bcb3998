"""Next purchase: what a customer buys next, repeat items when they are due, plus new items to explore.

Per (customer, item) the customer bought before, from the fitted history:

- ``count``: distinct orders holding the item;
- ``weight``: the TIFU-KNN personal vector (``recommender.models.tifu``): the customer's orders cut into
  ``groups`` groups, an order weighs ``recency_decay ** ago * group_decay ** (groups - 1 - g) / size(g) /
  n_groups``, ``ago`` counted in the customer's orders (0 = their last order) or in days (``recency_unit``);
  the weight is the sum over the orders holding the item;
- ``interval`` (days): the customer's own mean repurchase interval, shrunk towards the item's
  population interval (median over repeat customers of their mean interval):
  ``(w * own + s * population) / (w + s)`` with ``w = count - 1`` and ``s = interval_shrinkage``;
  a customer who bought it once gets the population interval;
- per item, ``propensity``: share of its buyers who bought it again, shrunk towards the global share ``G``,
  ``(repeaters + p * G) / (buyers + p)`` with ``p = propensity_shrinkage``. An item is a repeat
  candidate only when at least ``min_repeaters`` customers (default 1) did buy it again and its propensity
  is at least ``min_repeat_share``: a durable bought once (a tent) never comes back. With both at 0 every
  bought item is a candidate and the shrunk propensity alone weighs it (a sparse catalog such as Ta-Feng,
  where most items have too few buyers to have shown a repeat yet).

Neighbours (TIFU-KNN): the ``neighbours`` customers nearest to each customer by their personal vectors
(``similarity``: Euclidean distance as in the authors' code, or cosine; the customer itself included),
and ``nb``, the mean of their vectors, kept at fit time as each customer's best ``neighbour_items`` items.

At ``now``, with ``x = (now - last purchase) / interval``::

    due(x)   = exp(-ln(x)^2 / (2 * early_width^2))   for x <= 1  (just bought: near 0)
             = exp(-ln(x)^2 / (2 * late_width^2))    for x > 1   (overdue: fades slowly)
    d        = due_floor + (1 - due_floor) * due(x)
    bought, repeatable item:  (a * weight + (1 - a) * nb) * (propensity / G) ** propensity_power * d
    never bought item:        g * (1 - a) * nb * damping    (a = own_weight, g = neighbour_explore_scale)

``damping`` is the category ownership factor (``recommender.substitutes``): an owner of a one-off kind
(a tent) is not offered another one. With ``neighbours = 0`` the older formula holds: bought items score
``weight * propensity * d`` and new items come only from the explore part below.

Two optional terms (off by default). Transitions (``transition_weight`` ``w > 0``): what customers bought
in the order right after one holding the items of this customer's last order, ``sum over i in last of
n(i -> j) / (n(i) + transition_shrinkage)``, kept as the customer's best ``neighbour_items`` items scaled to 1
at the best, added as ``w * best * t`` (``best`` the customer's best score above, 1 when none). Explore by customer
(``explore_by_customer`` ``e > 0``): every item new to the customer is scaled by ``(o / O) ** e``, ``o`` the
odds that one of the customer's purchases after their first order is of an item new to them (shrunk
towards everyone's share with ``explore_by_customer_prior`` purchases), ``O`` everyone's odds: a customer
who keeps trying new things gets more of them.

Explore part (``explore_weight > 0``): items the customer never bought, ranked by a ``CollaborativeModel``
(implicit ALS), scaled per customer into the repeat range: ``explore_weight * top * s / s_top`` (``s`` the
ALS score clipped at 0, ``s_top`` the customer's best unbought ALS score, ``top`` the customer's best
score above, or 1 when there is none), added to the scores above. The final list is the top ``k``.

The defaults (own weight 0.1; due floor 0.8, so a just-bought repeat item drops below a due one) were
chosen across three shops together: on each customer's second-to-last order (validation: the last one
removed first), they have the best mean NDCG@10 relative to GP-TopFreq over Ta-Feng, the Complete Journey
and the generated shop (20,000 customers) among the candidates of ``training.self_tune``: 1.21x / 1.10x /
1.02x GP-TopFreq, against 1.13x / 1.07x / 1.03x for the previous defaults (own weight 0.3, due floor 0.3,
picked on the generated shop alone). ``recs train`` then picks per shop among a few candidates
(``training.self_tune``), and ``recs tune`` searches wider.

``neighbour_explore_scale`` (default 1, the TIFU-KNN formula) weighs the new items the neighbours bring
against the customer's own repeat items; on Ta-Feng's second-to-last baskets 1.5 did best (with own weight
0.1 and due floor 0.8: validation NDCG@10 .1093 against .1088 at 1). Dropping the repeater gate there
(``min_repeaters`` 0, ``min_repeat_share`` 0) raised it to .1104 (R@20 .1647 to .1700): Ta-Feng's catalog is
sparse, and an item few customers bought has had no chance to show a repeat yet. Adding transitions
(weight .05 / .1) and explore by customer (.5) on top raised it to .1112 / .1113 (R@20 .1713 / .1708).

``recs tune`` picks them per shop. ALS explore (``explore_weight``) did not help on either. Neighbours are
searched among the ``neighbour_pool`` most active customers, so fitting stays n x pool, not n x n,
and only when first needed: a customer's list is computed when a recommendation for them is asked for, and
every list before the model is saved (an evaluation pays for the customers it scores only).

Learned re-ordering (``ranker.rounds > 0``, off by default; ``recommender.models.ranker``): fit also holds
out each customer's last order, fits a copy of this model without it on the rest, and trains LightGBM on
whether the held-out orders hold each of its top ``ranker.candidates`` items, described by the signals above
(score, personal weight, due ratio, neighbour and transition scores, item popularity, customer activity).
Recommending re-orders the formula's top candidates by the learned odds, which become the scores.

The state is plain arrays: the per (customer, item) statistics and the neighbour lists as CSR arrays,
per-item arrays, and (with ``explore_weight > 0``) the nested collaborative model's arrays under keys
prefixed ``explore.``; the ranker's booster (LightGBM's text format as bytes) and statistics under ``ranker.``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recommender.base import ModelConfig, QueryKind, Ranked, Recommender
from recommender.errors import EmptyHistoryError, ModelFileError, RecommenderError
from recommender.history import DAY, OrderHistory
from recommender.model_files import check_csr, check_indices, require_arrays, require_length
from recommender.models.collaborative import CollaborativeConfig, CollaborativeModel
from recommender.models.ranker import (
    HistoryStats,
    RankerConfig,
    below_reordered,
    booster_from_array,
    booster_to_array,
    reorder,
    train_booster,
)
from recommender.models.tifu import Similarity, nearest_neighbours, neighbour_mean, order_positions, order_weights
from recommender.numeric import pair_keys
from recommender.numeric.row_blocks import row_blocks
from recommender.numeric.topk import topk_sparse
from recommender.substitutes import CategoryOwnership
from recommender.wording import describe_interval

if TYPE_CHECKING:
    import lightgbm

EXPLORE_PREFIX = "explore."
OWNERSHIP_PREFIX = "owned."
RANKER_PREFIX = "ranker."
_MIN_X = 1e-6  # elapsed / interval below this counts as "just bought"
TRANSITION_BLOCK = 2048  # customers per block of the transition product


# the fields that decide the neighbour lists (with the history): configs equal on these share them
NEIGHBOUR_FIELDS = (
    "recency_decay",
    "recency_unit",
    "groups",
    "group_decay",
    "neighbours",
    "similarity",
    "neighbour_items",
    "neighbour_pool",
)


class UnknownCustomerError(RecommenderError, LookupError):
    """A customer index outside the fitted model."""


class NextPurchaseConfig(ModelConfig):
    """Hyperparameters of the next purchase model (see the module docstring for the formula)."""

    recency_decay: float = Field(default=0.9, gt=0, le=1)
    recency_unit: Literal["orders", "days"] = "orders"
    propensity_shrinkage: float = Field(default=5.0, ge=0)
    min_repeat_share: float = Field(default=0.05, ge=0, le=1)
    min_repeaters: int = Field(default=1, ge=0)  # repeat candidates: items that this many customers rebought
    interval_shrinkage: float = Field(default=1.0, ge=0)
    min_interval_days: float = Field(default=1.0, gt=0)
    default_interval_days: float = Field(default=30.0, gt=0)
    due_floor: float = Field(default=0.8, ge=0, le=1)
    early_width: float = Field(default=0.5, gt=0)
    late_width: float = Field(default=1.0, gt=0)
    groups: int = Field(default=1, ge=1)
    group_decay: float = Field(default=1.0, gt=0, le=1)
    propensity_power: float = Field(default=0.5, ge=0)
    neighbours: int = Field(default=300, ge=0)
    own_weight: float = Field(default=0.1, ge=0, le=1)
    similarity: Similarity = "euclidean"
    neighbour_items: int = Field(default=100, ge=1)
    # neighbours are searched among this many most active customers: n x pool work instead of n x n
    neighbour_pool: int = Field(default=20_000, ge=1)
    explore_weight: float = Field(default=0.0, ge=0)
    neighbour_explore_scale: float = Field(default=1.0, ge=0)  # > 1 favours new items from the neighbours
    # what customers bought in the order after one holding the items of this customer's last order (0: off)
    transition_weight: float = Field(default=0.0, ge=0)
    transition_shrinkage: float = Field(default=10.0, ge=0)
    # new items scaled per customer by (their new-item odds / everyone's) ** this (0: off)
    explore_by_customer: float = Field(default=0.0, ge=0)
    explore_by_customer_prior: float = Field(default=20.0, ge=0)  # later purchases of everyone's share added
    damp_owned_categories: bool = True  # explore: a tent buyer gets no second tent (see recommender.substitutes)
    collaborative: CollaborativeConfig = Field(default_factory=CollaborativeConfig)
    # a learned re-ordering of the top candidates, trained on each customer's last order (rounds 0: off)
    ranker: RankerConfig = Field(default_factory=RankerConfig)


# fitting helpers ---------------------------------------------------------------------------------------
def purchase_events(history: OrderHistory) -> dict[str, np.ndarray]:
    """Distinct (customer, item, order) purchases sorted by customer, item, time: ``customer``, ``item``,
    ``order``, ``at``."""
    perm = np.lexsort((history.order, history.ordered_at, history.item, history.customer))
    c, i, o, t = history.customer[perm], history.item[perm], history.order[perm], history.ordered_at[perm]
    keep = np.ones(len(perm), dtype=bool)
    keep[1:] = (c[1:] != c[:-1]) | (i[1:] != i[:-1]) | (o[1:] != o[:-1])
    return {"customer": c[keep], "item": i[keep], "order": o[keep], "at": t[keep]}


def orders_ago(history: OrderHistory) -> np.ndarray:
    """Per order index: how many of the same customer's orders came after it (0 = their last order)."""
    table = history.orders_table()
    ago = np.zeros(history.n_orders, dtype=np.int64)
    if len(table["order"]) == 0:
        return ago
    perm = np.lexsort((table["ordered_at"], table["order"], table["customer"]))[::-1]  # latest first
    cust = table["customer"][perm]
    first = np.searchsorted(-cust.astype(np.int64), -cust.astype(np.int64), side="left")
    ago[table["order"][perm]] = np.arange(len(perm)) - first
    return ago


def group_starts(*keys: np.ndarray) -> np.ndarray:
    """Boolean: where a run of equal key tuples starts in arrays sorted by those keys."""
    n = len(keys[0])
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
        for key in keys:
            start[1:] |= key[1:] != key[:-1]
    return start


def grouped_median(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of ``values`` per group index (NaN for empty groups), vectorized."""
    out = np.full(n_groups, np.nan, dtype=np.float64)
    if len(values) == 0:
        return out
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    sizes = np.bincount(g, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    has = np.flatnonzero(sizes)
    lo = starts[has] + (sizes[has] - 1) // 2
    hi = starts[has] + sizes[has] // 2
    out[has] = (v[lo] + v[hi]) / 2.0
    return out


def due(x: np.ndarray, early_width: float, late_width: float) -> np.ndarray:
    """Due-ness of a repeat item at ``x = elapsed / interval``: 1 at x = 1, 0 at x = 0, slow fade when overdue."""
    log_x = np.log(np.maximum(x, _MIN_X))
    width = np.where(log_x <= 0, early_width, late_width)
    return np.exp(-(log_x**2) / (2.0 * width**2))


def gather_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR rows ``rows``: (position in ``rows`` of every stored entry, index of that entry)."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    total = int(lengths.sum())
    which = np.repeat(np.arange(len(rows)), lengths)
    offset = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return which, np.repeat(starts, lengths) + offset


def consecutive_orders(history: OrderHistory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(earlier order, next order) index pairs of the same customer, and each customer's last order (-1: none)."""
    table = history.orders_table()
    perm = np.lexsort((table["order"], table["ordered_at"], table["customer"]))
    order, customer = table["order"][perm].astype(np.int64), table["customer"][perm]
    same = customer[1:] == customer[:-1]
    last = np.full(history.n_customers, -1, dtype=np.int64)
    last[customer] = order  # the latest order of each customer is written last
    return order[:-1][same], order[1:][same], last


def transition_lists(history: OrderHistory, shrinkage: float, keep: int) -> sp.csr_matrix:
    """Per customer, what customers bought in the order after one holding the items of this customer's
    last order: ``sum over i in last of n(i -> j) / (n(i) + shrinkage)``, ``n(i -> j)`` the consecutive
    order pairs with ``i`` in the first and ``j`` in the next, ``n(i)`` the first orders holding ``i``;
    the best ``keep`` items of each customer, scaled to 1 at the best (customers x items CSR, float32)."""
    n_orders = max(history.n_orders, 1)
    baskets = sp.csr_matrix(
        (np.ones(history.n_lines, dtype=np.float32), (history.order, history.item)), shape=(n_orders, history.n_items)
    )
    baskets.data[:] = 1.0  # an item counts once per order
    earlier, following, last = consecutive_orders(history)
    first = baskets[earlier]
    pairs = (first.T @ baskets[following]).tocsr()
    per_item = np.asarray(first.sum(axis=0)).ravel()
    pairs = (sp.diags(1.0 / (per_item + shrinkage + 1e-12)) @ pairs).tocsr()
    has = last >= 0
    query = (sp.diags(has.astype(np.float32)) @ baskets[np.where(has, last, 0)]).tocsr()
    # a block of customers at a time: the product of every customer's last order with the transition rows
    # holds ~100M entries on Ta-Feng (3 GB at once); each row's top ``keep`` does not depend on the blocks
    blocks = [
        topk_sparse((query[lo:hi] @ pairs).tocsr().astype(np.float32), keep)
        for lo, hi in row_blocks(history.n_customers, TRANSITION_BLOCK)
    ]
    ranked = Ranked(
        np.concatenate([b.items for b in blocks]) if blocks else np.zeros((0, keep), dtype=np.int32),
        np.concatenate([b.scores for b in blocks]) if blocks else np.zeros((0, keep), dtype=np.float32),
    )
    found = ranked.items >= 0
    best = np.where(found[:, 0], ranked.scores[:, 0], 1.0)
    rows = np.repeat(np.arange(history.n_customers), found.sum(axis=1))
    scaled = (ranked.scores / best[:, None])[found]
    out = sp.csr_matrix((scaled, (rows, ranked.items[found])), shape=(history.n_customers, history.n_items))
    out.sort_indices()
    return out


def new_item_odds(history: OrderHistory, prior: float) -> np.ndarray:
    """Per customer: the odds that a purchase after their first order is of an item new to them, shrunk
    towards everyone's share with ``prior`` purchases, relative to everyone's odds (1 = average; float64)."""
    ev = purchase_events(history)
    _, position, _ = order_positions(history)
    later = position[ev["order"]] > 0
    new = later & group_starts(ev["customer"], ev["item"])  # the customer's first purchase of the item
    n_new = np.bincount(ev["customer"][new], minlength=history.n_customers).astype(np.float64)
    n_later = np.bincount(ev["customer"][later], minlength=history.n_customers).astype(np.float64)
    share = n_new.sum() / max(n_later.sum(), 1.0)
    share = min(max(share, 1e-6), 1.0 - 1e-6)
    own = (n_new + prior * share) / np.maximum(n_later + prior, 1e-12)
    own = np.clip(own, 1e-6, 1.0 - 1e-6)
    return (own / (1.0 - own)) / (share / (1.0 - share))


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
        # per (customer, item): CSR pattern + statistics aligned with its entries
        self._indptr = np.zeros(1, dtype=np.int64)
        self._items = np.zeros(0, dtype=np.int32)
        self._count = np.zeros(0, dtype=np.int32)
        self._last = np.zeros(0, dtype=np.int64)
        self._weight = np.zeros(0, dtype=np.float32)
        self._own_interval = np.zeros(0, dtype=np.float32)
        self._interval = np.zeros(0, dtype=np.float32)
        # per item
        self._propensity = np.zeros(0, dtype=np.float32)
        self._repeatable = np.zeros(0, dtype=bool)
        self._global_share = 1.0
        self._item_interval = np.zeros(0, dtype=np.float32)
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

    # fitting -------------------------------------------------------------------------------------------
    def _fit(self, history: OrderHistory) -> None:
        if history.n_lines == 0:
            raise EmptyHistoryError("the order history has no lines: nothing to learn what customers buy next")
        self._end_time = history.end_time
        self._fit_repeat(history)
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

    def _fit_repeat(self, history: OrderHistory) -> None:
        cfg = self.config
        ev = purchase_events(history)
        start = group_starts(ev["customer"], ev["item"])
        group = np.cumsum(start) - 1
        n_groups = int(start.sum())
        first_pos = np.flatnonzero(start)
        last_pos = np.concatenate([first_pos[1:], [len(start)]]) - 1
        group_c, group_i = ev["customer"][first_pos], ev["item"][first_pos]
        count = np.bincount(group, minlength=n_groups)
        first_at, last_at = ev["at"][first_pos], ev["at"][last_pos]
        weight = np.bincount(group, weights=self._order_weight(history, ev), minlength=n_groups)
        repeats = count >= 2
        own = np.where(repeats, (last_at - first_at) / DAY / np.maximum(count - 1, 1), 0.0)
        own = np.where(repeats, np.maximum(own, cfg.min_interval_days), 0.0)
        self._fit_items(history.n_items, group_i, repeats, own)
        population = self._item_interval[group_i].astype(np.float64)
        w = (count - 1).astype(np.float64)
        blended = (w * own + cfg.interval_shrinkage * population) / np.maximum(w + cfg.interval_shrinkage, 1e-12)
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(group_c, minlength=history.n_customers))])
        self._items = group_i.astype(np.int32)
        self._count = count.astype(np.int32)
        self._last = last_at.astype(np.int64)
        self._weight = weight.astype(np.float32)
        self._own_interval = own.astype(np.float32)
        self._interval = np.maximum(blended, cfg.min_interval_days).astype(np.float32)
        self._pattern = None

    def _order_weight(self, history: OrderHistory, ev: dict[str, np.ndarray]) -> np.ndarray:
        """TIFU weight of every purchase event's order: recency decay times the group factor."""
        cfg = self.config
        _, position, count = order_positions(history)
        group_factor = order_weights(position, count, cfg.groups, 1.0, cfg.group_decay)[ev["order"]]
        return cfg.recency_decay ** self._ago(history, ev) * group_factor

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
            and np.array_equal(self._indptr, other._indptr)
            and np.array_equal(self._items, other._items)
            and np.array_equal(self._weight, other._weight)
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
        """Mean personal vector of the nearest customers of every given customer that has none yet, top
        ``neighbour_items`` items kept. Each customer's list is the same whoever else is asked for: the
        neighbours are searched among the ``neighbour_pool`` most active customers of the whole history."""
        with self._nb_lock:
            missing = np.unique(customers[~self._nb_done[customers]])
            if len(missing) == 0:
                return
            if 2 * len(missing) > self.n_customers:  # most of them: everyone left, one pass
                missing = np.flatnonzero(~self._nb_done)
            cfg, shape = self.config, (self.n_customers, self.n_items)
            vectors = sp.csr_matrix((self._weight, self._items, self._indptr), shape=shape)
            pool = None
            if self.n_customers > cfg.neighbour_pool:
                activity = np.diff(self._indptr)  # distinct items bought
                pool = np.sort(np.argsort(-activity, kind="stable")[: cfg.neighbour_pool])
            neighbours, _ = nearest_neighbours(vectors, cfg.neighbours, cfg.similarity, reference=pool, queries=missing)
            mean = neighbour_mean(vectors, neighbours, cfg.neighbour_items).tocoo()
            found = sp.csr_matrix((mean.data, (missing[mean.row], mean.col)), shape=shape, dtype=np.float32)
            known = sp.csr_matrix((self._nb_scores, self._nb_items, self._nb_indptr), shape=shape)
            merged = (known + found).tocsr()  # disjoint rows
            merged.sort_indices()
            self._nb_indptr = merged.indptr.astype(np.int64)
            self._nb_items = merged.indices.astype(np.int32)
            self._nb_scores = merged.data.astype(np.float32)
            self._nb_done[missing] = True

    def _ago(self, history: OrderHistory, ev: dict[str, np.ndarray]) -> np.ndarray:
        if self.config.recency_unit == "orders":
            return orders_ago(history)[ev["order"]].astype(np.float64)
        last = np.zeros(history.n_customers, dtype=np.int64)
        np.maximum.at(last, ev["customer"], ev["at"])
        return (last[ev["customer"]] - ev["at"]) / DAY

    def _fit_items(self, n_items: int, group_i: np.ndarray, repeats: np.ndarray, own: np.ndarray) -> None:
        cfg = self.config
        buyers = np.bincount(group_i, minlength=n_items).astype(np.float64)
        repeaters = np.bincount(group_i[repeats], minlength=n_items).astype(np.float64)
        global_share = repeaters.sum() / max(buyers.sum(), 1.0)
        shrink = cfg.propensity_shrinkage
        propensity = (repeaters + shrink * global_share) / np.maximum(buyers + shrink, 1e-12)
        median = grouped_median(group_i[repeats], own[repeats], n_items)
        overall = float(np.median(own[repeats])) if repeats.any() else cfg.default_interval_days
        self._propensity = propensity.astype(np.float32)
        self._global_share = max(float(global_share), 1e-6)
        self._repeatable = (repeaters >= cfg.min_repeaters) & (propensity >= cfg.min_repeat_share)
        self._item_interval = np.where(np.isnan(median), overall, median).astype(np.float32)

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

    def _candidate_features(
        self, queries: np.ndarray, candidates: Ranked, now: int | np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, item, features) of every candidate (rows index ``queries``; columns as ``ranker.FEATURES``)."""
        if self._stats is None:
            raise RecommenderError("the ranker's history statistics are missing")
        n, width = candidates.items.shape
        row = np.repeat(np.arange(n), width)
        item = candidates.items.ravel().astype(np.int64)
        score = candidates.scores.ravel().astype(np.float64)
        valid = item >= 0
        row, item, score = row[valid], item[valid], score[valid]
        rank = np.tile(np.arange(width), n)[valid]
        customer = queries[row]
        when = np.broadcast_to(np.asarray(self._end_time if now is None else now, dtype=np.int64), queries.shape)
        now_days = when[row] / DAY
        entry = self._entries(customer, item)
        bought = entry >= 0
        at = np.where(bought, entry, 0)
        count = np.where(bought, self._count[at], 0).astype(np.float64)
        interval = np.where(bought, self._interval[at], 0.0)
        since = np.where(bought, now_days - self._last[at] / DAY, -1.0)
        due_ratio = np.where(bought, since / np.maximum(interval, 1e-6), -1.0)
        shape = (self.n_customers, self.n_items)

        def lookup(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> np.ndarray:
            if len(indices) == 0:
                return np.zeros(len(row))
            return np.asarray(sp.csr_matrix((data, indices, indptr), shape=shape)[customer, item]).ravel()

        explore = self._explore_factor[customer] if len(self._explore_factor) else np.ones(len(row))
        top = candidates.scores[:, 0].astype(np.float64)[row]
        items_stats, customer_stats = self._stats.items[item], self._stats.customers[customer]
        columns = [
            score,
            rank,
            score / np.maximum(top, 1e-12),
            count,
            np.where(bought, self._weight[at], 0.0),
            since,
            interval,
            due_ratio,
            self._propensity[item],
            lookup(self._nb_indptr, self._nb_items, self._nb_scores),
            lookup(self._tr_indptr, self._tr_items, self._tr_scores),
            *items_stats.T,
            customer_stats[:, 0],
            now_days - customer_stats[:, 1],
            np.diff(self._indptr)[customer],
            explore,
        ]
        return row, item, np.column_stack(columns).astype(np.float32)

    def _entries(self, customers: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Index of each (customer, item) pair's stored entry, -1 when the customer never bought it
        (both in range): scipy's C lookup of each pair in its customer's sorted items."""
        if len(customers) == 0:  # scipy answers an empty selection with a sparse array
            return np.zeros(0, dtype=np.int64)
        positions = sp.csr_array(
            (np.arange(1, len(self._items) + 1, dtype=np.int64), self._items, self._indptr),
            shape=(self.n_customers, self.n_items),
        )
        return np.asarray(positions[customers, items], dtype=np.int64).ravel() - 1

    def _formula_recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        """Top-k by the hand-set formula of the module docstring (before any learned re-ordering)."""
        self._ensure_neighbours(queries)
        when = np.broadcast_to(np.asarray(self._end_time if now is None else now, dtype=np.int64), queries.shape)
        which, entry = gather_rows(self._indptr, queries)
        repeat = self._repeat_scores(entry, when[which])
        nb_rows, nb_items, nb_own, nb_explore = self._neighbour_scores(queries, which, entry)
        if self.config.neighbours > 0:
            alpha = self.config.own_weight
            repeat *= alpha * self._weight[entry] + (1.0 - alpha) * nb_own
        keep = repeat > 0
        rows, items, scores = which[keep], self._items[entry[keep]], repeat[keep]
        rows = np.concatenate([rows, nb_rows])
        items = np.concatenate([items, nb_items])
        scores = np.concatenate([scores, nb_explore])
        rows, items, scores = self._add_transitions(queries, rows, items, scores, n_bought=int(keep.sum()))
        explore = self.collaborative
        if explore is not None:
            top_repeat = np.ones(len(queries), dtype=np.float64)  # customers without repeat items: 1
            best = np.zeros(len(queries), dtype=np.float64)
            np.maximum.at(best, rows, scores)
            top_repeat[best > 0] = best[best > 0]
            e_rows, e_items, e_scores = self._explore_scores(explore, queries, k, top_repeat)
            rows = np.concatenate([rows, e_rows])
            items = np.concatenate([items, e_items])
            scores = np.concatenate([scores, e_scores])
        return self._top(rows, items, scores, len(queries), k)

    def _add_transitions(
        self, queries: np.ndarray, rows: np.ndarray, items: np.ndarray, scores: np.ndarray, n_bought: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add the transition candidates (``transition_weight`` times the customer's best score so far
        times the list's score), then scale the scores of items new to the customer by their
        ``explore_by_customer`` factor. The first ``n_bought`` candidates are bought items, the rest of
        the given ones (the neighbours' new items) are not."""
        cfg = self.config
        new = np.arange(len(rows)) >= n_bought
        if cfg.transition_weight > 0:
            best = np.zeros(len(queries), dtype=np.float64)
            np.maximum.at(best, rows, scores)
            best[best <= 0] = 1.0  # customers without other candidates: the list's own scale
            t_rows, t_entry = gather_rows(self._tr_indptr, queries)
            t_items = self._tr_items[t_entry]
            t_scores = cfg.transition_weight * best[t_rows] * self._tr_scores[t_entry]
            rows = np.concatenate([rows, t_rows])
            items = np.concatenate([items, t_items])
            scores = np.concatenate([scores, t_scores])
            t_new = ~self._bought(queries[t_rows], t_items) if len(t_rows) else np.zeros(0, dtype=bool)
            new = np.concatenate([new, t_new])
        if cfg.explore_by_customer > 0:
            scores = np.where(new, scores * self._explore_factor[queries[rows]], scores)
        return rows, items, scores

    def _repeat_scores(self, entry: np.ndarray, when: np.ndarray) -> np.ndarray:
        """Repeat factor of stored (customer, item) entries at times ``when`` (0 for non-repeat items):
        ``propensity * due``, times the personal weight when there are no neighbours."""
        cfg = self.config
        item = self._items[entry]
        elapsed = np.maximum(when - self._last[entry], 0) / DAY
        x = elapsed / self._interval[entry].astype(np.float64)
        d = cfg.due_floor + (1.0 - cfg.due_floor) * due(x, cfg.early_width, cfg.late_width)
        if cfg.neighbours == 0:
            score = self._weight[entry] * self._propensity[item] * d
        else:  # relative to the average item, so that repeat and explore scores stay comparable
            score = (self._propensity[item] / self._global_share) ** cfg.propensity_power * d
        return np.where(self._repeatable[item], score, 0.0)

    def _neighbour_scores(
        self, queries: np.ndarray, which: np.ndarray, entry: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Neighbour scores: (rows, items, scores) of the unbought neighbour items, already weighted and
        damped, and the neighbour score of every bought entry (``entry``, 0 when not among the neighbours')."""
        nb_which, nb_entry = gather_rows(self._nb_indptr, queries)
        nb_items = self._nb_items[nb_entry]
        nb_scores = self._nb_scores[nb_entry].astype(np.float64)
        # both entry lists ascend by (row, item): match them with one searchsorted on a combined key
        found = pair_keys.positions(
            pair_keys.pack(which, self._items[entry], self.n_items), pair_keys.pack(nb_which, nb_items, self.n_items)
        )
        bought = found >= 0
        pos = np.maximum(found, 0)
        on_own = np.zeros(len(entry), dtype=np.float64)
        on_own[pos[bought]] = nb_scores[bought]
        rows, items = nb_which[~bought], nb_items[~bought]
        scores = self.config.neighbour_explore_scale * (1.0 - self.config.own_weight) * nb_scores[~bought]
        if self._ownership is not None and len(rows):
            damping = self._ownership.damping(queries[rows], items)
            kept = damping >= self.config.min_repeat_share  # owned one-off kinds (a tent) are dropped
            rows, items, scores = rows[kept], items[kept], (scores * damping)[kept]
        return rows, items, on_own, scores

    def _explore_scores(
        self, explore: CollaborativeModel, queries: np.ndarray, k: int, top_repeat: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unbought collaborative candidates, scores scaled into each customer's repeat range."""
        lengths = self._indptr[queries + 1] - self._indptr[queries]
        extra = 0 if explore.config.exclude_bought else int(lengths.max(initial=0))
        # twice the candidates: damped substitutes must be able to fall out of the top k
        ranked = explore.recommend(queries, min(2 * k + extra, max(self.n_items, 1)))
        rows = np.repeat(np.arange(len(queries)), ranked.items.shape[1])
        items, raw = ranked.items.ravel(), ranked.scores.ravel().astype(np.float64)
        valid = items >= 0
        valid[valid] = ~self._bought(queries[rows[valid]], items[valid])
        rows, items, raw = rows[valid], items[valid], np.maximum(raw[valid], 0.0)
        top = np.zeros(len(queries), dtype=np.float64)
        np.maximum.at(top, rows, raw)
        scaled = np.divide(raw, top[rows], out=np.zeros_like(raw), where=top[rows] > 0)
        if self._ownership is not None:
            damping = self._ownership.damping(queries[rows], items)
            scaled *= damping
            kind_kept = damping >= self.config.min_repeat_share  # owned one-off kinds (a tent) are dropped
            rows, items, scaled = rows[kind_kept], items[kind_kept], scaled[kind_kept]
        return rows, items.astype(np.int32), self.config.explore_weight * top_repeat[rows] * scaled

    def _bought(self, customers: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each (customer, item) pair is in the fitted history."""
        if self._pattern is None:
            self._pattern = sp.csr_matrix(
                (np.ones(len(self._items), dtype=np.int8), self._items, self._indptr),
                shape=(self.n_customers, self.n_items),
            )
            self._pattern.has_sorted_indices = True  # items are sorted within each customer's row
        return np.asarray(self._pattern[customers, items]).ravel() > 0

    def _top(self, rows: np.ndarray, items: np.ndarray, scores: np.ndarray, n: int, k: int) -> Ranked:
        """Top-k of (row, item, score) candidates, rows ``0..n-1``; scores of the same (row, item) add up."""
        merged = sp.csr_matrix(
            (scores.astype(np.float32), (rows.astype(np.int64), items.astype(np.int64))), shape=(n, self.n_items)
        )
        merged.sum_duplicates()
        merged.data[merged.data <= 0] = 0.0
        merged.eliminate_zeros()
        return topk_sparse(merged, k)

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
        entry = self._entries(customer[valid], item[valid])
        hit = entry >= 0
        found = entry[hit]
        own = self._count[found] >= 2
        out[np.flatnonzero(valid)[hit]] = np.where(own, self._own_interval[found], 0.0)
        return out

    def reason(self, customer: int, item: int) -> str:
        """ "you buy this about every 2 weeks" for a repeat item, "customers like you buy this" otherwise."""
        self._check_fitted()
        if not (0 <= customer < self.n_customers and 0 <= item < self.n_items):
            raise UnknownCustomerError(f"customer {customer} or item {item} is outside the fitted model")
        lo, hi = int(self._indptr[customer]), int(self._indptr[customer + 1])
        pos = lo + int(np.searchsorted(self._items[lo:hi], item))
        if pos >= hi or self._items[pos] != item:
            return "customers like you buy this"
        if self._count[pos] >= 2:
            return f"you buy this about every {describe_interval(float(self._own_interval[pos]))}"
        return f"time to buy it again: customers rebuy it about every {describe_interval(float(self._interval[pos]))}"

    # state ---------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        self._ensure_neighbours(np.arange(self.n_customers))
        state = {
            "end_time": np.array([self._end_time], dtype=np.int64),
            "indptr": self._indptr.astype(np.int64),
            "items": self._items,
            "count": self._count,
            "last": self._last,
            "weight": self._weight,
            "own_interval": self._own_interval,
            "interval": self._interval,
            "propensity": self._propensity,
            "repeatable": self._repeatable,
            "item_interval": self._item_interval,
            "global_share": np.array([self._global_share], dtype=np.float64),
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
        prefixes = (EXPLORE_PREFIX, OWNERSHIP_PREFIX, RANKER_PREFIX)
        own = {key: value for key, value in arrays.items() if not key.startswith(prefixes)}
        names = ["end_time", "indptr", "items", "count", "last", "weight", "own_interval", "interval"]
        names += ["propensity", "repeatable", "item_interval", "global_share", "nb_indptr", "nb_items", "nb_scores"]
        require_arrays(self.name, own, names)
        shape = (self.n_customers, self.n_items)
        check_csr(self.name, "customer items", own["indptr"], own["items"], shape)
        check_csr(self.name, "neighbour items", own["nb_indptr"], own["nb_items"], shape)
        self._end_time = int(own["end_time"][0])
        self._indptr = own["indptr"].astype(np.int64, copy=False)
        self._items = own["items"].astype(np.int32, copy=False)
        self._count = own["count"].astype(np.int32, copy=False)
        self._last = own["last"].astype(np.int64, copy=False)
        self._weight = own["weight"].astype(np.float32, copy=False)
        self._own_interval = own["own_interval"].astype(np.float32, copy=False)
        self._interval = own["interval"].astype(np.float32, copy=False)
        self._propensity = own["propensity"].astype(np.float32, copy=False)
        self._repeatable = own["repeatable"].astype(bool, copy=False)
        self._item_interval = own["item_interval"].astype(np.float32, copy=False)
        self._global_share = float(own["global_share"][0])
        self._nb_indptr = own["nb_indptr"].astype(np.int64, copy=False)
        self._nb_items = own["nb_items"].astype(np.int32, copy=False)
        self._nb_scores = own["nb_scores"].astype(np.float32, copy=False)
        self._nb_done = np.ones(self.n_customers, dtype=bool)
        self._load_customer_lists(own)
        self._check_shapes()
        self._pattern = None
        self._explore = self._load_explore(arrays)
        self._refit_explore = True
        if any(key.startswith(OWNERSHIP_PREFIX) for key in arrays):
            self._ownership = CategoryOwnership.from_state(arrays, OWNERSHIP_PREFIX)
            owned, n_categories = self._ownership, len(self._ownership.repeat_rate)
            require_length(self.name, "ownership categories", owned.item_category, self.n_items)
            check_indices(self.name, "ownership categories", owned.item_category, n_categories, missing_ok=True)
            check_csr(self.name, "ownership", owned.indptr, owned.indices, (self.n_customers, n_categories))
        self._load_ranker(arrays)

    def _load_ranker(self, arrays: dict[str, np.ndarray]) -> None:
        self._booster, self._stats = None, None
        if self.config.ranker.rounds == 0:
            return
        self._stats = HistoryStats.from_state(arrays, RANKER_PREFIX, self.n_customers, self.n_items)
        require_arrays(self.name, arrays, [RANKER_PREFIX + "model"])
        model = arrays[RANKER_PREFIX + "model"]
        self._booster = booster_from_array(model) if len(model) else None

    def _load_customer_lists(self, own: dict[str, np.ndarray]) -> None:
        """The transition lists and new-item odds factors, when the config uses them."""
        if self.config.transition_weight > 0:
            require_arrays(self.name, own, ["tr_indptr", "tr_items", "tr_scores"])
            shape = (self.n_customers, self.n_items)
            check_csr(self.name, "transition items", own["tr_indptr"], own["tr_items"], shape)
            require_length(self.name, "transition scores", own["tr_scores"], len(own["tr_items"]))
            self._tr_indptr = own["tr_indptr"].astype(np.int64, copy=False)
            self._tr_items = own["tr_items"].astype(np.int32, copy=False)
            self._tr_scores = own["tr_scores"].astype(np.float32, copy=False)
        if self.config.explore_by_customer > 0:
            require_arrays(self.name, own, ["explore_factor"])
            require_length(self.name, "explore factors", own["explore_factor"], self.n_customers)
            self._explore_factor = own["explore_factor"].astype(np.float32, copy=False)

    def _check_shapes(self) -> None:
        nnz = len(self._items)
        per_entry = (self._count, self._last, self._weight, self._own_interval, self._interval)
        consistent = len(self._indptr) == self.n_customers + 1 and self._indptr[-1] == nnz
        if not consistent or any(len(a) != nnz for a in per_entry):
            raise ModelFileError(f"{self.name} model file: per-customer arrays are inconsistent")
        nb_ok = len(self._nb_indptr) == self.n_customers + 1 and self._nb_indptr[-1] == len(self._nb_items)
        if not nb_ok or len(self._nb_scores) != len(self._nb_items):
            raise ModelFileError(f"{self.name} model file: neighbour arrays are inconsistent")
        if any(len(a) != self.n_items for a in (self._propensity, self._repeatable, self._item_interval)):
            raise ModelFileError(f"{self.name} model file: per-item arrays do not match the item count")

    def _load_explore(self, arrays: dict[str, np.ndarray]) -> CollaborativeModel | None:
        nested = {key[len(EXPLORE_PREFIX) :]: value for key, value in arrays.items() if key.startswith(EXPLORE_PREFIX)}
        if self.config.explore_weight <= 0:
            return None
        if not nested:
            raise ModelFileError(f"{self.name} model file lacks the explore model's arrays")
        explore = CollaborativeModel(self.config.collaborative)
        explore.n_customers, explore.n_items = self.n_customers, self.n_items
        explore._load_state(nested)
        explore._fitted = True
        return explore
