"""Training from exported events (``recommender.data.events``): purchases deduplicated against the order file by
order id, views and adds to cart as weighted signals that move the for-you models and nothing else, rejects with
their part and row, signals kept to time in the splits, and a shopper who only browsed gets a personal list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.bundle import BundleConfig, ModelBundle
from recommender.data import fingerprint, load_orders
from recommender.data.events import EventWeights
from recommender.errors import UnreadableFileError
from recommender.evaluation import split_by_time, split_last_order
from recommender.models.collaborative import CollaborativeConfig
from tests.events_files import write_events

DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01
# ALS that learns something from 20 customers (the defaults' regularization is for shops of thousands)
SMALL = BundleConfig(collaborative=CollaborativeConfig(factors=4, regularization=0.1, weighting="alpha", alpha=10))


def _orders(path: Path) -> Path:
    """20 customers: c0..c9 buy the a-items together, c10..c19 the b-items; two orders each."""
    lines = ["order_id,customer_id,item_id,ordered_at,quantity,price"]
    for c in range(20):
        group = "a" if c < 10 else "b"
        for n in range(2):
            for i in range(3):
                item = f"{group}{(c + n + i) % 6}"
                lines.append(f"o{c}-{n},c{c},{item},{T0 + (n * 10 + c) * DAY},1,2.0")
    path.write_text("\n".join(lines) + "\n")
    return path


def _events(directory: Path) -> Path:
    late = T0 + 40 * DAY
    rows: list[dict[str, object]] = [
        {"customer_id": "guest-1", "type": "view", "item_id": f"b{i}", "at": late + i} for i in range(4)
    ]
    rows += [
        {"customer_id": "guest-1", "type": "add_to_cart", "item_id": "b1", "at": late + 10},
        {"customer_id": "c0", "type": "view", "item_id": "b2", "at": late},
        # the order file's order o3-1 sent as events too: dropped
        {"customer_id": "c3", "type": "purchase", "item_id": "a0", "at": late, "order_id": "o3-1", "quantity": 1},
        # a new order from events, sent twice (a retry): one line
        {"customer_id": "c4", "type": "purchase", "item_id": "a5", "at": late, "order_id": "web-9", "quantity": 2},
        {"customer_id": "c4", "type": "purchase", "item_id": "a5", "at": late, "order_id": "web-9", "quantity": 2},
        # a purchase without order id: an order of its customer and second
        {"customer_id": "guest-2", "type": "purchase", "item_id": "b0", "at": late + 5, "quantity": 1},
        {"customer_id": "c5", "type": "impression", "item_id": "a1", "at": late},
        # unusable rows
        {"customer_id": "", "type": "view", "item_id": "a1", "at": late},
        {"customer_id": "c6", "type": "wishlist", "item_id": "a1", "at": late},
        {"customer_id": "c6", "type": "purchase", "item_id": "a1", "at": late, "order_id": "x", "quantity": 0},
    ]
    return write_events(directory, rows)


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return _orders(tmp_path / "orders.csv"), _events(tmp_path / "events")


def test_events_become_signals_and_order_lines_with_dedup_and_rejects(data: tuple[Path, Path]) -> None:
    orders, events = data
    plain = load_orders(orders)
    result = load_orders(orders, events_path=events, event_weights=EventWeights(view_weight=0.2))
    summary = result.summary.events
    assert summary is not None
    assert summary.signals_by_type == {"view": 5, "add_to_cart": 1}
    assert (summary.purchase_lines, summary.purchases_in_orders, summary.purchases_resent) == (2, 1, 1)
    assert summary.ignored_by_type == {"impression": 1}
    assert summary.rejected_by_reason == {
        "empty customer_id": 1,
        "unknown event type": 1,
        "non-positive quantity": 1,
    }
    history = result.history
    assert history.n_lines == plain.history.n_lines + 2
    assert history.n_orders == plain.history.n_orders + 2
    assert {"guest-1", "guest-2"} <= set(history.customers.ids.tolist())
    weights = sorted(history.signals.weight.tolist())
    assert weights == pytest.approx([0.2] * 5 + [0.5])
    events_rejects = result.rejects.filter(result.rejects["source"] == "events")
    assert events_rejects.height == 3
    assert set(events_rejects["part"].to_list()) == {"date=2026-02-10/part-1-0.parquet"}
    assert sorted(events_rejects["line"].to_list()) == [12, 13, 14]
    assert fingerprint(history)["fingerprint"] != fingerprint(plain.history)["fingerprint"]
    assert fingerprint(history)["signals"] == "6"


def test_a_missing_event_directory_is_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="no such event directory"):
        load_orders(_orders(tmp_path / "orders.csv"), events_path=tmp_path / "nowhere")


def test_a_shopper_who_only_browsed_gets_a_personal_for_you_list(data: tuple[Path, Path]) -> None:
    orders, events = data
    history = load_orders(orders, events_path=events).history
    bundle = ModelBundle.fit(history, SMALL)
    guest = history.customers.index(np.array(["guest-1"]))
    ranked = bundle.surface_model("for_you").recommend(guest, 4)
    items = set(history.items.external(ranked.items[0][ranked.items[0] >= 0]).tolist())
    assert items and all(item.startswith("b") for item in items), items  # the b-items they browsed, not popular ones
    als = bundle.models["collaborative"].recommend(guest, 4)
    assert all(item.startswith("b") for item in history.items.external(als.items[0]).tolist())


def test_the_weights_change_the_for_you_fit_and_not_next_purchase(data: tuple[Path, Path]) -> None:
    orders, events = data
    light = load_orders(orders, events_path=events, event_weights=EventWeights(view_weight=0.05)).history
    heavy = load_orders(orders, events_path=events, event_weights=EventWeights(view_weight=1.0)).history
    fits = [ModelBundle.fit(h, SMALL) for h in (light, heavy)]
    light_ease, heavy_ease = (b.models["for_you"].ease.item_weights for b in fits)  # type: ignore[attr-defined]
    assert not np.allclose(light_ease, heavy_ease)
    light_als, heavy_als = (b.models["collaborative"].item_factors for b in fits)  # type: ignore[attr-defined]
    assert not np.allclose(light_als, heavy_als)
    assert (light.customer_items("count") != heavy.customer_items("count")).nnz == 0  # purchases alone
    assert fits[0].models["complements"].recommend(np.arange(4), 3).items.tolist() == (
        fits[1].models["complements"].recommend(np.arange(4), 3).items.tolist()
    )


def test_splits_keep_the_signals_to_time(data: tuple[Path, Path]) -> None:
    orders, events = data
    history = load_orders(orders, events_path=events).history
    before, _ = split_by_time(history, T0 + 40 * DAY)
    assert len(before.signals) == 0 and len(history.signals) == 6
    split = split_last_order(history)
    c0 = int(history.customers.index(np.array(["c0"]))[0])
    assert c0 in split.customers.tolist()
    kept = split.train.signals
    assert not np.any(kept.customer == c0)  # c0's view came after their held-out order
    guest = int(history.customers.index(np.array(["guest-1"]))[0])
    assert int(np.sum(kept.customer == guest)) == 5  # not evaluated: every signal stays
