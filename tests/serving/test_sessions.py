"""For you through real HTTP on a real publish: a guest's views give a personal answer, a known customer's
views count modestly, and one purchase brings at most ``RECS_FOR_YOU_COMPLEMENTS`` strong complements."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from recommender.bundle import ModelBundle
from recommender.request_time import MIN_COMPLEMENT_SHARE
from recommender.synthetic import ShopConfig, generate_shop
from serving.publish import PublishReport
from tests.conftest import SHOP_CUSTOMERS, SHOP_SEED
from tests.serving.conftest import serve

pytestmark = pytest.mark.anyio
SHARE = re.compile(r"you bought: (\d+)% of its buyers")


@pytest.fixture(scope="module")
def planted():
    return generate_shop(ShopConfig(customers=SHOP_CUSTOMERS, seed=SHOP_SEED)).planted


def name_of(bundle: ModelBundle, item_id: str) -> str:
    return str(bundle.catalog.name[bundle.items.index_one(item_id)])


def complement_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for row in body["items"] if row["reason"].startswith("goes with the")]


async def send(api: httpx.AsyncClient, who: str, kind: str, *items: str) -> None:
    for item in items:
        response = await api.post("/v1/events", json={"customer_id": who, "type": kind, "item_ids": [item]})
        assert response.status_code == 202


async def test_a_guest_who_viewed_tents_gets_a_personal_answer_that_says_why(
    api: httpx.AsyncClient, bundle: ModelBundle, planted
) -> None:
    guest, tent = "visitor-3f9a", planted.tents[0]
    url = f"/v1/users/{guest}/recommendations"
    anonymous = (await api.get(url, params={"k": 10})).json()
    assert anonymous["fallback"] is True
    await send(api, guest, "view", tent)
    body = (await api.get(url, params={"k": 10})).json()
    assert body["fallback"] is False and body["customer_id"] == guest
    similar = [row["item_id"] for row in (await api.get(f"/v1/items/{tent}/similar", params={"k": 10})).json()["items"]]
    first = body["items"][0]
    assert first["item_id"] == similar[0]
    assert first["reason"] == f"because you looked at {name_of(bundle, tent)}"
    assert [row["item_id"] for row in body["items"]] != [row["item_id"] for row in anonymous["items"]]
    # next purchase is about buying again: views say nothing about it, the guest keeps the marked fallback
    assert (await api.get(f"/v1/users/{guest}/next-purchase")).json()["fallback"] is True


async def test_a_guests_cart_leads_to_its_complements_and_leaves_the_list(
    api: httpx.AsyncClient, bundle: ModelBundle, planted
) -> None:
    guest, tent = "session-77", planted.tents[0]
    await send(api, guest, "view", tent)
    await send(api, guest, "add_to_cart", tent)
    body = (await api.get(f"/v1/users/{guest}/recommendations", params={"k": 10})).json()
    assert body["fallback"] is False
    assert tent not in [row["item_id"] for row in body["items"]]
    in_cart = [row for row in body["items"] if row["reason"] == f"goes with the {name_of(bundle, tent)} in your cart"]
    assert in_cart and in_cart[0]["item_id"] in planted.sleeping_bags


async def test_a_known_customers_views_add_at_most_two_rows(
    api: httpx.AsyncClient, bundle: ModelBundle, planted
) -> None:
    who = str(bundle.customers.ids[5])
    url = f"/v1/users/{who}/recommendations"
    before = (await api.get(url, params={"k": 20})).json()
    await send(api, who, "view", *planted.tents[:3])
    after = (await api.get(url, params={"k": 20})).json()
    viewed = [row for row in after["items"] if row["reason"].startswith("because you looked at")]
    assert 1 <= len(viewed) <= 2
    own = [row["item_id"] for row in after["items"] if row not in viewed]
    assert own == [row["item_id"] for row in before["items"]][: len(own)]  # their own list, in its order


@pytest.mark.parametrize("cap", [None, 1])
async def test_a_purchase_brings_at_most_the_cap_of_strong_complements(
    redis_url: str, published: PublishReport, bundle: ModelBundle, planted, cap: int | None
) -> None:
    settings = {} if cap is None else {"for_you_complements": cap}
    async with serve(redis_url, **settings) as api:
        who = str(bundle.customers.ids[7])
        await send(api, who, "purchase", *planted.tents[:1])
        body = (await api.get(f"/v1/users/{who}/recommendations", params={"k": 20})).json()
        every = (await api.get(f"/v1/items/{planted.tents[0]}/complements", params={"k": 20})).json()
    rows = complement_rows(body)
    limit = 3 if cap is None else cap
    with_evidence = [row for row in every["items"] if "%" in row["reason"]]
    assert len(with_evidence) > limit  # without the cap and the minimum share, more of them would come first
    strong = [
        row for row in with_evidence if int(re.search(r"(\d+)%", row["reason"]).group(1)) >= 100 * MIN_COMPLEMENT_SHARE
    ]
    assert len(rows) == min(limit, len(strong))
    assert [row["item_id"] for row in body["items"][: len(rows)]] == [row["item_id"] for row in rows]  # first
    shares = [int(SHARE.search(row["reason"]).group(1)) for row in rows]
    assert min(shares) >= 100 * MIN_COMPLEMENT_SHARE
