"""End to end: a real ``recs serve`` process on loopback, a real Redis server, a real publish.

The storefront's view: each endpoint's JSON contract, tent -> sleeping bag and not back, a purchase event
changing the very next answer within a second, marked fallbacks for unknown ids, 422 for bad input.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest

from recommender.synthetic import Shop, ShopConfig, generate_shop
from serving.cache import connect_sync
from serving.publish import publish_bundle
from tests.conftest import SHOP_CUSTOMERS, SHOP_SEED
from tests.e2e.serve_process import recs_serve

LIST_FIELDS = {"model_version", "recommendation_id", "fallback", "items"}


@pytest.fixture(scope="module")
def truth() -> Shop:
    return generate_shop(ShopConfig(customers=SHOP_CUSTOMERS, seed=SHOP_SEED))


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def server(redis_server, trained, tmp_path_factory: pytest.TempPathFactory, request) -> Iterator[str]:
    """Publish the trained bundle, start ``recs serve --server <uvicorn|granian>`` on a free port, yield its
    base URL."""
    client = connect_sync(redis_server.url)
    client.flushall()
    publish_bundle(trained.bundle, client, model_name="e2e-recs", model_version="1")
    client.close()
    env = {
        **os.environ,
        "RECS_REDIS_URL": redis_server.url,
        "RECS_MODEL_NAME": "e2e-recs",
        "RECS_HOME": str(tmp_path_factory.mktemp("serve-home")),
    }
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    with recs_serve(env, log, "--server", request.param) as (base, _proc):
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        yield base


def _get(base: str, path: str) -> httpx.Response:
    return httpx.get(base + path, timeout=5)


def _items(response: httpx.Response) -> list[str]:
    return [row["item_id"] for row in response.json()["items"]]


def _assert_list_contract(body: dict, key: str, value: str, k: int) -> None:
    assert set(body) >= LIST_FIELDS, body
    assert body[key] == value
    assert isinstance(body["recommendation_id"], str) and body["recommendation_id"]
    assert isinstance(body["fallback"], bool)
    assert 1 <= len(body["items"]) <= k
    scores = [row["score"] for row in body["items"]]
    assert all(set(row) == {"item_id", "score", "reason"} for row in body["items"])
    assert all(isinstance(row["reason"], str) and row["reason"] for row in body["items"])
    assert len({row["item_id"] for row in body["items"]}) == len(body["items"])
    assert scores == sorted(scores, reverse=True), f"items come best first, scores never increase: {body}"


def test_every_endpoint_answers_its_contract(server: str, trained, truth: Shop) -> None:
    customer = str(trained.bundle.customers.ids[3])
    tent = truth.planted.tents[0]
    for path in (f"/v1/users/{customer}/recommendations?k=7", f"/v1/users/{customer}/next-purchase?k=7"):
        response = _get(server, path)
        assert response.status_code == 200
        _assert_list_contract(response.json(), "customer_id", customer, 7)
        assert response.json()["fallback"] is False
    for path in (f"/v1/items/{tent}/complements?k=4", f"/v1/items/{tent}/similar?k=4"):
        response = _get(server, path)
        assert response.status_code == 200
        _assert_list_contract(response.json(), "item_id", tent, 4)
    popular = _get(server, "/v1/popular?k=5")
    assert popular.status_code == 200 and len(popular.json()["items"]) == 5
    coffee = _get(server, "/v1/popular?k=3&category=Coffee").json()
    assert set(_items_of(coffee)) <= set(truth.catalog.filter(truth.catalog["category"] == "Coffee")["item_id"])
    cart = httpx.post(f"{server}/v1/cart/complements", json={"item_ids": [tent], "k": 3}, timeout=5)
    assert cart.status_code == 200
    assert set(_items_of(cart.json())) & set(truth.planted.sleeping_bags)
    assert tent not in _items_of(cart.json())
    assert _get(server, "/healthz").status_code == 200
    assert _get(server, "/readyz").json()["status"] == "ready"
    assert "recs_requests" in _get(server, "/metrics").text or "http_requests" in _get(server, "/metrics").text
    assert _get(server, "/docs").status_code == 200


def _items_of(body: dict) -> list[str]:
    return [row["item_id"] for row in body["items"]]


def test_tent_leads_to_a_sleeping_bag_and_not_the_reverse(server: str, truth: Shop) -> None:
    bags, tents = set(truth.planted.sleeping_bags), set(truth.planted.tents)
    for tent in tents:
        top3 = _items(_get(server, f"/v1/items/{tent}/complements?k=3"))
        assert bags & set(top3), (tent, top3)
    for bag in bags:
        assert not tents & set(_items(_get(server, f"/v1/items/{bag}/complements?k=100")))


def test_a_purchase_event_changes_the_next_answer_within_a_second(server: str, truth: Shop) -> None:
    orders = truth.orders
    tent = truth.planted.tents[0]
    buyers = set(orders.filter(orders["item_id"].is_in(list(truth.planted.tents)))["customer_id"].to_list())
    customer = next(c for c in sorted(set(orders["customer_id"].to_list())) if c not in buyers)
    before = _get(server, f"/v1/users/{customer}/recommendations?k=5").json()

    sent = time.monotonic()
    event = {"customer_id": customer, "type": "purchase", "item_ids": [tent]}
    assert httpx.post(f"{server}/v1/events", json=event, timeout=5).status_code == 202
    while True:
        after = _get(server, f"/v1/users/{customer}/recommendations?k=5").json()
        if _items_of(after) != _items_of(before) or time.monotonic() - sent > 1.0:
            break
    elapsed = time.monotonic() - sent
    assert elapsed <= 1.0, f"no change within 1 s ({elapsed:.2f}s)"
    assert tent not in _items_of(after)
    first = after["items"][0]
    assert first["item_id"] in truth.planted.sleeping_bags
    tent_name = truth.catalog.filter(truth.catalog["item_id"] == tent)["name"][0]
    assert tent_name in first["reason"]


def test_unknown_ids_get_marked_fallbacks(server: str, truth: Shop) -> None:
    user = _get(server, "/v1/users/nobody-knows-me/recommendations?k=5")
    assert user.status_code == 200 and user.json()["fallback"] is True and len(user.json()["items"]) == 5
    item = _get(server, "/v1/items/no-such-item/complements?k=5")
    assert item.status_code == 200 and item.json()["fallback"] is True and item.json()["items"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/users/c000001/recommendations?k=0",
        "/v1/users/c000001/recommendations?k=101",
        "/v1/items/x/similar?k=0",
        "/v1/popular?k=101",
    ],
)
def test_k_out_of_range_is_a_422_with_a_message(server: str, path: str) -> None:
    response = _get(server, path)
    assert response.status_code == 422
    assert "k" in response.text


def test_malformed_json_is_a_422(server: str) -> None:
    for url in (f"{server}/v1/events", f"{server}/v1/cart/complements"):
        response = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}, timeout=5)
        assert response.status_code == 422, response.text
    bad_type = httpx.post(f"{server}/v1/events", json={"customer_id": "c1", "type": "refund", "item_ids": ["x"]})
    assert bad_type.status_code == 422
