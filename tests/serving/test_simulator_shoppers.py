"""The simulated shoppers: drawn from the generated shop's truth, deterministic per seed, and behaving as the
truth says (favourites and due repeats over preferred categories over the rest, planted complements of what
they own, durables bought once, nothing out of stock in a cart, a position bias)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recommender.synthetic import Shop, ShopConfig, generate_shop
from serving.simulator.shoppers import Behaviour, Probabilities, Shopper, draw_shoppers
from serving.simulator.truth import ShopTruth, shop_truth


@pytest.fixture(scope="module")
def shop() -> Shop:
    return generate_shop(ShopConfig(customers=600, seed=5))


@pytest.fixture(scope="module")
def truth(shop: Shop) -> ShopTruth:
    return shop_truth(shop)


def shopper(**fields: object) -> Shopper:
    base: dict[str, object] = {
        "number": 0,
        "customer_id": "c-test",
        "known": True,
        "categories": ("Books",),
        "favourites": frozenset(),
        "owned": set(),
        "due": set(),
        "cycle_items": frozenset(),
        "rng": np.random.default_rng(0),
    }
    return Shopper(**(base | fields))  # type: ignore[arg-type]


def test_the_truth_is_the_generators(shop: Shop, truth: ShopTruth) -> None:
    tastes = shop.planted.tastes.filter(shop.planted.tastes["customer_id"] == "c000042").sort("slot")
    customer = truth.customers["c000042"]
    assert customer.categories == tuple(tastes["category"])
    assert customer.favourites == set(tastes["item_id"])
    assert customer.bought == set(shop.orders.filter(shop.orders["customer_id"] == "c000042")["item_id"])
    assert len(truth.customers) == shop.config.customers
    tent = shop.planted.tents[0]
    assert truth.complements[tent][0] == shop.planted.matches[tent]
    assert set(truth.complements[tent]) == set(shop.planted.sleeping_bags)
    assert set(shop.planted.printers) <= truth.durables and not set(shop.planted.inks) & truth.durables
    due = shop.due_cycles("coffees", 3.0)
    for row in due.head(5).iter_rows(named=True):
        assert row["item_id"] in truth.customers[row["customer_id"]].due


def test_the_same_seed_draws_the_same_shoppers_and_the_same_clicks(truth: ShopTruth) -> None:
    def run(seed: int) -> tuple[list[str], list[tuple[str, ...]], list[list[str]]]:
        shoppers = draw_shoppers(truth, 40, seed, 0.25, run_tag="t")
        behaviour = Behaviour(truth)
        shown = list(truth.items)[:10]
        return (
            [s.customer_id for s in shoppers],
            [s.categories for s in shoppers],
            [behaviour.clicks(s, shown) for s in shoppers],
        )

    assert run(3) == run(3)
    assert run(3)[0] != run(4)[0]
    ids, _, _ = run(3)
    assert len(set(ids)) == 40, "every shopper is a different customer"


def test_known_customers_and_guests(truth: ShopTruth) -> None:
    shoppers = draw_shoppers(truth, 400, 1, 0.25, run_tag="abc")
    guests = [s for s in shoppers if not s.known]
    assert 70 <= len(guests) <= 130
    assert all(s.customer_id.startswith("guest-abc-") and not s.owned and 2 <= len(s.categories) <= 4 for s in guests)
    known = [s for s in shoppers if s.known]
    assert all(s.customer_id in truth.customers for s in known)
    assert all(s.categories == truth.customers[s.customer_id].categories for s in known)
    assert all(not s.known for s in draw_shoppers(truth, 5, 1, 1.0, run_tag="x"))


def test_interest_follows_the_truth(shop: Shop, truth: ShopTruth) -> None:
    behaviour = Behaviour(truth)
    p = Probabilities()
    books = truth.by_category["Books"]
    fav, other_book = books[0], books[1]
    garden = truth.by_category["Garden"][0]
    tent, bag = shop.planted.tents[0], shop.planted.matches[shop.planted.tents[0]]
    other_bag = next(b for b in shop.planted.sleeping_bags if b != bag)
    coffee = shop.planted.coffees[0]
    someone = shopper(favourites=frozenset({fav}), owned={tent}, due={coffee}, cycle_items=frozenset({coffee}))
    assert behaviour.interest(someone, fav) == p.favourite
    assert behaviour.interest(someone, other_book) == p.preferred
    assert behaviour.interest(someone, garden) == p.other
    assert behaviour.interest(someone, tent) == p.owned_durable, "a durable is bought once"
    assert behaviour.interest(someone, bag) == p.matching_complement
    assert behaviour.interest(someone, other_bag) == p.complement
    assert behaviour.interest(someone, coffee) == p.due_repeat
    assert behaviour.interest(shopper(), bag) == p.other, "no tent, no interest in sleeping bags"
    behaviour.bought(someone, bag)
    behaviour.bought(someone, coffee)
    assert behaviour.interest(someone, other_bag) == p.other, "a sleeping bag owned: the complement is done"
    assert coffee not in someone.due


def test_clicks_carts_and_purchases(shop: Shop, truth: ShopTruth) -> None:
    behaviour = Behaviour(truth)
    out = next(i for i in shop.planted.out_of_stock if i in truth.items)
    tent = shop.planted.tents[0]
    someone = shopper(favourites=frozenset({out}), owned={tent})
    assert behaviour.cart_probability(someone, out) == 0.0, "out of stock: never in a cart"
    assert behaviour.cart_probability(someone, tent) == 0.0
    bias = [behaviour.position_bias(i) for i in range(10)]
    assert bias[0] == 1.0 and all(a > b for a, b in itertools.pairwise(bias))
    book = truth.by_category["Books"][0]
    assert behaviour.click_probability(someone, book, 0) > behaviour.click_probability(someone, book, 5)
    # the draws follow the probabilities: 4,000 looks at a preferred item in the first and the sixth place
    first = np.mean([book in behaviour.clicks(someone, [book]) for _ in range(4000)])
    sixth = np.mean([book in behaviour.clicks(someone, ["x"] * 5 + [book]) for _ in range(4000)])
    assert abs(first - behaviour.click_probability(someone, book, 0)) < 0.02
    assert abs(sixth - behaviour.click_probability(someone, book, 5)) < 0.02


def test_organic_purchases_are_favourites_in_stock(truth: ShopTruth) -> None:
    behaviour = Behaviour(truth, Probabilities(organic=1.0))
    in_stock = [i for i, item in truth.items.items() if item.in_stock and item.category == "Books"][:3]
    someone = shopper(favourites=frozenset(in_stock))
    bought = {behaviour.organic_purchase(someone) for _ in range(50)}
    assert bought == set(in_stock)
    assert Behaviour(truth, Probabilities(organic=0.0)).organic_purchase(someone) is None
