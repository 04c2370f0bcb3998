"""The quality benchmark's shipped path (``benchmarks.shipped``): real ``recs train`` -> ``recs publish`` ->
``recs serve`` on a small generated shop; the lists read over HTTP are the published ones, mapped to the
right items, and the post-purchase replay reads the same lists the route reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.post_purchase import post_purchase_answers
from benchmarks.shipped import ShippedService, item_path, ranked, shipped_service, user_path
from benchmarks.shipped_quality import write_orders
from recommender.data import load_orders
from recommender.evaluation import complement_events, split_last_order
from recommender.history import OrderHistory


@pytest.fixture(scope="module")
def small_shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from recommender.synthetic import generate

    return generate(tmp_path_factory.mktemp("small-shop"), customers=400, seed=3)


@pytest.fixture(scope="module")
def history(small_shop: dict[str, Path]) -> OrderHistory:
    return load_orders(small_shop["orders"], catalog_path=small_shop["catalog"]).history


@pytest.fixture(scope="module")
def service(history: OrderHistory, small_shop: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    train = write_orders(split_last_order(history).train, tmp_path_factory.mktemp("train") / "train.parquet")
    with shipped_service(train, small_shop["catalog"], tmp_path_factory.mktemp("run")) as running:
        yield running


def test_written_orders_load_back_as_the_same_history(history: OrderHistory, tmp_path: Path) -> None:
    # the held-out part of a split, too: its order indices have gaps, and ties between orders at one time
    # must be broken the same way after the reload (the loader breaks them by order id)
    for part in (history, split_last_order(history).train):
        again = load_orders(write_orders(part, tmp_path / "orders.parquet")).history
        np.testing.assert_array_equal(again.customers.external(again.customer), part.customers.external(part.customer))
        np.testing.assert_array_equal(again.items.external(again.item), part.items.external(part.item))
        np.testing.assert_array_equal(again.ordered_at, part.ordered_at)
        np.testing.assert_array_equal(
            np.unique(again.order, return_inverse=True)[1], np.unique(part.order, return_inverse=True)[1]
        )
        np.testing.assert_array_equal(again.quantity, part.quantity)


def test_simultaneous_orders_keep_their_tie_break_after_a_reload(tmp_path: Path) -> None:
    # two orders of one customer at one moment: which one is "the last" must not change by writing them out
    rows = ["customer_id,item_id,ordered_at,order_id"]
    for c in range(12):
        rows += [f"c{c},milk,2026-01-01,a{c}", f"c{c},tea,2026-01-02,z{c}", f"c{c},soap,2026-01-02,b{c}"]
    (tmp_path / "orders.csv").write_text("\n".join(rows) + "\n")
    history = load_orders(tmp_path / "orders.csv").history
    again = load_orders(write_orders(history, tmp_path / "again.parquet")).history
    first, second = split_last_order(history), split_last_order(again)
    assert (first.targets != second.targets).nnz == 0
    held = set(history.items.external(first.targets.indices))
    assert len(held) == 1  # one of the two simultaneous orders, the same one both times


def test_http_answers_are_the_published_lists_in_stock(service: ShippedService, history: OrderHistory) -> None:
    assert service.train["tuning"]["candidates"], "recs train ran with its own tuning"
    ids = history.customers.ids[:30].tolist()
    answers = service.fetch([user_path(c, "next_purchase", 10) for c in ids])
    tables, lists = service.published("next_purchase", ids)
    got = ranked(answers, history.items, 10)
    for row, (answer, stored) in enumerate(zip(answers, lists, strict=True)):
        assert answer["fallback"] is False
        in_stock = stored["item"][tables.in_stock[stored["item"]]]  # the API keeps to items in stock by default
        expected = history.items.index(tables.item_ids[in_stock[:10]])
        np.testing.assert_array_equal(got.items[row, : len(expected)], expected)
    tent = "tent-2p-explorer"
    complements = service.fetch([item_path(tent, "complements", 5)])[0]
    assert complements["items"] and tent not in [entry["item_id"] for entry in complements["items"]]


def test_the_post_purchase_replay_starts_from_the_published_lists(
    service: ShippedService, history: OrderHistory
) -> None:
    events = complement_events(history, history.end_time - 60 * 86_400, 14)
    assert events.n_anchors > 20
    answers = post_purchase_answers(service, events, history, 5)
    assert answers.items.shape == (events.n_anchors, 5)
    assert (answers.items[:, 0] >= 0).all()  # every anchor gets an answer
    assert not (answers.items == events.anchor_items[:, None]).any()  # never the item just bought
