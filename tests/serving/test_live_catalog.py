"""The live catalog through real HTTP against a real publish in a real Redis: ``PUT /v1/items`` changes stock,
price, category, names and ``active`` without retraining, visible on the next request of this process and of
another one; new items are servable at once; ``recs catalog push`` writes a file with its rejects."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
import redis
from pydantic import SecretStr
from typer.testing import CliRunner

from recommender.bundle import ModelBundle
from serving.cache import keys_of
from serving.cli import build_app
from serving.publish import PublishReport
from serving.schemas import MAX_CATALOG_ITEMS
from tests.serving.conftest import serve

pytestmark = pytest.mark.anyio


def ids_of(body: dict[str, Any]) -> list[str]:
    return [row["item_id"] for row in body["items"]]


def category_name(bundle: ModelBundle, item_id: str) -> str:
    return str(bundle.catalog.categories.external(bundle.catalog.category[[bundle.items.index_one(item_id)]])[0])


async def put(api: httpx.AsyncClient, records: list[dict[str, Any]], **headers: str) -> httpx.Response:
    return await api.put("/v1/items", json=records, headers=headers)


async def test_a_stock_change_is_visible_on_the_next_request_of_every_process(
    redis_url: str, published: PublishReport, bundle: ModelBundle
) -> None:
    who = bundle.customers.ids[3]
    async with serve(redis_url) as one, serve(redis_url) as other:
        first = ids_of((await other.get(f"/v1/users/{who}/recommendations")).json())
        anchor = bundle.items.ids[0]
        similar = ids_of((await other.get(f"/v1/items/{anchor}/similar")).json())
        gone = [first[0], similar[0]]
        started = time.perf_counter()
        written = await put(one, [{"item_id": item, "in_stock": False} for item in gone])
        assert written.status_code == 200 and written.json()["updated"] == 2
        after = ids_of((await other.get(f"/v1/users/{who}/recommendations")).json())  # another process
        seconds = time.perf_counter() - started
        assert gone[0] not in after and len(after) == len(first) and seconds < 1.0
        assert gone[0] not in ids_of((await one.get(f"/v1/users/{who}/recommendations")).json())
        asked = (await other.get(f"/v1/users/{who}/recommendations", params={"in_stock": "false"})).json()
        assert ids_of(asked)[0] == gone[0]  # still the customer's first item, when out-of-stock ones are asked for
        # an item answer held in process reads nothing from Redis: it looks at Redis every version_check_seconds
        assert gone[1] not in ids_of((await one.get(f"/v1/items/{anchor}/similar")).json())
        await put(one, [{"item_id": item, "in_stock": True} for item in gone])
        back = ids_of((await other.get(f"/v1/users/{who}/recommendations")).json())
        assert back == first


async def test_an_inactive_item_is_never_shown(api: httpx.AsyncClient, bundle: ModelBundle) -> None:
    top = ids_of((await api.get("/v1/popular", params={"k": 5})).json())[0]
    assert (await put(api, [{"item_id": top, "active": False}])).status_code == 200
    for params in ({"k": 100}, {"k": 100, "in_stock": "false"}, {"k": 100, "category": category_name(bundle, top)}):
        assert top not in ids_of((await api.get("/v1/popular", params=params)).json())
    assert top not in ids_of((await api.post("/v1/cart/complements", json={"item_ids": ["x"], "k": 100})).json())


async def test_price_and_category_changes_drive_the_filters(api: httpx.AsyncClient, bundle: ModelBundle) -> None:
    item = bundle.items.ids[int(np.flatnonzero(bundle.catalog.in_stock)[0])]
    await put(api, [{"item_id": item, "price": 12345.5, "category": "Clearance", "name": "Last one"}])
    body = (await api.get("/v1/popular", params={"category": "Clearance", "price_min": 12000})).json()
    assert ids_of(body) == [item] and body["fallback"] is False
    assert body["items"][0]["reason"] == "popular in Clearance"


async def test_a_new_item_is_servable_at_once(api: httpx.AsyncClient, bundle: ModelBundle) -> None:
    catalog = bundle.catalog
    tent_like = bundle.items.ids[int(np.flatnonzero(catalog.in_stock & np.isfinite(catalog.price))[0])]
    category = category_name(bundle, tent_like)
    price = float(catalog.price[bundle.items.index_one(tent_like)])
    new = {"item_id": "brand-new-item", "category": category, "price": price * 1.01, "name": "Brand New"}
    assert (await put(api, [new])).status_code == 200
    popular = (await api.get("/v1/popular", params={"category": category, "k": 100})).json()
    assert "brand-new-item" in ids_of(popular)  # after the category's sold items
    in_category = catalog.in_stock & (catalog.categories.external(catalog.category) == category)
    assert ids_of(popular).index("brand-new-item") == min(int(in_category.sum()), 100)
    similar = (await api.get("/v1/items/brand-new-item/similar", params={"k": 5})).json()
    assert len(similar["items"]) == 5 and similar["fallback"] is True  # a rule, not the model: marked
    assert ids_of(similar) == [i for i in ids_of(popular) if i != "brand-new-item"][:5]  # its category's popular
    assert all(row["reason"] == f"popular in {category}" for row in similar["items"])
    complements = (await api.get("/v1/items/brand-new-item/complements", params={"k": 5})).json()
    assert len(complements["items"]) == 5 and category not in {category_name(bundle, i) for i in ids_of(complements)}
    cart = (await api.post("/v1/cart/complements", json={"item_ids": ["brand-new-item"], "k": 5})).json()
    assert len(cart["items"]) == 5


async def test_put_items_is_checked(api: httpx.AsyncClient) -> None:
    for bad in (
        [],
        [{"item_id": "a", "colour": "red"}],
        [{"item_id": "a", "price": -1}],
        [{"item_id": "a", "in_stock": "perhaps"}],
        [{"price": 3}],
        [{"item_id": "a"}] * (MAX_CATALOG_ITEMS + 1),
        {"item_id": "a"},
    ):
        response = await api.put("/v1/items", json=bad)
        assert response.status_code in (413, 422), bad
    assert (await api.put("/v1/items?dry_run=1", json=[{"item_id": "a"}])).status_code == 422


async def test_put_items_needs_a_write_key_when_configured(redis_url: str, published: PublishReport) -> None:
    keys = {"api_keys": SecretStr("read"), "event_api_keys": SecretStr("write")}
    async with serve(redis_url, **keys) as api:
        record = [{"item_id": "a", "in_stock": False}]
        assert (await put(api, record)).status_code == 401
        assert (await put(api, record, **{"X-API-Key": "read"})).status_code == 403
        assert (await put(api, record, **{"X-API-Key": "write"})).status_code == 200


def test_recs_catalog_push_writes_good_rows_and_lists_rejects(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text(
        "item_id,in_stock,price,category\n"
        "tent-1,false,,\n"
        "tent-2,true,199.5,Camping\n"
        ",true,1,\n"
        "tent-3,maybe,,\n"
        "tent-4,,-3,\n"
    )
    result = CliRunner().invoke(build_app(), ["catalog", "push", str(path)], env={"RECS_REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    assert "pushed 2 items" in result.output and "3 rows refused" in result.output
    stored = {k.decode(): v.decode() for k, v in redis_client.hgetall(keys_of(redis_client).catalog).items()}
    assert set(stored) == {"tent-1", "tent-2"}
    assert '"in_stock":false' in stored["tent-1"] and '"price":199.5' in stored["tent-2"]
    rejects = pl.read_csv(tmp_path / "stock.csv.rejects.csv", infer_schema=False)
    assert rejects["line"].to_list() == ["4", "5", "6"]
    reasons = rejects["reason"].to_list()
    assert "item_id" in reasons[0] and "in_stock" in reasons[1] and "price" in reasons[2]
    parquet = tmp_path / "stock.parquet"
    pl.DataFrame({"item_id": ["tent-5"], "active": [False]}).write_parquet(parquet)
    result = CliRunner().invoke(build_app(), ["catalog", "push", str(parquet)], env={"RECS_REDIS_URL": redis_url})
    assert result.exit_code == 0 and redis_client.hget(keys_of(redis_client).catalog, "tent-5") == b'{"active":false}'
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("item_id,stock\ntent-1,0\n")
    result = CliRunner().invoke(build_app(), ["catalog", "push", str(wrong)], env={"RECS_REDIS_URL": redis_url})
    assert result.exit_code == 2 and "unknown columns stock" in result.output
