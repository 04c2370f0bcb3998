"""What each metric table was measured on: the counts in the report, the tables and the small-data warning.

The history is written by hand so that every count can be worked out on paper (see ``LINES``).
"""

from __future__ import annotations

import numpy as np
from rich.console import Console

from recommender.bundle import BundleConfig
from recommender.history import DAY, OrderHistory
from training.pipeline import EvaluationReport, evaluate
from training.train_report import metrics_markdown, metrics_tables, small_evaluation_warning

START = 1_700_000_000
# (customer, item, day); one order per customer and day. The history spans days 0-100 and the complements
# window is 14 days, so the complements cutoff is day 100 - max(25, 28) = 72 and an anchor is a purchase on
# days 72-86 followed within 14 days by another item of the same customer.
LINES = [
    ("a", "x", 0), ("a", "y", 10), ("a", "x", 75), ("a", "z", 80),  # last order {z}: new -> for you; anchor x@75
    ("b", "x", 5), ("b", "x", 20),  # last order {x}: bought before, not for you
    ("c", "y", 1),  # one order: not evaluated
    ("d", "y", 30), ("d", "x", 74), ("d", "z", 74), ("d", "y", 82),  # anchors x@74 and z@74 (y follows at 82)
    ("e", "w", 50), ("e", "w", 100),  # last order repeats w; day 100's window is not observed
]  # fmt: skip
# customers with two orders: a, b, d, e; with new items in their last order: a; anchors: a's x, d's x and z


def _history() -> OrderHistory:
    return OrderHistory.from_arrays(
        np.asarray([c for c, _, _ in LINES]),
        np.asarray([i for _, i, _ in LINES]),
        np.asarray([START + d * DAY for _, _, d in LINES], dtype=np.int64),
    )


def _report() -> EvaluationReport:
    return evaluate(_history(), BundleConfig(), max_customers=0)


def test_each_task_is_measured_on_the_hand_counted_customers_and_anchors() -> None:
    report = _report()
    assert report.measured_on("next_purchase") == (4, "customers")
    assert report.measured_on("for_you") == (1, "customers")
    assert report.measured_on("complements") == (3, "anchors")
    metrics = report.metrics
    assert metrics["eval.next_purchase_customers"] == 4
    assert metrics["eval.for_you_customers"] == 1
    assert metrics["eval.complement_anchors"] == 3
    assert metrics["eval.eligible_customers"] == 4
    assert {row["task"] for row in report.rows} == {"next_purchase", "for_you", "complements"}


def test_every_table_says_what_it_was_measured_on() -> None:
    report = _report()
    console = Console(width=80, record=True)  # each title fits its table: nothing wraps
    for table in metrics_tables(report):
        console.print(table)
    text = console.export_text()
    assert "next_purchase on 4 customers (time-ordered split)" in text
    assert "next_purchase: repeat / explore split on 4 customers (time-ordered split)" in text
    assert "for_you on 1 customer (time-ordered split)" in text
    assert "complements on 3 anchors (time-ordered split)" in text
    markdown = metrics_markdown(report)
    for heading in (
        "### next_purchase (measured on 4 customers)",
        "### for_you (measured on 1 customer)",
        "### complements (measured on 3 anchors)",
    ):
        assert heading in markdown.splitlines()


def test_the_warning_names_the_small_tasks_and_every_count() -> None:
    report = _report()
    warning = small_evaluation_warning(report, 200)
    assert warning is not None
    assert "too few to evaluate next purchase (4 customers), for you (1 customer) and complements (3 anchors)" in (
        warning
    )
    assert "the minimum is 200 (RECS_MIN_EVAL_CUSTOMERS)" in warning
    assert "Measured on: next purchase 4 customers, for you 1 customer, complements 3 anchors" in warning
    assert "4 customers have two or more orders." in warning
    only = small_evaluation_warning(report, 2)  # next purchase (4) and complements (3) reach 2, for you (1) not
    assert only is not None and "too few to evaluate for you (1 customer):" in only
    assert small_evaluation_warning(report, 1) is None


def test_the_warning_says_when_the_sample_made_the_count_small() -> None:
    report = evaluate(_history(), BundleConfig(), max_customers=2)
    assert report.measured_on("next_purchase") == (2, "customers")
    warning = small_evaluation_warning(report, 3)
    assert warning is not None
    assert "4 customers have two or more orders, of which --eval-customers scored a sample of 2." in warning


def test_nothing_to_evaluate_counts_zero_everywhere() -> None:
    history = OrderHistory.from_arrays(np.asarray(["a", "b"]), np.asarray(["x", "y"]), np.asarray([START, START + DAY]))
    report = evaluate(history, BundleConfig())
    assert report.rows == []
    for task in ("next_purchase", "for_you", "complements"):
        assert report.measured_on(task) is not None and report.measured_on(task)[0] == 0  # type: ignore[index]
    warning = small_evaluation_warning(report, 200)
    assert warning is not None and "Measured on: next purchase 0 customers, for you 0 customers" in warning


def test_anchors_are_not_counted_when_complements_were_not_scored() -> None:
    """A 20-day history: the cutoff (28 days before the end) precedes it, nothing is before it to fit on, so
    a's x on day 0 (followed by y on day 3) is an anchor that nothing was scored on."""
    lines = [("a", "x", 0), ("a", "y", 3), ("b", "z", 20)]
    history = OrderHistory.from_arrays(
        np.asarray([c for c, _, _ in lines]),
        np.asarray([i for _, i, _ in lines]),
        np.asarray([START + d * DAY for _, _, d in lines], dtype=np.int64),
    )
    report = evaluate(history, BundleConfig(), max_customers=0)
    assert "complements" not in {row["task"] for row in report.rows}
    assert report.measured_on("complements") == (0, "anchors")
    assert report.measured_on("next_purchase") == (1, "customers")
