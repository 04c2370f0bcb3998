"""The job without MLflow: evaluation rows against baselines, refit on all data, odd but valid inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.errors import EmptyHistoryError
from training.pipeline import train


def test_report_has_ours_and_every_baseline_per_task(trained) -> None:
    methods = {(row["task"], row["method"]) for row in trained.report.rows}
    assert methods == {
        ("next_purchase", "ours"),
        ("next_purchase", "g_topfreq"),
        ("next_purchase", "p_topfreq"),
        ("next_purchase", "gp_topfreq"),
        ("for_you", "ours"),
        ("for_you", "als_alone"),
        ("for_you", "most_pop"),
        ("complements", "ours"),
        ("complements", "popularity_in_window"),
        ("complements", "symmetric_cooccurrence"),
    }
    metrics = trained.report.metrics
    for k in (10, 20):
        for name in ("recall", "ndcg", "phr", "recall_repeat", "recall_explore"):
            assert 0.0 <= metrics[f"next_purchase.{name}_at_{k}"] <= 1.0
    assert metrics["eval.next_purchase_customers"] > 0
    # the final bundle is refitted on everything, so it knows every customer of the file
    assert len(trained.bundle.customers) == trained.load.history.n_customers


def test_single_order_customers_train_without_evaluation(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,item_id,ordered_at\nc1,tent,2026-01-01\nc1,bag,2026-01-01\nc2,tent,2026-01-02\n")
    outcome = train(orders)
    assert outcome.report.counts["next_purchase_customers"] == 0
    table = outcome.bundle.recommend(["c1", "nobody"], "popular", k=2)
    assert set(table["item_id"]) == {"tent", "bag"}


def test_header_only_file_is_a_clear_error(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,item_id,ordered_at\n")
    with pytest.raises(EmptyHistoryError, match="no usable order lines"):
        train(orders)


def test_the_evaluation_scores_a_seeded_sample_of_at_most_the_cap(shop: dict[str, Path]) -> None:
    from recommender.bundle import BundleConfig
    from recommender.data import load_orders
    from training.pipeline import prepare_evaluation

    history = load_orders(shop["orders"], catalog_path=shop["catalog"]).history
    everyone = prepare_evaluation(history, BundleConfig(), max_customers=0)
    capped = prepare_evaluation(history, BundleConfig(), max_customers=100)
    again = prepare_evaluation(history, BundleConfig(), max_customers=100)
    assert len(everyone.split.customers) > 100 and len(capped.split.customers) == 100
    assert capped.counts()["eligible_customers"] == len(everyone.split.customers)
    np.testing.assert_array_equal(capped.split.customers, again.split.customers)  # seeded
    rows = np.searchsorted(everyone.split.customers, capped.split.customers)
    np.testing.assert_array_equal(everyone.split.customers[rows], capped.split.customers)  # a subset, ascending
    assert (capped.split.targets != everyone.split.targets[rows]).nnz == 0
    np.testing.assert_array_equal(capped.split.at, everyone.split.at[rows])
