"""Merchandising rules and the diversity cap through the real app and a real Redis: each action, start and
end times, a promotion's share, block on fallbacks, the answers' ``rules`` field, the rules' routes and keys."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from recommender.bundle import ModelBundle
from serving.cache import keys_of
from serving.publish import PublishReport
from tests.serving.conftest import serve

pytestmark = pytest.mark.anyio
TENT = "tent-2p-explorer"


def ids_of(body: dict[str, Any]) -> list[str]:
    return [row["item_id"] for row in body["items"]]


def categories(bundle: ModelBundle, item_ids: list[str]) -> list[str]:
    return bundle.catalog.categories.external(bundle.catalog.category[bundle.items.index(item_ids)]).tolist()


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
async def app(redis_url: str, published: PublishReport):
    async with serve(redis_url, version_check_seconds=0) as client:
        yield client


async def add(client: httpx.AsyncClient, **rule: Any) -> str:
    response = await client.post("/v1/rules", json=rule)
    assert response.status_code == 201, response.text
    return response.json()["rule_id"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"action": "pin", "item_id": TENT}, "pin needs an item_id and a position"),
        ({"action": "boost", "category": "Books"}, "boost needs a factor"),
        ({"action": "boost", "category": "Books", "factor": 0.5}, "factor above 1"),
        ({"action": "bury", "category": "Books", "factor": 2}, "between 0 and 1"),
        ({"action": "promote", "category": "Books"}, "promote needs a share"),
        ({"action": "block"}, "exactly one target"),
        ({"action": "block", "item_id": TENT, "category": "Books"}, "exactly one target"),
        ({"action": "block", "item_id": TENT, "colour": "red"}, "Extra inputs are not permitted"),
        ({"action": "block", "item_id": TENT, "surface": "checkout"}, "Input should be"),
        ({"action": "block", "price_min": 10, "price_max": 5}, "price_min is above price_max"),
        ({"action": "block", "item_id": TENT, "starts_at": at(10), "ends_at": at(5)}, "ends_at must be after"),
        ({"action": "block", "item_id": TENT, "context": {}}, "exactly one of category or item_id"),
    ],
)
async def test_invalid_rules_are_422_with_a_reason(app: httpx.AsyncClient, rule: dict, message: str) -> None:
    response = await app.post("/v1/rules", json=rule)
    assert response.status_code == 422
    assert message in str(response.json()["detail"])


async def test_rules_are_stored_listed_replaced_and_deleted(app: httpx.AsyncClient, redis_client) -> None:
    first = await add(app, action="block", item_id=TENT, note="recalled")
    listed = (await app.get("/v1/rules")).json()
    assert [r["rule_id"] for r in listed["rules"]] == [first] and listed["version"] == 1
    assert listed["rules"][0]["note"] == "recalled"
    await add(app, rule_id=first, action="bury", item_id=TENT, factor=0.5)  # same id: replaced
    listed = (await app.get("/v1/rules")).json()
    assert [r["action"] for r in listed["rules"]] == ["bury"] and listed["version"] == 2
    deleted = await app.delete(f"/v1/rules/{first}")
    assert deleted.json() == {"rule_id": first, "version": 3}
    assert (await app.delete(f"/v1/rules/{first}")).status_code == 404
    assert (await app.get("/v1/rules")).json() == {"version": 3, "rules": []}
    assert redis_client.hlen(keys_of(redis_client).shared("rules")) == 0


async def test_rule_changes_need_a_write_key(redis_url: str, published: PublishReport) -> None:
    async with serve(redis_url, api_keys="reader", event_api_keys="writer") as client:
        rule = {"action": "block", "item_id": TENT}
        assert (await client.post("/v1/rules", json=rule)).status_code == 401
        assert (await client.post("/v1/rules", json=rule, headers={"X-API-Key": "reader"})).status_code == 403
        made = await client.post("/v1/rules", json=rule, headers={"X-API-Key": "writer"})
        assert made.status_code == 201
        assert (await client.get("/v1/rules", headers={"X-API-Key": "reader"})).status_code == 200
        gone = await client.delete(f"/v1/rules/{made.json()['rule_id']}", headers={"X-API-Key": "reader"})
        assert gone.status_code == 403


async def test_block_takes_a_category_out_of_every_surface_and_fallback(
    app: httpx.AsyncClient, bundle: ModelBundle
) -> None:
    top = ids_of((await app.get("/v1/popular", params={"k": 20})).json())
    blocked = categories(bundle, top[:1])[0]
    rule = await add(app, action="block", category=blocked)
    who = bundle.customers.ids[3]
    answers = [
        await app.get("/v1/popular", params={"k": 20}),
        await app.get(f"/v1/users/{who}/recommendations", params={"k": 20}),
        await app.get("/v1/users/nobody-knows-me/recommendations", params={"k": 20}),  # popular fallback
        await app.get(f"/v1/users/{who}/next-purchase", params={"k": 20}),
        await app.get(f"/v1/items/{TENT}/complements", params={"k": 20}),
        await app.get("/v1/items/no-such-item/similar", params={"k": 20}),  # fallback
        await app.post("/v1/cart/complements", json={"item_ids": [TENT], "k": 20}),
    ]
    for response in answers:
        body = response.json()
        assert len(body["items"]) == 20, response.url
        assert blocked not in categories(bundle, ids_of(body)), response.url
    assert rule in answers[0].json()["rules"]
    assert rule in answers[2].json()["rules"]


async def test_pin_places_the_item_with_a_reason_on_its_surface_and_context(
    app: httpx.AsyncClient, bundle: ModelBundle
) -> None:
    who = bundle.customers.ids[3]
    url = f"/v1/users/{who}/recommendations"
    before = (await app.get(url)).json()
    assert before["rules"] == []
    item = str(bundle.items.ids[-1])
    rule = await add(app, action="pin", item_id=item, position=2, surface="for_you")
    after = (await app.get(url)).json()
    assert ids_of(after)[1] == item and after["items"][1]["reason"] == "pinned"
    assert after["rules"] == [rule]
    assert [i for i in ids_of(after) if i != item] == [i for i in ids_of(before) if i != item][:9]
    other = (await app.get(f"/v1/users/{who}/next-purchase")).json()
    assert item not in ids_of(other)[1:2] and other["rules"] == []  # another surface
    # a pin on one item's page only
    sleeping = await add(app, action="pin", item_id=item, position=1, context={"item_id": TENT})
    tent = (await app.get(f"/v1/items/{TENT}/complements")).json()
    assert ids_of(tent)[0] == item and tent["rules"] == [sleeping]
    similar = (await app.get(f"/v1/items/{TENT}/similar")).json()
    assert ids_of(similar)[0] == item  # every surface of that page
    elsewhere = (await app.get(f"/v1/items/{ids_of(before)[0]}/complements")).json()
    assert item not in ids_of(elsewhere)[:1] and sleeping not in elsewhere["rules"]


async def test_boost_raises_and_bury_lowers_by_category_item_and_price(
    app: httpx.AsyncClient, bundle: ModelBundle
) -> None:
    plain = (await app.get("/v1/popular", params={"k": 30})).json()
    top = ids_of(plain)
    counts = Counter(categories(bundle, top[:10]))
    rare = next(c for c in categories(bundle, top) if counts[c] <= 1)
    boost = await add(app, action="boost", category=rare, factor=20, surface="popular")
    boosted = (await app.get("/v1/popular", params={"k": 10})).json()
    assert Counter(categories(bundle, ids_of(boosted)))[rare] > counts[rare]
    assert boosted["rules"] == [boost]
    await app.delete(f"/v1/rules/{boost}")
    bury = await add(app, action="bury", item_id=top[0], factor=0.01)
    buried = (await app.get("/v1/popular", params={"k": 10})).json()
    assert top[0] not in ids_of(buried) and buried["rules"] == [bury]
    await app.delete(f"/v1/rules/{bury}")
    price = bundle.catalog.price[bundle.items.index([top[0]])][0]
    band = await add(app, action="bury", price_min=float(price), price_max=float(price), factor=0.01)
    assert ids_of((await app.get("/v1/popular", params={"k": 10})).json())[0] != top[0]
    assert (await app.get("/v1/popular")).json()["rules"] == [band]


async def test_promote_reserves_its_share_of_slots(app: httpx.AsyncClient, bundle: ModelBundle) -> None:
    who = bundle.customers.ids[4]
    url = f"/v1/users/{who}/recommendations"
    plain = categories(bundle, ids_of((await app.get(url, params={"k": 10})).json()))
    target = next(c for c in bundle.catalog.categories.ids.tolist() if c not in plain)
    rule = await add(app, action="promote", category=target, share=0.3)
    body = (await app.get(url, params={"k": 10})).json()
    cats = categories(bundle, ids_of(body))
    assert cats.count(target) == 3 and len(cats) == 10  # ceil(0.3 * 10)
    assert body["rules"] == [rule]
    assert len(set(ids_of(body))) == 10
    seven = categories(bundle, ids_of((await app.get(url, params={"k": 7})).json()))
    assert seven.count(target) == 3  # ceil(0.3 * 7)


async def test_start_and_end_times_are_respected(app: httpx.AsyncClient) -> None:
    top = ids_of((await app.get("/v1/popular")).json())[0]
    await add(app, action="block", item_id=top, ends_at=at(-60))
    await add(app, action="block", item_id=top, starts_at=at(3600))
    assert ids_of((await app.get("/v1/popular")).json())[0] == top
    complements = ids_of((await app.get(f"/v1/items/{TENT}/complements")).json())
    soon = await add(app, action="block", item_id=complements[0], starts_at=at(1.0), ends_at=at(2.5))
    assert ids_of((await app.get(f"/v1/items/{TENT}/complements")).json())[0] == complements[0]  # held answer
    await asyncio.sleep(max(0.0, 1.2))
    during = (await app.get(f"/v1/items/{TENT}/complements")).json()
    assert complements[0] not in ids_of(during) and during["rules"] == [soon]
    await asyncio.sleep(1.5)
    after = (await app.get(f"/v1/items/{TENT}/complements")).json()
    assert ids_of(after)[0] == complements[0] and after["rules"] == []


async def test_another_process_sees_a_change_within_the_check_interval(
    redis_url: str, published: PublishReport, redis_client
) -> None:
    from recommender.request_time.rules import Rule
    from serving.rules_store import put_rule

    async with serve(redis_url, version_check_seconds=0.2) as client:
        top = ids_of((await client.get("/v1/popular")).json())[0]
        put_rule(redis_client, Rule(action="block", item_id=top))  # as another process (the CLI) would
        started = time.monotonic()
        while top in ids_of((await client.get("/v1/popular")).json()):
            assert time.monotonic() - started < 2
            await asyncio.sleep(0.05)


async def test_the_diversity_cap_limits_items_per_category(
    redis_url: str, published: PublishReport, bundle: ModelBundle
) -> None:
    who = bundle.customers.ids[6]
    async with serve(redis_url) as plain:
        before = Counter(categories(bundle, ids_of((await plain.get("/v1/popular", params={"k": 10})).json())))
    assert max(before.values()) > 2  # the cap has something to do
    async with serve(redis_url, diversity_cap=2) as client:
        for path in ("/v1/popular", f"/v1/users/{who}/recommendations", f"/v1/items/{TENT}/complements"):
            body = (await client.get(path, params={"k": 10})).json()
            assert len(body["items"]) == 10
            assert max(Counter(categories(bundle, ids_of(body))).values()) <= 2, path
        books = (await client.get("/v1/popular", params={"k": 10, "category": "Books"})).json()
        assert len(books["items"]) == 10  # one category asked for: the cap cannot apply
