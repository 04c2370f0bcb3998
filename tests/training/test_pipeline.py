"""The job without MLflow: evaluation rows against baselines, refit on all data, odd but valid inputs."""

from __future__ import annotations

from pathlib import Path

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
