"""Ranking metrics: hand-computed small cases, padding, and a loop reference on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.evaluation import basket_metrics, evaluate_next_basket, split_last_order, topn_metrics
from recommender.evaluation.baselines import p_topfreq
from recommender.history import OrderHistory


def csr(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [j for row in rows for j in row]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


def disc(rank: int) -> float:
    """The DCG gain of a hit at 1-based ``rank``."""
    return 1 / math.log2(rank + 1)


RANKED = np.array([[2, 5, 3, -1], [4, 0, -1, -1]], dtype=np.int32)
TARGETS = csr([[1, 2, 3], [0]])


def test_basket_recall_ndcg_phr_by_hand() -> None:
    m = basket_metrics(RANKED, TARGETS, ks=(1, 2, 4))
    idcg0 = disc(1) + disc(2) + disc(3)  # whole basket of 3 items
    assert m["n_customers"] == 2
    assert m["recall_at_1"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["ndcg_at_1"] == pytest.approx((1 / idcg0 + 0) / 2)
    assert m["phr_at_1"] == pytest.approx(0.5)
    assert m["recall_at_2"] == pytest.approx((1 / 3 + 1) / 2)
    assert m["ndcg_at_2"] == pytest.approx((disc(1) / idcg0 + disc(2) / 1) / 2)
    assert m["phr_at_2"] == pytest.approx(1.0)
    assert m["recall_at_4"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["ndcg_at_4"] == pytest.approx(((disc(1) + disc(3)) / idcg0 + disc(2)) / 2)


def test_basket_ndcg_ideal_is_the_whole_basket_so_a_perfect_list_scores_below_one() -> None:
    ranked = np.array([[0, 1]], dtype=np.int32)
    targets = csr([[0, 1, 2]])
    b = basket_metrics(ranked, targets, ks=(2,))
    t = topn_metrics(ranked, targets, k=2)
    assert b["ndcg_at_2"] == pytest.approx((disc(1) + disc(2)) / (disc(1) + disc(2) + disc(3)))
    assert b["ndcg_at_2"] < 1
    assert t["ndcg_at_2"] == pytest.approx(1.0)  # the usual ideal: min(|T|, k) items


def test_padding_never_hits_and_short_lists_are_padding() -> None:
    ranked = np.array([[-1, -1, 7]], dtype=np.int32)  # k wider than the lists below is fine too
    m = basket_metrics(ranked, csr([[7, 0]]), ks=(2, 3, 20))
    assert m["recall_at_2"] == 0.0
    assert m["recall_at_3"] == pytest.approx(0.5)
    assert m["recall_at_20"] == pytest.approx(0.5)
    assert m["ndcg_at_20"] == pytest.approx(disc(3) / (disc(1) + disc(2)))


def test_rows_with_an_empty_target_are_left_out() -> None:
    ranked = np.array([[1, 2], [3, 4]], dtype=np.int32)
    m = basket_metrics(ranked, csr([[1], []]), ks=(2,))
    assert m["n_customers"] == 1
    assert m["recall_at_2"] == pytest.approx(1.0)
    t = topn_metrics(ranked, csr([[], [4, 9]]), k=2)
    assert t["n_customers"] == 1
    assert t["recall_at_2"] == pytest.approx(0.5)


def test_repeat_explore_split_by_hand() -> None:
    history = csr([[1, 5], []])  # row 0 bought 1 and 5 before; row 1 bought nothing
    m = basket_metrics(RANKED, TARGETS, history, ks=(2, 4))
    # row 0: target {1, 2, 3}: repeat {1} (never recommended), explore {2, 3}; row 1: explore {0} only
    assert m["recall_repeat_at_4"] == pytest.approx(0.0)  # averaged over row 0 only
    assert m["recall_explore_at_4"] == pytest.approx((2 / 2 + 1 / 1) / 2)
    assert m["recall_explore_at_2"] == pytest.approx((1 / 2 + 1 / 1) / 2)
    # row 0 recommends [2, 5, 3]: one of three (5) bought before; row 1 recommends [4, 0]: none
    assert m["repeat_share_at_4"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["repeat_share_at_2"] == pytest.approx((1 / 2 + 0) / 2)


def test_repeat_recall_counts_hits_on_repeat_items() -> None:
    m = basket_metrics(np.array([[1, 2]], dtype=np.int32), csr([[1, 3]]), csr([[1, 3]]), ks=(2,))
    assert m["recall_repeat_at_2"] == pytest.approx(0.5)
    assert math.isnan(m["recall_explore_at_2"])  # no customer with new items in the target


def test_topn_precision_recall_ndcg_by_hand() -> None:
    ranked = np.array([[1, 9, 2], [8, -1, -1]], dtype=np.int32)
    m = topn_metrics(ranked, csr([[1, 2, 3, 4], [8]]), k=3)
    assert m["precision_at_3"] == pytest.approx((2 / 3 + 1 / 3) / 2)  # short lists divide by k too
    assert m["recall_at_3"] == pytest.approx((2 / 4 + 1) / 2)
    ideal0 = disc(1) + disc(2) + disc(3)  # min(|T|=4, k=3)
    assert m["ndcg_at_3"] == pytest.approx(((disc(1) + disc(3)) / ideal0 + 1.0) / 2)


def reference_basket(ranked: np.ndarray, targets: list[set[int]], k: int) -> tuple[float, float, float]:
    """Transcription of the Reality Check's get_Recall / get_NDCG / get_HT, averaged."""
    rec, ndcg, hit = [], [], []
    for row, truth in zip(ranked.tolist(), targets, strict=True):
        top = row[:k]
        gains = [disc(r + 1) for r, x in enumerate(top) if x in truth]
        rec.append(sum(x in truth for x in top) / len(truth))
        ndcg.append(sum(gains) / sum(disc(i + 1) for i in range(len(truth))))
        hit.append(float(any(x in truth for x in top)))
    return float(np.mean(rec)), float(np.mean(ndcg)), float(np.mean(hit))


def test_basket_metrics_match_a_loop_reference_on_random_lists() -> None:
    rng = np.random.default_rng(0)
    n, n_items, width = 60, 30, 12
    ranked = np.stack([rng.permutation(n_items)[:width] for _ in range(n)]).astype(np.int32)
    length = rng.integers(0, width + 1, size=n)
    ranked[np.arange(width)[None, :] >= length[:, None]] = -1  # lists of every length, padded
    truth = [set(rng.choice(n_items, size=int(rng.integers(1, 15)), replace=False).tolist()) for _ in range(n)]
    m = basket_metrics(ranked, csr([sorted(t) for t in truth], n_items), ks=(5, 10))
    for k in (5, 10):
        rec, ndcg, hit = reference_basket(ranked, truth, k)
        assert m[f"recall_at_{k}"] == pytest.approx(rec)
        assert m[f"ndcg_at_{k}"] == pytest.approx(ndcg)
        assert m[f"phr_at_{k}"] == pytest.approx(hit)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="shape"):
        basket_metrics(np.zeros((3, 2), dtype=np.int32), csr([[1], [2]]))
    with pytest.raises(ValueError, match="repeats"):
        topn_metrics(np.array([[1, 1]], dtype=np.int32), csr([[1]]), k=2)
    with pytest.raises(ValueError, match="outside"):
        topn_metrics(np.array([[10, 1]], dtype=np.int32), csr([[1]]), k=2)
    with pytest.raises(ValueError, match="history_items"):
        basket_metrics(RANKED, TARGETS, csr([[1]]))


def test_evaluate_next_basket_runs_a_model_on_the_split() -> None:
    h = OrderHistory.from_arrays(
        np.array(["c1", "c1", "c1", "c2", "c2"]),
        np.array(["a", "b", "a", "b", "c"]),
        np.array([1, 1, 5, 2, 6]),
    )
    split = split_last_order(h)

    class OwnFrequent:
        """The smallest stand-in for a fitted model: P-TopFreq on the split's train."""

        def recommend(self, queries: np.ndarray, k: int, now: np.ndarray) -> object:
            assert np.array_equal(now, split.at)
            return p_topfreq(split.train, queries, k)

    m = evaluate_next_basket(OwnFrequent(), split, ks=(1, 2))  # type: ignore[arg-type]
    # c1 bought {a, b}, target {a}: hit at rank 1 or 2 (tie in counts, same order); c2 bought {b}, target {c}: miss
    assert m["recall_at_2"] == pytest.approx(0.5)
    assert m["recall_repeat_at_2"] == pytest.approx(1.0)
    assert m["recall_explore_at_2"] == pytest.approx(0.0)
