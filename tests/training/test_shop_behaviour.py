"""What a shop relies on, checked on the bundle the training job registers, fitted on a generated shop.

The shop plants tent -> sleeping bag (never the reverse), coffee every ~2 weeks per customer, durables
bought once; these tests ask the trained models for exactly those behaviours, in external ids.
"""

from __future__ import annotations

import numpy as np
import pytest

from recommender.synthetic import Shop, ShopConfig, generate_shop
from tests.conftest import SHOP_CUSTOMERS, SHOP_SEED


@pytest.fixture(scope="module")
def shop_truth() -> Shop:
    """The same generated shop as the ``shop`` fixture's files, with its planted facts."""
    return generate_shop(ShopConfig(customers=SHOP_CUSTOMERS, seed=SHOP_SEED))


def _lists(bundle, ids: list[str], surface: str, k: int, now: int | None = None) -> dict[str, list[str]]:
    table = bundle.recommend(ids, surface, k=k, now=now)
    out: dict[str, list[str]] = {i: [] for i in ids}
    for query, item in zip(table["id"], table["item_id"], strict=True):
        out[str(query)].append(str(item))
    return out


def test_every_tent_offers_a_sleeping_bag_in_its_top_3(trained, shop_truth: Shop) -> None:
    tents = list(shop_truth.planted.tents)
    bags = set(shop_truth.planted.sleeping_bags)
    lists = _lists(trained.bundle, tents, "complements", k=3)
    for tent in tents:
        assert bags & set(lists[tent]), f"{tent} offers {lists[tent]}"
    table = trained.bundle.recommend(tents, "complements", k=3)
    assert not table["fallback"].any()


def test_no_sleeping_bag_offers_a_tent(trained, shop_truth: Shop) -> None:
    tents = set(shop_truth.planted.tents)
    bags = list(shop_truth.planted.sleeping_bags)
    lists = _lists(trained.bundle, bags, "complements", k=50)
    for bag in bags:
        assert not tents & set(lists[bag]), f"{bag} offers a tent: {lists[bag]}"


def test_memory_cards_follow_cameras_and_ink_follows_printers(trained, shop_truth: Shop) -> None:
    planted = shop_truth.planted
    for anchors, wanted in ((planted.cameras, planted.memory_cards), (planted.printers, planted.inks)):
        lists = _lists(trained.bundle, list(anchors), "complements", k=3)
        for anchor in anchors:
            assert set(wanted) & set(lists[anchor]), f"{anchor} offers {lists[anchor]}"


def test_a_coffee_buyer_who_is_due_gets_coffee_in_the_next_purchase_top_3(trained, shop_truth: Shop) -> None:
    due = shop_truth.due_cycles("coffees", tolerance_days=1.0)
    assert len(due) >= 5, "the shop should have coffee buyers due at its end"
    coffees = set(shop_truth.planted.coffees)
    end = int(shop_truth.config.end_time)
    customers = [str(c) for c in due["customer_id"]]
    lists = _lists(trained.bundle, customers, "next_purchase", k=3, now=end)
    missing = [c for c in customers if not coffees & set(lists[c])]
    assert not missing, f"due coffee buyers without coffee in their top 3: {missing[:5]}"


def test_durables_bought_once_do_not_come_back_in_next_purchase(trained, shop_truth: Shop) -> None:
    orders = shop_truth.orders
    tents = set(shop_truth.planted.tents)
    buyers = orders.filter(orders["item_id"].is_in(list(tents)))["customer_id"].unique().to_list()[:200]
    lists = _lists(trained.bundle, [str(b) for b in buyers], "next_purchase", k=10)
    for buyer in buyers:
        assert not tents & set(lists[str(buyer)]), f"{buyer} is offered a tent again: {lists[str(buyer)]}"


def test_for_you_never_contains_an_already_bought_item(trained) -> None:
    bundle = trained.bundle
    history = trained.load.history
    customers = bundle.customers.ids
    table = bundle.recommend(list(customers), "for_you", k=20)
    assert not table["fallback"].any()
    bought = history.customer_items("binary")
    rows = bundle.customers.index(table["id"])
    cols = bundle.items.index(table["item_id"])
    assert np.all(rows >= 0) and np.all(cols >= 0)
    assert bought[rows, cols].sum() == 0
    assert len(table["id"]) == 20 * len(customers)


def test_unknown_ids_get_marked_popular_fallbacks(trained, shop_truth: Shop) -> None:
    bundle = trained.bundle
    table = bundle.recommend(["no-such-customer"], "for_you", k=5)
    assert table["fallback"].all() and len(table["item_id"]) == 5
    popular = bundle.recommend(["anyone"], "popular", k=5)
    assert list(table["item_id"]) == list(popular["item_id"])


def test_similar_items_of_a_tent_are_other_tents_not_its_complements(trained, shop_truth: Shop) -> None:
    tents = list(shop_truth.planted.tents)
    lists = _lists(trained.bundle, tents, "similar", k=4)
    for tent in tents:
        assert lists[tent], tent
        assert set(lists[tent]) <= set(tents) - {tent}, f"{tent}: {lists[tent]}"
    # nobody buys two tents: tents are alike through what their buyers also buy (a real answer, no fallback)
    assert not trained.bundle.recommend(tents, "similar", k=4)["fallback"].any()
