"""Neighbours of next purchase (TIFU-KNN): each customer's list of the items its nearest customers bought.

A customer's list is the mean personal vector (``RepeatStats.weight``) of its ``neighbours`` nearest
customers by ``similarity``, searched among the ``neighbour_pool`` most active customers, kept as its best
``neighbour_items`` items (``recommender.models.next_purchase.tifu``). The model computes the lists lazily,
for the customers asked for (``add_neighbour_lists``); at recommend time ``neighbour_scores`` splits a
customer's list into the neighbour score of the items it bought and the new items it brings.

Where the lists are computed is a ``NeighbourLists``: ``neighbour_lists`` (this process) unless a caller
runs the model inside ``neighbour_lists_by(other)`` (``recs train --engine spark`` runs the same function on
blocks of customers on Spark's executors: a customer's list does not depend on who else is asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
import scipy.sparse as sp

from recommender.models.next_purchase.candidates import RowLists, gather_rows
from recommender.models.next_purchase.config import NextPurchaseConfig
from recommender.models.next_purchase.repeats import RepeatStats
from recommender.models.next_purchase.tifu import nearest_neighbours, neighbour_mean
from recommender.numeric import pair_keys
from recommender.scoped import Scoped
from recommender.substitutes import CategoryOwnership

# customers whose neighbours are searched and averaged at once: their (customers x neighbours) index and
# similarity arrays stay 20,000 x 300 (48 MB) whatever the shop (200,000 customers at 4M lines were 1.4 GB)
_QUERY_CHUNK = 20_000

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


def neighbour_lists(
    vectors: sp.csr_matrix, pool: np.ndarray | None, queries: np.ndarray, cfg: NextPurchaseConfig
) -> sp.csr_matrix:
    """The lists of the ``queries`` customers, one row each in their order (queries x items, CSR float32): the
    mean personal vector of each one's ``cfg.neighbours`` nearest customers among ``pool`` (None: everyone),
    its best ``cfg.neighbour_items`` items kept."""
    pieces = [sp.csr_matrix((0, vectors.shape[1]), dtype=np.float32)]
    for lo in range(0, len(queries), _QUERY_CHUNK):  # the (customers x neighbours) arrays a chunk at a time
        neighbours, _ = nearest_neighbours(
            vectors, cfg.neighbours, cfg.similarity, reference=pool, queries=queries[lo : lo + _QUERY_CHUNK]
        )
        pieces.append(neighbour_mean(vectors, neighbours, cfg.neighbour_items))
        del neighbours
    return sp.vstack(pieces, format="csr")  # row r: customer queries[r]; items ascending within rows


NeighbourLists = Callable[[sp.csr_matrix, "np.ndarray | None", np.ndarray, NextPurchaseConfig], sp.csr_matrix]
# the lists' computation of the running fit: a context variable, so a scope sets it (``neighbour_lists_by``)
_NEIGHBOUR_LISTS: Scoped[NeighbourLists] = Scoped("recs_neighbour_lists", neighbour_lists)


def neighbour_lists_by(compute: NeighbourLists) -> AbstractContextManager[None]:
    """Within this block (and threads started with a copy of its context), neighbour lists come from ``compute``."""
    return _NEIGHBOUR_LISTS.using(compute)


def add_neighbour_lists(
    repeats: RepeatStats, known: RowLists, missing: np.ndarray, cfg: NextPurchaseConfig, shape: tuple[int, int]
) -> sp.csr_matrix:
    """The ``known`` lists (customers x items) with those of the ``missing`` customers added (rows without a
    list so far): the mean personal vector of each one's nearest customers, top ``neighbour_items`` items
    kept. Each customer's list is the same whoever else is asked for: the neighbours are searched among the
    ``neighbour_pool`` most active customers of the whole history."""
    n_customers = shape[0]
    vectors = sp.csr_matrix((repeats.weight, repeats.items, repeats.indptr), shape=shape)
    pool = None
    if n_customers > cfg.neighbour_pool:
        activity = np.diff(repeats.indptr)  # distinct items bought
        pool = np.sort(np.argsort(-activity, kind="stable")[: cfg.neighbour_pool])
    found = _NEIGHBOUR_LISTS.get()(vectors, pool, missing, cfg).tocsr()  # row r: customer missing[r]
    found.sort_indices()
    return _merge_rows(known, found, missing, shape)


def _merge_rows(known: RowLists, found: sp.csr_matrix, missing: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """The ``known`` lists with ``found``'s row ``r`` as customer ``missing[r]``'s (which had none): each
    entry copied once to its place (the sum of two sparse matrices took 600 MB more for 200,000 lists)."""
    nb_indptr, nb_items, nb_scores = known
    counts = np.diff(nb_indptr).astype(np.int64)
    found_counts = np.diff(found.indptr).astype(np.int64)
    counts[missing] = found_counts
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    items = np.empty(int(indptr[-1]), dtype=np.int32)
    scores = np.empty(int(indptr[-1]), dtype=np.float32)
    known_counts = np.diff(nb_indptr).astype(np.int64)
    to = np.arange(len(nb_items), dtype=np.int64) + np.repeat(indptr[:-1] - nb_indptr[:-1], known_counts)
    items[to], scores[to] = nb_items, nb_scores
    to = np.arange(found.nnz, dtype=np.int64) + np.repeat(indptr[missing] - found.indptr[:-1], found_counts)
    items[to], scores[to] = found.indices, found.data
    return sp.csr_matrix((scores, items, indptr), shape=shape)


def neighbour_scores(
    cfg: NextPurchaseConfig,
    lists: RowLists,
    queries: np.ndarray,
    which: np.ndarray,
    own_items: np.ndarray,
    n_items: int,
    ownership: CategoryOwnership | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour scores: (rows, items, scores) of the unbought neighbour items, already weighted and
    damped, and the neighbour score of every bought entry (rows ``which`` into ``queries``, items
    ``own_items``; 0 when not among the neighbours'). ``lists`` are the neighbour lists as CSR arrays."""
    nb_indptr, nb_all_items, nb_all_scores = lists
    nb_which, nb_entry = gather_rows(nb_indptr, queries)
    nb_items = nb_all_items[nb_entry]
    nb_scores = nb_all_scores[nb_entry].astype(np.float64)
    # both entry lists ascend by (row, item): match them with one searchsorted on a combined key
    found = pair_keys.positions(pair_keys.pack(which, own_items, n_items), pair_keys.pack(nb_which, nb_items, n_items))
    bought = found >= 0
    pos = np.maximum(found, 0)
    on_own = np.zeros(len(own_items), dtype=np.float64)
    on_own[pos[bought]] = nb_scores[bought]
    rows, items = nb_which[~bought], nb_items[~bought]
    scores = cfg.neighbour_explore_scale * (1.0 - cfg.own_weight) * nb_scores[~bought]
    if ownership is not None and len(rows):
        damping = ownership.damping(queries[rows], items)
        kept = damping >= cfg.min_repeat_share  # owned one-off kinds (a tent) are dropped
        rows, items, scores = rows[kept], items[kept], (scores * damping)[kept]
    return rows, items, on_own, scores
