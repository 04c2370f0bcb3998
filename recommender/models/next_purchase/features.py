"""The ranker's description of each next-purchase candidate: one row of ``ranker.FEATURES`` per candidate.

The columns come from the model's own arrays (repeat statistics, neighbour and transition lists, new-item
odds factors) and from the history statistics the ranker keeps (``HistoryStats``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.base import Ranked
from recommender.history import DAY
from recommender.models.next_purchase.candidates import RowLists
from recommender.models.next_purchase.ranker import HistoryStats
from recommender.models.next_purchase.repeats import RepeatStats


def candidate_features(
    queries: np.ndarray,
    candidates: Ranked,
    when: np.ndarray,
    repeats: RepeatStats,
    lists: tuple[RowLists, RowLists],
    explore_factor: np.ndarray,
    stats: HistoryStats,
    shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, item, features) of every candidate (rows index ``queries``; columns as ``ranker.FEATURES``).

    ``when`` is the moment asked for, per query; ``lists`` the neighbour and the transition lists (CSR
    arrays); ``explore_factor`` the new-item odds factors (empty when off); ``shape`` customers x items."""
    n, width = candidates.items.shape
    row = np.repeat(np.arange(n), width)
    item = candidates.items.ravel().astype(np.int64)
    score = candidates.scores.ravel().astype(np.float64)
    valid = item >= 0
    row, item, score = row[valid], item[valid], score[valid]
    rank = np.tile(np.arange(width), n)[valid]
    customer = queries[row]
    now_days = when[row] / DAY
    entry = repeats.entries(customer, item, shape)
    bought = entry >= 0
    at = np.where(bought, entry, 0)
    count = np.where(bought, repeats.count[at], 0).astype(np.float64)
    interval = np.where(bought, repeats.interval[at], 0.0)
    since = np.where(bought, now_days - repeats.last[at] / DAY, -1.0)
    due_ratio = np.where(bought, since / np.maximum(interval, 1e-6), -1.0)

    def lookup(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> np.ndarray:
        if len(indices) == 0:
            return np.zeros(len(row))
        return np.asarray(sp.csr_matrix((data, indices, indptr), shape=shape)[customer, item]).ravel()

    explore = explore_factor[customer] if len(explore_factor) else np.ones(len(row))
    top = candidates.scores[:, 0].astype(np.float64)[row]
    items_stats, customer_stats = stats.items[item], stats.customers[customer]
    neighbours, transitions = lists
    columns = [
        score,
        rank,
        score / np.maximum(top, 1e-12),
        count,
        np.where(bought, repeats.weight[at], 0.0),
        since,
        interval,
        due_ratio,
        repeats.propensity[item],
        lookup(*neighbours),
        lookup(*transitions),
        *items_stats.T,
        customer_stats[:, 0],
        now_days - customer_stats[:, 1],
        np.diff(repeats.indptr)[customer],
        explore,
    ]
    return row, item, np.column_stack(columns).astype(np.float32)
