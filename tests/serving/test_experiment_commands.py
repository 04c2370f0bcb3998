"""``recs experiment start/status/stop`` as real processes, against a real MLflow store under the test's
RECS_HOME and the real Redis: the challenger is published beside the champion without serving everyone, a
second experiment is refused, status reports both variants, and stop records the result on both versions,
then promotes only a challenger that won."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from mlflow import MlflowClient

from serving.cache import ACTIVE_KEY, EXPERIMENT_KEY, version_key
from serving.experiments.config import Experiment
from serving.feedback.store import experiment_key
from tests.serving.test_champion_commands import active, champion, recs, versions  # noqa: F401 (a fixture)


def plant(client: redis.Redis, name: str, variant: str, customers: int, converting: int) -> None:
    """Per-customer counters as the event scripts leave them: each customer 4 impressions, ``converting`` of
    them one attributed purchase of 10.00."""
    for i in range(customers):
        customer = f"{variant}-{i}"
        client.hincrby(experiment_key(name, variant, "answers"), customer, 2)
        client.hincrby(experiment_key(name, variant, "impressions"), customer, 4)
        if i < converting:
            client.hincrby(experiment_key(name, variant, "clicks"), customer, 1)
            client.hincrby(experiment_key(name, variant, "purchases"), customer, 1)
            client.hincrby(experiment_key(name, variant, "revenue_cents"), customer, 1000)


def start(home: Path, url: str, name: str) -> Experiment:
    code, out = recs(["publish"], home, url)
    assert code == 0, out
    code, out = recs(["experiment", "start", "--challenger", "2", "--share", "0.5", "--name", name], home, url)
    assert code == 0 and "Traceback" not in out, out
    assert f"experiment {name}: challenger version 2" in out and "champion version 1 for the rest" in out, out
    return Experiment.from_json(redis.Redis.from_url(url).get(EXPERIMENT_KEY))


def test_start_refuses_a_second_then_stop_without_a_winner_keeps_the_champion(
    versions: MlflowClient,  # noqa: F811
    recs_home: Path,
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    experiment = start(recs_home, redis_url, "first")
    serving, meta = active(redis_client)
    assert meta["model_version"] == "1"
    assert active(redis_client)[0] == serving  # the champion still serves
    assert redis_client.exists(version_key(experiment.challenger_version, "meta"))
    assert str(versions.get_model_version_by_alias("test-recs", "challenger").version) == "2"
    code, out = recs(["experiment", "start", "--challenger", "2", "--name", "second"], recs_home, redis_url)
    assert code == 5 and "experiment 'first' is running: one experiment at a time" in out, out

    plant(redis_client, "first", "champion", 300, 30)
    plant(redis_client, "first", "challenger", 300, 33)  # a little better: not significant
    code, out = recs(["experiment", "status", "--json"], recs_home, redis_url)
    assert code == 0, out
    status = json.loads(out)
    champion_row, challenger_row = status["variants"]
    assert (champion_row["customers"], challenger_row["impressions"]) == (300, 1200)
    assert challenger_row["conversion_rate"] == 33 / 1200 and status["winner"] is None
    assert 0.05 < status["p_value"] < 1 and len(challenger_row["conversion_rate_ci95"]) == 2

    code, out = recs(["experiment", "stop", "--promote-if-better"], recs_home, redis_url)
    assert code == 0 and "not promoted: the challenger did not win" in out, out
    assert active(redis_client)[0] == serving and redis_client.get(EXPERIMENT_KEY) is None
    assert champion(versions) == "1"
    for version, result in (("1", "inconclusive"), ("2", "inconclusive")):
        tags = versions.get_model_version("test-recs", version).tags
        assert tags["recs.experiment"] == "first" and tags["recs.experiment.result"] == result
    run_id = versions.get_model_version("test-recs", "2").run_id
    history = versions.get_metric_history(run_id, "experiment/first/conversion_rate")
    assert history and history[-1].value == 33 / 1200
    code, out = recs(["experiment", "status"], recs_home, redis_url)
    assert code == 5 and "no experiment is running" in out, out


def test_stop_promotes_a_challenger_that_won(
    versions: MlflowClient,  # noqa: F811
    recs_home: Path,
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    experiment = start(recs_home, redis_url, "second")
    plant(redis_client, "second", "champion", 400, 10)
    plant(redis_client, "second", "challenger", 400, 60)
    code, out = recs(["experiment", "stop", "--promote-if-better"], recs_home, redis_url)
    assert code == 0 and "champion: version 1 -> version 2 (promotion; reason: won experiment second" in out, out
    assert redis_client.get(ACTIVE_KEY).decode() == experiment.challenger_version
    assert champion(versions) == "2"
    assert versions.get_model_version("test-recs", "2").tags["recs.experiment.result"] == "won"
    assert versions.get_model_version("test-recs", "1").tags["recs.experiment.result"] == "lost"
