"""Ranking metrics over a batch of ranked lists, vectorized (no loop per customer).

Inputs everywhere: ``ranked_items`` int32 (n, width), best first, padded with -1; ``targets`` a
sparse (n x n_items) matrix whose stored non-zero entries are the relevant items of each row.
``top-k`` means the first ``k`` columns (fewer when ``width < k``: the missing ones count as padding).
Rows with an empty target are left out of every average. Keys use ``_at_`` (``recall_at_10``)
because they become MLflow metric names; a mean over no rows is NaN.

- ``basket_metrics``: next-basket protocol. NDCG's ideal DCG is summed over the WHOLE true basket
  (``sum_{i=1..|T|} 1/log2(i+1)``) as in the TIFU-KNN and "Next Basket Recommendation Reality Check"
  code, so NDCG@k < 1 whenever |T| > k even for a perfect list.
- ``topn_metrics``: top-n protocol (collaborative filtering): precision, recall and the usual NDCG
  (ideal DCG over ``min(|T|, k)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.base import Recommender
from recommender.evaluation._common import binary_csr, has_repeated_items, mean_or_nan, pattern_member
from recommender.evaluation.splits import NextBasketSplit


def _check_ranked(ranked_items: np.ndarray, n_rows: int, n_items: int) -> np.ndarray:
    """``ranked_items`` as int64 (n, width); rejects wrong shapes, out-of-range items and duplicates in a row."""
    ranked = np.asarray(ranked_items)
    if ranked.ndim != 2 or ranked.shape[0] != n_rows:
        raise ValueError(f"ranked_items must have shape ({n_rows}, k) to match targets, got {ranked.shape}")
    ranked = ranked.astype(np.int64)
    if ranked.size and (ranked.max() >= n_items or ranked.min() < -1):
        raise ValueError(f"ranked_items holds item indices outside -1..{n_items - 1}")
    if has_repeated_items(ranked):
        raise ValueError("ranked_items repeats an item within a row")
    return ranked


def _hits(ranked: np.ndarray, pattern: sp.csr_matrix) -> np.ndarray:
    """Boolean (n, width): is ranked[r, j] stored in row r of ``pattern``."""
    return pattern_member(np.arange(ranked.shape[0])[:, None], ranked, pattern)


def _discounts(k: int) -> np.ndarray:
    """1 / log2(rank + 1) for ranks 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _ideal_dcg(n_relevant: np.ndarray) -> np.ndarray:
    """sum_{i=1..n} 1/log2(i+1) for every n in ``n_relevant``."""
    n_relevant = np.asarray(n_relevant, dtype=np.int64)
    top = int(n_relevant.max()) if len(n_relevant) else 0
    cumulative = np.concatenate([[0.0], np.cumsum(_discounts(top))])
    return cumulative[n_relevant]


def _topk(matrix: np.ndarray, k: int) -> np.ndarray:
    return matrix[:, : min(k, matrix.shape[1])]


def _dcg(hits: np.ndarray, k: int) -> np.ndarray:
    h = _topk(hits, k)
    return (h * _discounts(h.shape[1])).sum(axis=1)


def ndcg_per_customer(ranked_items: np.ndarray, targets: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """NDCG@k of every row (whole-basket ideal DCG, as ``basket_metrics``); NaN where the target is empty.
    Paired comparisons of two rankings (``training.self_tune``) need the values, not their mean."""
    t = binary_csr(targets)
    ranked = _check_ranked(ranked_items, t.shape[0], t.shape[1])
    size = np.diff(t.indptr)
    values = _dcg(_hits(ranked, t), k) / np.maximum(_ideal_dcg(size), 1e-12)
    return np.where(size > 0, values, np.nan)


def basket_metrics(
    ranked_items: np.ndarray,
    targets: sp.spmatrix | sp.sparray,
    history_items: sp.spmatrix | sp.sparray | None = None,
    ks: Sequence[int] = (10, 20),
) -> dict[str, float]:
    """Next-basket metrics averaged over customers (rows) with a non-empty target.

    For every k in ``ks``: ``recall_at_k`` = |top-k ∩ T| / |T|; ``ndcg_at_k`` with the whole-basket
    ideal DCG; ``phr_at_k`` = share of customers with at least one hit. With ``history_items`` (the
    customers' training purchases, same rows) also the repeat/explore split of the Reality Check:
    ``recall_repeat_at_k`` over customers whose target holds repeat items (bought before), recall on
    those items only; ``recall_explore_at_k`` likewise for new items; ``repeat_share_at_k`` = share
    of the recommended (non-padding) top-k items that the customer bought before, over customers with
    at least one recommendation (the reference code divides by k: the same when lists are full).
    ``n_customers`` is the number of rows averaged over.
    """
    t = binary_csr(targets)
    ranked = _check_ranked(ranked_items, t.shape[0], t.shape[1])
    size = np.diff(t.indptr)
    keep = size > 0
    ranked, t, size = ranked[keep], t[keep], size[keep]
    hits = _hits(ranked, t)
    out: dict[str, float] = {"n_customers": float(len(size))}
    ideal = _ideal_dcg(size)
    for k in ks:
        n_hit = _topk(hits, k).sum(axis=1)
        out[f"recall_at_{k}"] = mean_or_nan(n_hit / np.maximum(size, 1))
        out[f"ndcg_at_{k}"] = mean_or_nan(_dcg(hits, k) / np.maximum(ideal, 1e-12))
        out[f"phr_at_{k}"] = mean_or_nan((n_hit > 0).astype(np.float64))
    if history_items is not None:
        h = binary_csr(history_items)
        if h.shape != (len(keep), t.shape[1]):
            raise ValueError(f"history_items has shape {h.shape}, expected {(len(keep), t.shape[1])}")
        out.update(_repeat_explore(ranked, hits, t, h[keep], ks))
    return out


def _repeat_explore(
    ranked: np.ndarray, hits: np.ndarray, targets: sp.csr_matrix, history: sp.csr_matrix, ks: Sequence[int]
) -> dict[str, float]:
    """Recall on repeat / explore target items and the share of recommended repeat items."""
    repeat_rec = _hits(ranked, history)
    target_rows = np.repeat(np.arange(targets.shape[0]), np.diff(targets.indptr))
    target_is_repeat = pattern_member(target_rows, targets.indices, history)
    n_repeat = np.bincount(target_rows, weights=target_is_repeat, minlength=targets.shape[0])
    n_explore = np.diff(targets.indptr) - n_repeat
    has_repeat, has_explore = n_repeat > 0, n_explore > 0
    out: dict[str, float] = {}
    for k in ks:
        hit_repeat = _topk(hits & repeat_rec, k).sum(axis=1)
        hit_explore = _topk(hits & ~repeat_rec, k).sum(axis=1)
        n_recommended = _topk(ranked >= 0, k).sum(axis=1)
        recommended = n_recommended > 0
        out[f"recall_repeat_at_{k}"] = mean_or_nan(hit_repeat[has_repeat] / n_repeat[has_repeat])
        out[f"recall_explore_at_{k}"] = mean_or_nan(hit_explore[has_explore] / n_explore[has_explore])
        share = _topk(repeat_rec, k).sum(axis=1)[recommended] / n_recommended[recommended]
        out[f"repeat_share_at_{k}"] = mean_or_nan(share)
    return out


def topn_metrics(ranked_items: np.ndarray, targets: sp.spmatrix | sp.sparray, k: int = 10) -> dict[str, float]:
    """Top-n metrics averaged over rows with at least one target item.

    ``precision_at_k`` = hits / k (k, not the list length: short lists are not rewarded);
    ``recall_at_k`` = hits / |T|; ``ndcg_at_k`` with the ideal DCG over min(|T|, k) (the usual one);
    ``n_customers`` is the number of rows averaged over.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    t = binary_csr(targets)
    ranked = _check_ranked(ranked_items, t.shape[0], t.shape[1])
    size = np.diff(t.indptr)
    keep = size > 0
    ranked, t, size = ranked[keep], t[keep], size[keep]
    hits = _hits(ranked, t)
    n_hit = _topk(hits, k).sum(axis=1)
    return {
        "n_customers": float(len(size)),
        f"precision_at_{k}": mean_or_nan(n_hit / k),
        f"recall_at_{k}": mean_or_nan(n_hit / np.maximum(size, 1)),
        f"ndcg_at_{k}": mean_or_nan(_dcg(hits, k) / np.maximum(_ideal_dcg(np.minimum(size, k)), 1e-12)),
    }


def evaluate_next_basket(model: Recommender, split: NextBasketSplit, ks: Sequence[int] = (10, 20)) -> dict[str, float]:
    """``basket_metrics`` of a model fitted on ``split.train``, asked at each target order's time."""
    ranked = model.recommend(split.customers, k=max(ks), now=split.at)
    return basket_metrics(ranked.items, split.targets, split.history_items(), ks)
