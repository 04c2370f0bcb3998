"""Feedback through real HTTP against a real Redis: every event type and its 422s, the event log, batches,
attribution by click and by purchase inside and outside the window, once per order line, and the journey
KPIs after a scripted sequence, equal to values computed by hand (``docs/feedback.md`` has the rules)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import redis

from serving.feedback.store import LOG_KEY
from serving.publish import PublishReport
from tests.serving.conftest import serve
from tests.serving.test_api import ids_of
from tests.serving.test_api_ops import samples

pytestmark = pytest.mark.anyio
HOUR = 3600


def logged(redis_client: redis.Redis) -> list[dict[str, Any]]:
    """The event log's entries, oldest first."""
    return [json.loads(fields[b"e"]) for _, fields in redis_client.xrange(LOG_KEY)]


async def kpis(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get("/v1/kpis", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def row(report: dict[str, Any], surface: str) -> dict[str, Any]:
    (found,) = [r for r in report["by_surface"] if r["surface"] == surface]
    return found


async def send(api: httpx.AsyncClient, **event: Any) -> dict[str, Any]:
    response = await api.post("/v1/events", json=event)
    assert response.status_code == 202, response.text
    return response.json()


# events -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["impression", "click", "view", "add_to_cart", "remove_from_cart", "purchase"])
async def test_every_event_type_is_accepted_and_logged(
    api: httpx.AsyncClient, redis_client: redis.Redis, kind: str
) -> None:
    body = await send(api, customer_id="c-1", type=kind, item_ids=["a", "b", "a"], recommendation_id="r1")
    assert body["type"] == kind and body["item_ids"] == ["a", "b"] and body["recommendation_id"] == "r1"
    (entry,) = logged(redis_client)
    assert entry["customer_id"] == "c-1" and entry["type"] == kind and entry["item_ids"] == ["a", "b"]
    assert entry["recommendation_id"] == "r1" and entry["at"] == body["at"]
    recent = redis_client.lrange("recs:events:c-1", 0, -1)
    assert len(recent) == (0 if kind == "impression" else 1)  # impressions are not a customer's recent events


async def test_a_purchase_takes_the_catalog_price_unless_it_gives_one(
    api: httpx.AsyncClient, redis_client: redis.Redis, trained
) -> None:
    bundle = trained.bundle
    item = str(bundle.items.ids[0])
    price = float(bundle.catalog.price[0])
    await send(api, customer_id="c", type="purchase", item_ids=[item, "not-in-the-catalog"], quantity=3)
    await send(api, customer_id="c", type="purchase", item_ids=[item], price=2.5, order_id="o-9")
    first, second = logged(redis_client)
    assert first["prices"] == [pytest.approx(price, rel=1e-6), 0.0] and first["quantity"] == 3
    assert first["line_cents"] == [round(first["prices"][0] * 3 * 100), 0]
    assert second["prices"] == [2.5] and second["quantity"] == 1 and second["order_id"] == "o-9"
    assert second["line_cents"] == [250]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"type": "wishlist"}, "does not match any of the expected tags"),
        ({"type": "click", "order_id": "o"}, "Extra inputs are not permitted"),
        ({"type": "view", "price": 3}, "Extra inputs are not permitted"),
        ({"type": "purchase", "quantity": 0}, "greater than or equal to 1"),
        ({"type": "purchase", "price": -1}, "greater than or equal to 0"),
        ({"type": "purchase", "price": float("nan")}, "finite number"),
        ({"type": "purchase", "price": "3.5"}, "valid number"),
        ({"type": "purchase", "quantity": True}, "a JSON number is expected"),
        ({"type": "click", "recommendation_id": "has space"}, "should match pattern"),
        ({"type": "click", "recommendation_id": "x" * 65}, "at most 64 characters"),
        ({"type": "click", "item_ids": []}, "at least 1 item"),
        ({"type": "click", "campaign": "x"}, "Extra inputs are not permitted"),
    ],
)
async def test_invalid_events_are_422_with_a_message(
    api: httpx.AsyncClient, redis_client: redis.Redis, event: dict[str, Any], message: str
) -> None:
    sent = json.dumps({"customer_id": "c", "item_ids": ["a"], **event})  # NaN as Python's JSON writes it
    response = await api.post("/v1/events", content=sent, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert message in json.dumps(response.json())
    assert logged(redis_client) == []


async def test_a_batch_is_stored_in_order_and_counted(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    events = [{"customer_id": f"c{i % 7}", "type": "view", "item_ids": [f"i{i}"]} for i in range(1000)]
    response = await api.post("/v1/events/batch", json={"events": events})  # ~60 kB: over RECS_MAX_BODY_BYTES
    assert response.status_code == 202 and response.json() == {"accepted": 1000, "buffered": False}
    assert [e["item_ids"][0] for e in logged(redis_client)] == [f"i{i}" for i in range(1000)]
    assert redis_client.llen("recs:events:c0") == 50  # the customer's recent events stay bounded


async def test_one_invalid_event_refuses_the_whole_batch(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    events = [{"customer_id": "c", "type": "view", "item_ids": ["a"]} for _ in range(5)]
    events[3]["type"] = "purchased"
    response = await api.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 422
    assert [error["loc"][:3] for error in response.json()["detail"]] == [["body", "events", 3]]
    too_many = await api.post("/v1/events/batch", json={"events": events[:1] * 1001})
    assert too_many.status_code == 422 and "at most 1000" in too_many.text
    assert (await api.post("/v1/events/batch", json={"events": []})).status_code == 422
    assert logged(redis_client) == []


# attribution --------------------------------------------------------------------------------------------------
async def answer(api: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await api.get(path)
    assert response.status_code == 200
    body = response.json()
    assert len(body["items"]) >= 3
    return body


async def test_a_click_then_a_purchase_within_the_window_is_attributed_once_per_order_line(
    redis_url: str, published: PublishReport, trained
) -> None:
    window, t0 = 600, int(time.time()) - 5 * HOUR
    who = str(trained.bundle.customers.ids[0])
    async with serve(redis_url, attribution_window_seconds=window) as api:
        shown = await answer(api, f"/v1/users/{who}/recommendations")
        a, b, c = ids_of(shown)[:3]
        rid = shown["recommendation_id"]
        for item in (a, b, c):
            await send(api, customer_id=who, type="click", item_ids=[item], recommendation_id=rid, timestamp=t0)
        line = {"customer_id": who, "type": "purchase", "price": 4.0, "quantity": 2}
        await send(api, **line, item_ids=[a], order_id="o1", timestamp=t0 + window)  # at the window's edge: in
        await send(api, **line, item_ids=[a], order_id="o1", timestamp=t0 + window)  # the same line again: once
        await send(api, **line, item_ids=[b], order_id="o1", timestamp=t0 + window + 1)  # one second late: out
        await send(api, **line, item_ids=[c], timestamp=t0 - 1)  # before the click: out
        report = await kpis(api, **{"from": t0 - HOUR})
    for_you = row(report, "for_you")
    assert for_you["model_version"] == shown["model_version"]
    assert (for_you["clicks"], for_you["attributed_purchases"], for_you["attributed_revenue_cents"]) == (3, 1, 800)
    assert report["funnel"]["purchases"] == 4


async def test_purchases_without_a_click_count_only_when_they_name_the_answer(
    api: httpx.AsyncClient, bundle, published: PublishReport
) -> None:
    who = str(bundle.customers.ids[1])
    shown = await answer(api, f"/v1/users/{who}/next-purchase")
    a, b = ids_of(shown)[:2]
    await send(api, customer_id=who, type="purchase", item_ids=[a], price=1.0)  # seen, never clicked: organic
    await send(
        api, customer_id=who, type="purchase", item_ids=[b], price=3.0, recommendation_id=shown["recommendation_id"]
    )
    await send(
        api, customer_id="someone-else", type="purchase", item_ids=["x"], recommendation_id=shown["recommendation_id"]
    )
    report = await kpis(api)
    assert (row(report, "next_purchase")["attributed_purchases"], report["totals"]["attributed_revenue_cents"]) == (
        1,
        300,
    )


async def test_clicks_on_unknown_answers_or_items_not_shown_are_not_credited(
    api: httpx.AsyncClient, published: PublishReport, bundle
) -> None:
    shown = await answer(api, f"/v1/items/{bundle.items.ids[0]}/complements")
    rid = shown["recommendation_id"]
    await send(api, customer_id="c", type="click", item_ids=["not-shown"], recommendation_id=rid)
    await send(api, customer_id="c", type="click", item_ids=[ids_of(shown)[0]], recommendation_id="0" * 32)
    await send(api, customer_id="c", type="impression", item_ids=ids_of(shown), recommendation_id="f" * 32)
    report = await kpis(api)
    assert row(report, "complements")["clicks"] == 0 and report["totals"]["impressions"] == 0
    assert report["funnel"]["clicks"] == 2 and report["totals"]["answers"] == 1


async def test_an_expired_answer_record_is_not_credited(redis_url: str, published: PublishReport, bundle) -> None:
    async with serve(redis_url, answer_ttl_seconds=1) as api:
        shown = await answer(api, "/v1/popular")
        await send(
            api,
            customer_id="c",
            type="impression",
            item_ids=ids_of(shown),
            recommendation_id=shown["recommendation_id"],
        )
        await asyncio.sleep(2.1)
        await send(
            api, customer_id="c", type="click", item_ids=ids_of(shown)[:1], recommendation_id=shown["recommendation_id"]
        )
        report = await kpis(api)
    assert (row(report, "popular")["impressions"], row(report, "popular")["clicks"]) == (1, 0)


# the KPIs, by hand --------------------------------------------------------------------------------------------
async def test_kpis_after_a_scripted_sequence_equal_the_hand_computed_values(
    api: httpx.AsyncClient, bundle, published: PublishReport
) -> None:
    base = (int(time.time()) // HOUR - 48) * HOUR  # two days ago: every cart's 24 h window has passed
    c1, c2, c3 = (str(c) for c in bundle.customers.ids[:3])
    for_you = await answer(api, f"/v1/users/{c1}/recommendations")
    comps = await answer(api, f"/v1/items/{bundle.items.ids[5]}/complements")
    r1, r2 = for_you["recommendation_id"], comps["recommendation_id"]
    i1, i2 = ids_of(for_you)[:2]
    j1, j2 = ids_of(comps)[:2]
    script = [
        dict(customer_id=c1, type="impression", item_ids=ids_of(for_you), recommendation_id=r1, timestamp=base),
        dict(customer_id=c1, type="impression", item_ids=ids_of(for_you), recommendation_id=r1, timestamp=base + 1),
        dict(customer_id=c1, type="impression", item_ids=ids_of(comps), recommendation_id=r2, timestamp=base + 2),
        dict(customer_id=c2, type="impression", item_ids=ids_of(comps), recommendation_id=r2, timestamp=base + 3),
        dict(customer_id=c1, type="click", item_ids=[i1], recommendation_id=r1, timestamp=base + 10),
        dict(customer_id=c1, type="click", item_ids=[i2], recommendation_id=r1, timestamp=base + 11),
        dict(customer_id=c1, type="click", item_ids=[j1, "not-shown"], recommendation_id=r2, timestamp=base + 20),
        dict(customer_id=c1, type="view", item_ids=[i1], timestamp=base + 25),
        dict(customer_id=c1, type="add_to_cart", item_ids=[i1, j1], timestamp=base + 30),
        dict(customer_id=c2, type="add_to_cart", item_ids=[j2], timestamp=base + 40),
        dict(
            customer_id=c1,
            type="purchase",
            item_ids=[i1, j1],
            order_id="o1",
            quantity=2,
            price=3.5,
            timestamp=base + 50,
        ),
        dict(customer_id=c1, type="purchase", item_ids=[i1], order_id="o1", quantity=2, price=3.5, timestamp=base + 60),
        dict(customer_id=c1, type="purchase", item_ids=[i2], price=10, timestamp=base + 2 * HOUR + 5),
        dict(customer_id=c3, type="purchase", item_ids=[j1], price=1, timestamp=base + 70),
        dict(customer_id=c1, type="purchase", item_ids=[j2], price=2, recommendation_id=r2, timestamp=base + 80),
        dict(customer_id=c2, type="remove_from_cart", item_ids=[j2], timestamp=base + 90),
    ]
    response = await api.post("/v1/events/batch", json={"events": script})
    assert response.status_code == 202 and response.json()["accepted"] == len(script)
    report = await kpis(api, **{"from": base})

    # for you: 2 impressions, clicks on i1 and i2, i1 bought (2 x 3.50 = 7.00) and i2 (10.00) after their clicks
    assert row(report, "for_you") == {
        "surface": "for_you", "model_version": for_you["model_version"], "answers": 1, "impressions": 2,
        "clicks": 2, "ctr": 1.0, "attributed_purchases": 2, "conversion_rate": 1.0, "attributed_revenue": 17.0,
        "attributed_revenue_cents": 1700, "revenue_per_mille": 8500.0,
    }  # fmt: skip
    # complements: 2 impressions, one click (j1; "not-shown" was not shown), j1 bought after the click (7.00),
    # j2 bought from the list itself without a click (2.00); c3's j1 was never clicked by c3
    assert row(report, "complements") == {
        "surface": "complements", "model_version": comps["model_version"], "answers": 1, "impressions": 2,
        "clicks": 1, "ctr": 0.5, "attributed_purchases": 2, "conversion_rate": 1.0, "attributed_revenue": 9.0,
        "attributed_revenue_cents": 900, "revenue_per_mille": 4500.0,
    }  # fmt: skip
    assert report["totals"] == {
        "answers": 2, "impressions": 4, "clicks": 3, "ctr": 0.75, "attributed_purchases": 4,
        "conversion_rate": 1.0, "attributed_revenue": 26.0, "attributed_revenue_cents": 2600,
        "revenue_per_mille": 6500.0,
    }  # fmt: skip
    # two carts: c1's bought within the window, c2's never (abandoned: its window has passed)
    assert report["funnel"] == {
        "views": 1, "clicks": 3, "add_to_carts": 2, "remove_from_carts": 1, "purchases": 5, "carts": 2,
        "converted_carts": 1, "abandoned_carts": 1, "open_carts": 0, "cart_abandonment_rate": 0.5,
    }  # fmt: skip
    series = {hour["hour"]: hour for hour in report["series"]}
    assert len(report["series"]) == 49 and report["series"][0]["hour"] == report["from"]
    first, third = report["series"][0], report["series"][2]
    assert (first["impressions"], first["clicks"], first["attributed_revenue_cents"], first["purchases"]) == (
        4,
        3,
        1600,
        4,
    )
    assert (third["attributed_purchases"], third["attributed_revenue_cents"], third["purchases"]) == (1, 1000, 1)
    assert sum(hour["answers"] for hour in series.values()) == 2  # answered now, in the last hour
    assert report["active"]["model_version"] == for_you["model_version"]

    only = await kpis(api, **{"from": base, "surface": "complements"})
    assert [r["surface"] for r in only["by_surface"]] == ["complements"] and only["totals"]["clicks"] == 1
    metrics = (await api.get("/metrics")).text
    labels = {"surface": "for_you", "model_version": for_you["model_version"]}
    assert (labels, 2.0) in samples(metrics, "recs_clicks_total")
    assert (labels, 1700.0) in samples(metrics, "recs_attributed_revenue_cents_total")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "ISO-8601"),
        ({"from": "2026-12-07T10:00:00Z", "to": "2026-12-07T09:00:00Z"}, "to is before from"),
        ({"from": "2026-01-01", "to": "2026-03-01"}, "at most 744"),
        ({"surface": "checkout"}, "Input should be"),
        ({"to": "-5"}, "ISO-8601"),
    ],
)
async def test_kpi_queries_are_validated(api: httpx.AsyncClient, params: dict[str, str], message: str) -> None:
    response = await api.get("/v1/kpis", params=params)
    assert response.status_code == 422 and message in response.text


async def test_kpis_of_an_empty_store(api: httpx.AsyncClient) -> None:
    report = await kpis(api, **{"from": "2026-12-07T09:30:00", "to": "2026-12-07T11:00:00+00:00"})
    assert (report["from"], report["to"]) == ("2026-12-07T09:00:00Z", "2026-12-07T12:00:00Z")
    assert [hour["hour"] for hour in report["series"]] == [f"2026-12-07T{h:02d}:00:00Z" for h in (9, 10, 11)]
    assert report["totals"]["ctr"] is None and report["funnel"]["cart_abandonment_rate"] is None
