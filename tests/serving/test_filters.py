"""The list filters on every surface, through real HTTP against a real publish in a real Redis: out-of-stock
items never appear by default (fallbacks included) and do with ``in_stock=false``; every filter keeps ``k``
items while eligible ones exist; a query parameter the route does not declare is a 422 naming it, on the
fast paths and on FastAPI's (list routes, cart, events, KPIs)."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from recommender.bundle import ModelBundle
from serving.publish import PublishReport
from tests.serving.conftest import serve

pytestmark = pytest.mark.anyio
K = 10


def ids_of(body: dict[str, Any]) -> list[str]:
    return [row["item_id"] for row in body["items"]]


def surfaces(bundle: ModelBundle) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, cart body) of every list surface: known and unknown ids (their fallbacks), and cart."""
    customers = [*bundle.customers.ids[:3].tolist(), "no-such-customer"]
    items = [*bundle.items.ids[:3].tolist(), "no-such-item"]
    out: list[tuple[str, str, dict[str, Any] | None]] = []
    for who in customers:
        out += [("GET", f"/v1/users/{who}/recommendations", None), ("GET", f"/v1/users/{who}/next-purchase", None)]
    for item in items:
        out += [("GET", f"/v1/items/{item}/complements", None), ("GET", f"/v1/items/{item}/similar", None)]
    out += [("GET", "/v1/popular", None)]
    out += [("POST", "/v1/cart/complements", {"item_ids": [item]}) for item in items[:2]]
    return out


async def answer(api: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, **filters: Any) -> Any:
    """The surface's answer with ``filters`` (query parameters, or the cart body's fields)."""
    if method == "POST":
        response = await api.post(path, json={**(body or {}), "k": K, **filters})
    else:
        response = await api.get(path, params={"k": K, **filters})
    assert response.status_code == 200, (path, filters, response.text)
    return response.json()


def facts(bundle: ModelBundle, item_ids: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(in stock, category name, price) of published items."""
    index = bundle.items.index(item_ids)
    catalog = bundle.catalog
    return catalog.in_stock[index], catalog.categories.external(catalog.category[index]), catalog.price[index]


async def test_out_of_stock_items_never_appear_by_default_and_do_when_asked(
    api: httpx.AsyncClient, bundle: ModelBundle
) -> None:
    assert not bundle.catalog.in_stock.all()  # the shop has out-of-stock items
    shown_out_of_stock = 0
    for method, path, body in surfaces(bundle):
        default = await answer(api, method, path, body)
        assert len(default["items"]) == K, path
        assert facts(bundle, ids_of(default))[0].all(), path
        everything = await answer(api, method, path, body, in_stock=False if method == "POST" else "false")
        assert len(everything["items"]) == K, path
        shown_out_of_stock += int((~facts(bundle, ids_of(everything))[0]).sum())
    assert shown_out_of_stock > 0  # in_stock=false turns the filter off somewhere


async def test_every_filter_on_every_surface_keeps_k_items(api: httpx.AsyncClient, bundle: ModelBundle) -> None:
    catalog = bundle.catalog
    names = catalog.categories.ids.tolist()
    stocked = catalog.in_stock & (catalog.category >= 0)
    counts = np.bincount(catalog.category[stocked], minlength=len(names))
    big = [names[c] for c in np.argsort(-counts)[:2]]  # categories with at least K items in stock
    assert counts.max() >= K
    prices = catalog.price[catalog.in_stock & np.isfinite(catalog.price)]
    low, high = float(np.quantile(prices, 0.2)), float(np.quantile(prices, 0.6))
    full = 0  # answers with k items (all but a cart whose category is the one asked for)
    for method, path, body in surfaces(bundle):
        plain = ids_of(await answer(api, method, path, body))
        cases: list[dict[str, Any]] = [
            {"category": [big[0]]},
            {"category": big},
            {"price_min": low, "price_max": high},
            {"exclude": plain[:5]},
            {"category": [big[1]], "price_min": low},
        ]
        for filters in cases:
            got = ids_of(await answer(api, method, path, body, **filters))
            in_stock, cats, price = facts(bundle, got)
            eligible = catalog.in_stock.copy()
            if "category" in filters:
                eligible &= np.isin(catalog.categories.external(catalog.category), filters["category"])
            if "price_min" in filters:
                eligible &= catalog.price >= filters["price_min"]
            if "price_max" in filters:
                eligible &= catalog.price <= filters["price_max"]
            eligible[bundle.items.index(filters.get("exclude", []))] = False
            cart = body["item_ids"] if body else []
            known_cart = [i for i in cart if i in set(bundle.items.ids.tolist())]
            if method == "POST" and known_cart:  # the cart's items and their categories are never offered
                eligible &= ~np.isin(catalog.category, catalog.category[bundle.items.index(known_cart)])
            assert len(got) == min(K, int(eligible.sum())), (path, filters, got)
            full += len(got) == K
            assert in_stock.all() and len(set(got)) == len(got), (path, filters)
            if "category" in filters:
                assert set(cats.tolist()) <= set(filters["category"]), (path, filters)
            if "price_min" in filters:
                assert (price >= filters["price_min"]).all(), (path, filters)
            if "price_max" in filters:
                assert (price <= filters["price_max"]).all(), (path, filters)
            assert not set(got) & set(filters.get("exclude", [])), (path, filters)
    assert full >= 5 * len(surfaces(bundle)) - 4


async def test_a_filter_that_leaves_no_personal_item_is_filled_from_popular_items_marked(
    api: httpx.AsyncClient, bundle: ModelBundle
) -> None:
    who = bundle.customers.ids[5]
    published = bundle.recommend([who], "for_you", k=100)["item_id"].tolist()  # the whole precomputed list
    params = {"k": 20, "exclude": published}
    body = (await api.get(f"/v1/users/{who}/recommendations", params=params)).json()
    assert len(body["items"]) == 20 and not set(ids_of(body)) & set(published)
    assert body["fallback"] is True  # no personal row left: the answer says so, and each row why it is there
    assert all(row["reason"].startswith("popular") for row in body["items"])
    some = (await api.get(f"/v1/users/{who}/recommendations", params={"k": 20, "exclude": published[:95]})).json()
    assert some["fallback"] is False and len(some["items"]) == 20  # personal rows first, then padding
    assert some["items"][-1]["reason"].startswith("popular")


@pytest.mark.parametrize("fast_path", [True, False])
async def test_unknown_query_parameters_are_422_naming_them(
    redis_url: str, published: PublishReport, bundle: ModelBundle, fast_path: bool
) -> None:
    who, item = bundle.customers.ids[0], bundle.items.ids[0]
    paths = [
        f"/v1/users/{who}/recommendations",
        f"/v1/users/{who}/next-purchase",
        f"/v1/items/{item}/complements",
        f"/v1/items/{item}/similar",
        "/v1/popular",
    ]
    async with serve(redis_url, fast_path=fast_path) as api:
        for path in paths:
            response = await api.get(path, params={"k": 3, "in_stok": "false"})
            assert response.status_code == 422, path
            assert "in_stok" in response.text and response.json()["detail"][0]["loc"] == ["query", "in_stok"]
            assert (await api.get(path, params={"offest": 1})).status_code == 422
            assert (await api.get(path, params={"k": 3})).status_code == 200
        cart = await api.post("/v1/cart/complements?utm_source=x", json={"item_ids": [item]})
        assert cart.status_code == 422 and "utm_source" in cart.text
        assert (await api.post("/v1/cart/complements", json={"item_ids": [item], "in_stok": False})).status_code == 422
        event = {"customer_id": "c1", "type": "view", "item_ids": [item]}
        for path in ("/v1/events?utm=x", "/v1/kpis?utm=x"):  # the other /v1 routes too (events: fast path too)
            response = await (api.post(path, json=event) if "events" in path else api.get(path))
            assert response.status_code == 422 and "utm" in response.text, path
        assert (await api.post("/v1/events", json=event)).status_code == 202
        empty = await api.get("/v1/popular", params={"price_min": 10, "price_max": 5})  # an empty range
        assert empty.status_code == 200 and empty.json()["items"] == []
        assert (await api.get("/v1/popular", params={"price_min": "nan"})).status_code == 422
