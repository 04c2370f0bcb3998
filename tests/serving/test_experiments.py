"""Experiments through the real app and a real Redis: customers split by the hash of the experiment and their
id (the same variant every time, the challenger's answers from its own published version), answers marked
with the experiment and variant, events credited per variant and customer, one experiment at a time, a new
champion published during an experiment keeping the split, and the stop that promotes the challenger."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
import redis

from serving.cache import ACTIVE_KEY, EXPERIMENT_KEY, version_key
from serving.experiments import store
from serving.experiments.config import Experiment, variant_of
from serving.experiments.report import experiment_report
from serving.publish import PublishReport, publish_bundle
from tests.serving.conftest import serve
from tests.serving.test_api import ids_of

pytestmark = pytest.mark.anyio


def challenger_of(trained, redis_client: redis.Redis, published: PublishReport, **fields) -> Experiment:
    """The session's bundle published again as version 2 (not active), and an experiment on it."""
    report = publish_bundle(trained.bundle, redis_client, model_name="test-recs", model_version="2", activate=False)
    assert redis_client.get(ACTIVE_KEY).decode() == published.version  # the challenger does not serve everyone
    defaults = dict(
        name="exp-1",
        model_name="test-recs",
        challenger_model_version="2",
        challenger_version=report.version,
        champion_model_version="1",
        share=0.3,
        surfaces=("for_you", "cart"),
        started_at=int(time.time()),
    )
    return Experiment(**{**defaults, **fields})


async def answer(api: httpx.AsyncClient, customer: str, route: str = "recommendations") -> dict:
    response = await api.get(f"/v1/users/{customer}/{route}", params={"k": 5})
    assert response.status_code == 200, response.text
    return response.json()


async def test_customers_see_one_variant_each_from_its_own_version(
    trained, redis_client: redis.Redis, redis_url: str, published: PublishReport
) -> None:
    experiment = challenger_of(trained, redis_client, published)
    store.start(redis_client, experiment)
    with pytest.raises(store.ExperimentRunningError, match="one experiment at a time"):
        store.start(redis_client, experiment.model_copy(update={"name": "exp-2"}))
    customers = [*trained.bundle.customers.ids[:150], *(f"guest-session-{i}" for i in range(50))]
    async with serve(redis_url) as api:
        seen = {}
        for customer in customers:
            body = await answer(api, customer)
            variant = variant_of(experiment, customer)
            assert (body["experiment"], body["variant"]) == ("exp-1", variant), body
            assert body["model_version"].split("@")[0] == ("2" if variant == "challenger" else "1"), body
            seen[customer] = variant
        again = await answer(api, customers[0])
        assert again["variant"] == seen[customers[0]]  # the same variant on every request
        # next purchase is not in the experiment: the champion answers everyone, unmarked
        body = await answer(api, customers[0], "next-purchase")
        assert (body["experiment"], body["variant"]) == (None, None) and body["model_version"].startswith("1@")
        cart = await api.post("/v1/cart/complements", json={"item_ids": ids_of(body)[:1], "customer_id": customers[0]})
        assert cart.json()["variant"] == seen[customers[0]]
    share = np.mean([v == "challenger" for v in seen.values()])
    assert 0.15 < share < 0.45, share  # a fixed draw (the hash), near the share asked for


async def test_events_are_credited_per_variant_and_customer(
    trained, redis_client: redis.Redis, redis_url: str, published: PublishReport
) -> None:
    experiment = challenger_of(trained, redis_client, published, surfaces=("for_you",))
    store.start(redis_client, experiment)
    customers = trained.bundle.customers.ids[:40]
    by_variant: dict[str, list[str]] = {"champion": [], "challenger": []}
    async with serve(redis_url) as api:
        await answer(api, customers[0])  # the process learns of the experiment
        events = []
        for customer in customers:
            body = await answer(api, customer)
            by_variant[body["variant"]].append(customer)
            shown, rid = ids_of(body), body["recommendation_id"]
            events.append(dict(customer_id=customer, type="impression", item_ids=shown, recommendation_id=rid))
            if body["variant"] == "challenger":  # every challenger customer clicks and buys the first item
                events.append(dict(customer_id=customer, type="click", item_ids=shown[:1], recommendation_id=rid))
                events.append(
                    dict(
                        customer_id=customer, type="purchase", item_ids=shown[:1], order_id=f"o-{customer}", price=10.0
                    )
                )
        response = await api.post("/v1/events/batch", json={"events": events})
        assert response.status_code == 202 and not response.json()["buffered"], response.text
    assert by_variant["champion"] and by_variant["challenger"]
    counts = {v: store.counters(redis_client, "exp-1", v) for v in ("champion", "challenger")}
    challenger = counts["challenger"]
    assert sorted(k.decode() for k in challenger["purchases"][0]) == sorted(by_variant["challenger"])
    assert set(challenger["revenue_cents"][1].tolist()) == {1000}
    assert len(counts["champion"]["purchases"][0]) == 0
    assert sum(counts["champion"]["impressions"][1]) == len(by_variant["champion"])
    report = experiment_report(experiment, counts["champion"], counts["challenger"], champion_model_version="1")
    champion_row, challenger_row = report["variants"]
    assert challenger_row["conversion_rate"] == 1.0 and champion_row["conversion_rate"] == 0.0
    assert challenger_row["revenue_per_mille"] == pytest.approx(10_000.0)  # 10.00 per impression
    assert challenger_row["customers"] == len(by_variant["challenger"])


async def test_a_new_champion_during_an_experiment_keeps_the_split_and_stop_promotes(
    trained, redis_client: redis.Redis, redis_url: str, published: PublishReport
) -> None:
    experiment = challenger_of(trained, redis_client, published, share=0.5, surfaces=("for_you",))
    store.start(redis_client, experiment)
    customers = trained.bundle.customers.ids[:30]
    newer = publish_bundle(trained.bundle, redis_client, model_name="test-recs", model_version="3")
    assert redis_client.exists(version_key(experiment.challenger_version, "meta"))  # kept by the publish
    async with serve(redis_url) as api:
        for customer in customers:
            body = await answer(api, customer)
            expected = "2" if variant_of(experiment, customer) == "challenger" else "3"
            assert body["model_version"] == f"{expected}@" + (
                experiment.challenger_version if expected == "2" else newer.version
            )
        replaced = store.stop(redis_client, experiment, promote=True, grace_seconds=60)
        assert replaced == newer.version and redis_client.get(EXPERIMENT_KEY) is None
        assert redis_client.get(ACTIVE_KEY).decode() == experiment.challenger_version
        assert 0 < redis_client.ttl(version_key(newer.version, "meta")) <= 60  # the old champion expires
        await answer(api, customers[0])  # an answer started before the switch may still come from before it
        for customer in customers[:5]:
            body = await answer(api, customer)
            assert (body["experiment"], body["variant"]) == (None, None)
            assert body["model_version"] == f"2@{experiment.challenger_version}"


async def test_a_stop_without_promotion_lets_the_challenger_expire(
    trained, redis_client: redis.Redis, published: PublishReport
) -> None:
    experiment = challenger_of(trained, redis_client, published)
    store.start(redis_client, experiment)
    assert store.stop(redis_client, experiment, promote=False, grace_seconds=60) is None
    assert redis_client.get(ACTIVE_KEY).decode() == published.version
    assert 0 < redis_client.ttl(version_key(experiment.challenger_version, "meta")) <= 60
    with pytest.raises(store.NoExperimentError):
        store.running(redis_client)
