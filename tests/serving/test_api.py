"""The v1 HTTP API through real HTTP (httpx over ASGI, the app's real lifespan) against a real Redis holding
a real publish of the session's trained bundle: contracts, fallbacks, events and cart complements."""

from __future__ import annotations

import re
from typing import Any

import httpx
import numpy as np
import pytest

from recommender.bundle import ModelBundle
from recommender.synthetic import ShopConfig, generate_shop
from serving.cache import keys_of
from serving.publish import PublishReport
from tests.conftest import SHOP_CUSTOMERS, SHOP_SEED
from tests.serving.conftest import serve

pytestmark = pytest.mark.anyio
LIST_FIELDS = {"model_version", "recommendation_id", "fallback", "items"}


@pytest.fixture(scope="module")
def planted():
    return generate_shop(ShopConfig(customers=SHOP_CUSTOMERS, seed=SHOP_SEED)).planted


def ids_of(body: dict[str, Any]) -> list[str]:
    return [row["item_id"] for row in body["items"]]


def category_of(bundle: ModelBundle, item_ids: list[str]) -> list[str]:
    cats = bundle.catalog.category[bundle.items.index(item_ids)]
    return bundle.catalog.categories.external(cats).tolist()


def name_of(bundle: ModelBundle, item_id: str) -> str:
    return str(bundle.catalog.name[bundle.items.index_one(item_id)])


def customer_with_tent_in_list(bundle: ModelBundle, planted) -> str:
    """A customer whose precomputed for-you list (k=100) offers a tent, and who never bought the first tent."""
    ids = bundle.customers.ids[:300]
    rows = bundle.recommend(ids, "for_you", k=100)
    with_tent = set(rows["id"][np.isin(rows["item_id"], planted.tents)].tolist())
    return next(c for c in ids.tolist() if c in with_tent)


# the list contract ----------------------------------------------------------------------------------------
async def test_for_you_answers_the_published_list_with_the_contract_fields(
    api: httpx.AsyncClient, bundle: ModelBundle, published: PublishReport
) -> None:
    who = bundle.customers.ids[3]
    response = await api.get(f"/v1/users/{who}/recommendations")
    assert response.status_code == 200
    body = response.json()
    assert LIST_FIELDS | {"customer_id"} <= set(body)
    assert body["customer_id"] == who
    assert body["fallback"] is False
    assert body["model_version"] == f"1@{published.version}"
    assert re.fullmatch(r"[0-9a-f]{32}", body["recommendation_id"])
    expected = bundle.recommend([who], "for_you", k=10)["item_id"].tolist()
    assert ids_of(body) == expected  # the default k is 10, best first
    assert all(row["reason"] == "customers with similar taste buy this" for row in body["items"])
    scores = [row["score"] for row in body["items"]]
    assert scores == sorted(scores, reverse=True)
    again = (await api.get(f"/v1/users/{who}/recommendations")).json()
    assert again["recommendation_id"] != body["recommendation_id"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/users/c000001/recommendations",
        "/v1/users/c000001/next-purchase",
        "/v1/items/tent-2p-explorer/complements",
        "/v1/items/tent-2p-explorer/similar",
        "/v1/popular",
    ],
)
async def test_k_outside_1_to_100_is_422_with_a_message(api: httpx.AsyncClient, path: str) -> None:
    for k in (0, 101, "ten"):
        response = await api.get(path, params={"k": k})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "k"]
        assert response.json()["detail"][0]["msg"]
    for k in (1, 100):
        response = await api.get(path, params={"k": k})
        assert response.status_code == 200
        assert 0 < len(response.json()["items"]) <= k


async def test_offset_pages_continue_without_overlap(api: httpx.AsyncClient, bundle: ModelBundle) -> None:
    who = bundle.customers.ids[5]
    url = f"/v1/users/{who}/recommendations"
    first = ids_of((await api.get(url, params={"k": 5, "offset": 0})).json())
    second = ids_of((await api.get(url, params={"k": 5, "offset": 5})).json())
    whole = ids_of((await api.get(url, params={"k": 10})).json())
    assert first + second == whole
    assert len(set(whole)) == 10
    assert (await api.get(url, params={"offset": -1})).status_code == 422


async def test_category_and_stock_filters(api: httpx.AsyncClient, bundle: ModelBundle) -> None:
    who = bundle.customers.ids[7]
    url = f"/v1/users/{who}/recommendations"
    books = (await api.get(url, params={"category": "Books", "k": 20})).json()
    assert books["items"]
    assert set(category_of(bundle, ids_of(books))) == {"Books"}
    stocked = (await api.get(url, params={"in_stock": "true", "k": 100})).json()
    assert bundle.catalog.in_stock[bundle.items.index(ids_of(stocked))].all()
    default = (await api.get(url, params={"k": 100})).json()  # in stock by default
    assert bundle.catalog.in_stock[bundle.items.index(ids_of(default))].all()
    everything = (await api.get(url, params={"in_stock": "false", "k": 100})).json()
    assert not bundle.catalog.in_stock[bundle.items.index(ids_of(everything))].all()  # the filter did something
    unknown = (await api.get(url, params={"category": "No Such Aisle"})).json()
    assert unknown["fallback"] is True
    assert ids_of(unknown) == ids_of((await api.get("/v1/popular")).json())


async def test_next_purchase_offers_repeat_items_with_their_interval(
    api: httpx.AsyncClient, bundle: ModelBundle, planted
) -> None:
    cycles = planted.coffee_cycles.head(20)
    repeat_reasons = 0
    for who in cycles["customer_id"].to_list():
        body = (await api.get(f"/v1/users/{who}/next-purchase", params={"k": 20})).json()
        assert body["fallback"] is False
        published = set(bundle.recommend([who], "next_purchase", k=100)["item_id"].tolist())
        assert set(ids_of(body)) <= published
        repeat_reasons += sum(row["reason"].startswith("you buy this about every") for row in body["items"])
    assert repeat_reasons >= 20


async def test_a_tent_is_completed_by_a_sleeping_bag_never_the_reverse(
    api: httpx.AsyncClient, bundle: ModelBundle, planted
) -> None:
    tent = planted.tents[0]
    body = (await api.get(f"/v1/items/{tent}/complements", params={"k": 20})).json()
    assert body["item_id"] == tent and body["fallback"] is False
    bags = [row for row in body["items"] if row["item_id"] in planted.sleeping_bags]
    assert bags
    assert re.fullmatch(
        rf"bought by \d+% of {re.escape(name_of(bundle, tent))} buyers within \d+ days", bags[0]["reason"]
    )
    assert not set(ids_of(body)) & set(planted.tents)
    for bag in planted.sleeping_bags:
        offered = ids_of((await api.get(f"/v1/items/{bag}/complements", params={"k": 100})).json())
        assert not set(offered) & set(planted.tents)


async def test_similar_items_exclude_the_item_and_name_it(api: httpx.AsyncClient, bundle: ModelBundle) -> None:
    item = bundle.items.ids[10]
    body = (await api.get(f"/v1/items/{item}/similar", params={"k": 10})).json()
    assert body["fallback"] is False
    assert item not in ids_of(body)
    published = bundle.recommend([item], "similar", k=100)["item_id"].tolist()
    in_stock = bundle.catalog.in_stock[bundle.items.index(published)]
    assert ids_of(body) == [i for i, ok in zip(published, in_stock, strict=True) if ok][:10]  # in stock by default
    assert all(row["reason"] == f"similar to {name_of(bundle, item)}" for row in body["items"])


# fallbacks ------------------------------------------------------------------------------------------------
async def test_unknown_customer_gets_popular_marked_as_fallback(api: httpx.AsyncClient) -> None:
    popular = (await api.get("/v1/popular")).json()
    assert popular["fallback"] is False and len(popular["items"]) == 10
    for path in ("recommendations", "next-purchase"):
        body = (await api.get(f"/v1/users/nobody-we-know/{path}")).json()
        assert body["fallback"] is True
        assert body["customer_id"] == "nobody-we-know"
        assert ids_of(body) == ids_of(popular)
        assert {row["reason"] for row in body["items"]} == {"popular right now"}


async def test_unknown_item_gets_popular_and_a_known_one_its_category(
    api: httpx.AsyncClient, bundle: ModelBundle
) -> None:
    unknown = (await api.get("/v1/items/not-in-the-catalog/complements")).json()
    assert unknown["fallback"] is True and unknown["item_id"] == "not-in-the-catalog"
    assert ids_of(unknown) == ids_of((await api.get("/v1/popular")).json())
    # a catalog item without complement evidence (none of its rows claims a share): its list is what sells
    # after any purchase, in the model's order, marked as a fallback, never the item itself
    model = bundle.models["complements"]
    ranked = model.recommend(np.arange(len(bundle.items)), 10)
    rows = np.repeat(np.arange(len(bundle.items)), 10)
    shares = model.shares(rows, ranked.items.ravel()).reshape(ranked.items.shape)
    lonely = np.flatnonzero(((shares < 0) | (ranked.items < 0)).all(axis=1) & (ranked.items[:, 0] >= 0))
    item = str(bundle.items.ids[lonely[0]])
    body = (await api.get(f"/v1/items/{item}/complements")).json()
    assert body["fallback"] is True
    assert ids_of(body) == list(bundle.items.external(ranked.items[lonely[0]][ranked.items[lonely[0]] >= 0]))
    assert item not in ids_of(body)
    assert {row["reason"] for row in body["items"]} == {"often bought within 14 days after a purchase"}


async def test_popular_per_category(api: httpx.AsyncClient, bundle: ModelBundle) -> None:
    body = (await api.get("/v1/popular", params={"category": "Tents", "k": 3})).json()
    assert body["category"] == "Tents" and body["fallback"] is False
    assert len(body["items"]) == 3
    assert set(category_of(bundle, ids_of(body))) == {"Tents"}
    assert body["items"][0]["reason"] == "popular in Tents"
    unknown = (await api.get("/v1/popular", params={"category": "Spaceships"})).json()
    assert unknown["fallback"] is True and len(unknown["items"]) == 10


# events and the real-time answer ----------------------------------------------------------------------------
async def test_a_purchase_reshapes_the_next_for_you_answer(
    api: httpx.AsyncClient, bundle: ModelBundle, planted
) -> None:
    who = customer_with_tent_in_list(bundle, planted)
    tent = planted.tents[0]
    url = f"/v1/users/{who}/recommendations"
    before = ids_of((await api.get(url, params={"k": 100})).json())
    assert set(before) & set(planted.tents)
    response = await api.post("/v1/events", json={"customer_id": who, "type": "purchase", "item_ids": [tent]})
    assert response.status_code == 202
    after = (await api.get(url, params={"k": 100})).json()
    assert after["fallback"] is False
    assert not set(ids_of(after)) & set(planted.tents)  # the tent, and no second tent
    complements = (await api.get(f"/v1/items/{tent}/complements")).json()
    first = after["items"][0]
    assert first["item_id"] == complements["items"][0]["item_id"]
    assert first["item_id"] in planted.sleeping_bags
    assert f"goes with the {name_of(bundle, tent)} you bought" in first["reason"]


async def test_a_new_customers_purchase_personalizes_their_first_answer(
    api: httpx.AsyncClient, bundle: ModelBundle, planted
) -> None:
    who, tent = "first-time-buyer", planted.tents[0]
    assert (await api.get(f"/v1/users/{who}/recommendations")).json()["fallback"] is True
    await api.post("/v1/events", json={"customer_id": who, "type": "purchase", "item_ids": [tent]})
    body = (await api.get(f"/v1/users/{who}/recommendations")).json()
    assert body["fallback"] is False
    assert body["items"][0]["item_id"] in planted.sleeping_bags
    assert tent not in ids_of(body)


async def test_an_old_purchase_brings_no_complements(api: httpx.AsyncClient, bundle: ModelBundle, planted) -> None:
    who = bundle.customers.ids[11]
    url = f"/v1/users/{who}/recommendations"
    before = ids_of((await api.get(url)).json())
    event = {"customer_id": who, "type": "purchase", "item_ids": [planted.tents[0]], "timestamp": 1_000_000_000}
    assert (await api.post("/v1/events", json=event)).status_code == 202
    after = (await api.get(url)).json()
    assert all(row["reason"].startswith("goes with") is False for row in after["items"])
    assert [i for i in before if i not in planted.tents][:5] == [i for i in ids_of(after) if i not in planted.tents][:5]


async def test_a_bought_repeat_item_waits_for_its_interval(api: httpx.AsyncClient, planted) -> None:
    url = "/v1/users/{}/next-purchase"
    found: list[tuple[str, str]] = []  # (customer, one of their repeat items)
    for who in planted.coffee_cycles["customer_id"].to_list()[:30]:
        body = (await api.get(url.format(who), params={"k": 20})).json()
        repeats = [row["item_id"] for row in body["items"] if row["reason"].startswith("you buy this")]
        if repeats:
            found.append((who, repeats[0]))
        if len(found) == 2:
            break
    assert len(found) == 2, "coffee drinkers should have repeat items in their next purchase lists"
    (just_now, item), (long_ago, other_item) = found
    await api.post("/v1/events", json={"customer_id": just_now, "type": "purchase", "item_ids": [item]})
    assert item not in ids_of((await api.get(url.format(just_now), params={"k": 100})).json())
    old = {"customer_id": long_ago, "type": "purchase", "item_ids": [other_item], "timestamp": "2001-01-01T00:00:00Z"}
    await api.post("/v1/events", json=old)
    assert other_item in ids_of((await api.get(url.format(long_ago), params={"k": 100})).json())  # due again


async def test_event_validation_and_timestamps(api: httpx.AsyncClient) -> None:
    base = {"customer_id": "c000001", "type": "view", "item_ids": ["tent-2p-explorer"]}
    for timestamp in ("2024-05-01T10:00:00Z", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00", 1714557600):
        response = await api.post("/v1/events", json={**base, "timestamp": timestamp})
        assert response.status_code == 202
        assert response.json()["at"] == 1714557600
    new_item = await api.post("/v1/events", json={**base, "item_ids": ["brand-new-item", "tent-2p-explorer"]})
    assert new_item.status_code == 202
    assert new_item.json()["item_ids"] == ["brand-new-item", "tent-2p-explorer"]  # kept: it may be a new item
    for bad in ({**base, "type": "wishlist"}, {**base, "item_ids": []}, {"type": "view", "item_ids": ["x"]}):
        assert (await api.post("/v1/events", json=bad)).status_code == 422
    broken = await api.post(
        "/v1/events", content=b'{"customer_id": "c1", ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422


async def test_events_are_bounded_and_expire(redis_url: str, published: PublishReport, redis_client) -> None:
    async with serve(redis_url, events_max=3, events_ttl_seconds=120) as api:
        for n in range(5):
            event = {"customer_id": "c000002", "type": "view", "item_ids": [f"item-{n}"]}
            assert (await api.post("/v1/events", json=event)).status_code == 202
    key = keys_of(redis_client).events("c000002")  # recs:events:c000002 on one node
    assert redis_client.llen(key) == 3
    assert 0 < redis_client.ttl(key) <= 120


# cart ---------------------------------------------------------------------------------------------------------
async def test_cart_complements_sum_over_the_cart_without_substitutes(
    api: httpx.AsyncClient, bundle: ModelBundle, planted
) -> None:
    one, two = planted.tents[0], planted.tents[1]
    body = (await api.post("/v1/cart/complements", json={"item_ids": [one], "k": 20})).json()
    assert body["fallback"] is False and body["item_ids"] == [one] and body["customer_id"] is None
    assert set(ids_of(body)) & set(planted.sleeping_bags)
    assert "Tents" not in category_of(bundle, ids_of(body))
    assert body["items"][0]["reason"] == f"goes with the {name_of(bundle, one)} in your cart"
    both = (await api.post("/v1/cart/complements", json={"item_ids": [one, two], "k": 100})).json()
    single = {}
    for tent in (one, two):
        rows = (await api.get(f"/v1/items/{tent}/complements", params={"k": 100})).json()["items"]
        single[tent] = {row["item_id"]: row["score"] for row in rows if row["reason"].startswith("bought by")}
    summed = [row for row in both["items"] if row["reason"].endswith("in your cart")]
    assert len(summed) >= 5
    assert any(row["item_id"] in single[one] and row["item_id"] in single[two] for row in summed)
    for row in summed:
        expected = single[one].get(row["item_id"], 0.0) + single[two].get(row["item_id"], 0.0)
        assert row["score"] == pytest.approx(expected, rel=1e-5)


async def test_cart_merges_the_customers_recent_cart_adds(api: httpx.AsyncClient, bundle: ModelBundle, planted) -> None:
    who, tent, coffee = "shopper-1", planted.tents[0], planted.coffees[0]
    await api.post("/v1/events", json={"customer_id": who, "type": "add_to_cart", "item_ids": [tent]})
    body = (await api.post("/v1/cart/complements", json={"item_ids": [coffee], "customer_id": who, "k": 30})).json()
    assert body["item_ids"] == [coffee, tent]
    offered = ids_of(body)
    assert set(offered) & set(planted.sleeping_bags)
    assert not {"Tents", "Coffee"} & set(category_of(bundle, offered))
    bag = next(i for i in offered if i in planted.sleeping_bags)
    await api.post("/v1/events", json={"customer_id": who, "type": "purchase", "item_ids": [bag]})
    later = (await api.post("/v1/cart/complements", json={"item_ids": [coffee], "customer_id": who, "k": 30})).json()
    assert bag not in ids_of(later)  # just bought


async def test_cart_validation_and_unknown_items(api: httpx.AsyncClient) -> None:
    for bad in (
        {"item_ids": []},
        {"item_ids": ["a"] * 101},
        {"item_ids": ["a"], "k": 0},
        {"item_ids": ["a"], "k": 101},
    ):
        assert (await api.post("/v1/cart/complements", json=bad)).status_code == 422
    broken = await api.post(
        "/v1/cart/complements", content=b"{item_ids: [", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    body = (await api.post("/v1/cart/complements", json={"item_ids": ["never-heard-of-it"]})).json()
    assert body["fallback"] is True
    assert ids_of(body) == ids_of((await api.get("/v1/popular")).json())


async def test_openapi_docs_are_served(api: httpx.AsyncClient) -> None:
    assert (await api.get("/docs")).status_code == 200
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert {"/v1/events", "/v1/cart/complements", "/v1/users/{customer_id}/recommendations"} <= set(paths)
