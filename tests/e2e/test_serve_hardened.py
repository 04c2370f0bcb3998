"""End to end, hardened: a real ``recs serve`` process with API keys, a small body limit, debug logging and
uvicorn's access log on, against its own real Redis server (append-only file).

The storefront's view over real HTTP and a real HTTP parser: keys guard /v1 and never reach the process's
output; odd ids (unicode, %2F, NUL, newline) answer, 10 kB ids are 422s; declared and chunked bodies over
the limit are 413s. Last, an outage across a stop: events accepted while Redis is down are spooled under
``$RECS_HOME/event-spool`` when the process stops, and the next ``recs serve`` writes them to Redis.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import redis

from serving.cache import events_key
from serving.embedded_redis import EmbeddedRedis, free_port
from serving.publish import publish_bundle

RECS = str(Path(sys.executable).with_name("recs"))
READ, WRITE = "e2e-read-key-9d2f61", "e2e-write-key-0b77ce"
LIMIT = 4096


@dataclass
class Served:
    base: str
    log: Path
    home: Path
    redis: EmbeddedRedis
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = self.base.rsplit(":", 1)[1]
        command = [RECS, "serve", "--port", port, "--log-level", "debug", "--access-log"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"recs serve did not start:\n{self.log.read_text()}")
            time.sleep(0.2)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.proc = None
        return code


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("hardened")
    server = EmbeddedRedis(work / "redis", persist=True).start()
    with redis.Redis.from_url(server.url) as client:
        publish_bundle(trained.bundle, client, model_name="e2e-recs", model_version="1")
    env = {
        **os.environ,
        "RECS_REDIS_URL": server.url,
        "RECS_MODEL_NAME": "e2e-recs",
        "RECS_HOME": str(work / "home"),
        "RECS_API_KEYS": READ,
        "RECS_EVENT_API_KEYS": WRITE,
        "RECS_MAX_BODY_BYTES": str(LIMIT),
    }
    env.pop("RECS_EVENT_SPOOL_DIR", None)
    state = Served(f"http://127.0.0.1:{free_port()}", work / "serve.log", work / "home", server, env)
    state.start()
    try:
        yield state
    finally:
        if state.proc is not None:
            state.stop()
        server.stop()


def get(served: Served, path: str, key: str | None = READ) -> httpx.Response:
    return httpx.get(served.base + path, headers={"X-API-Key": key} if key else {}, timeout=5)


def test_keys_guard_v1_and_never_reach_the_process_output(served: Served) -> None:
    for path in ("/v1/popular", "/v1/users/c000001/recommendations", "/v1/items/tent-2p-explorer/similar"):
        assert get(served, path, key=None).status_code == 401
        assert get(served, path, key="not-a-key").status_code == 401
        assert get(served, path, key=READ).status_code == 200
        assert get(served, path, key=WRITE).status_code == 200
    event = {"customer_id": "c000001", "type": "view", "item_ids": ["tent-2p-explorer"]}
    post = lambda key: httpx.post(f"{served.base}/v1/events", json=event, headers={"X-API-Key": key}, timeout=5)  # noqa: E731
    assert post(READ).status_code == 403 and post(WRITE).status_code == 202
    for path in ("/healthz", "/readyz", "/metrics"):
        assert get(served, path, key=None).status_code == 200
    time.sleep(0.3)  # let the access log reach the file
    output = served.log.read_text(errors="replace")
    assert '"GET /v1/popular HTTP/1.1" 401' in output and '"GET /v1/popular HTTP/1.1" 200' in output
    assert READ not in output and WRITE not in output and "not-a-key" not in output


@pytest.mark.parametrize("odd", ["Zelt-ß-⛺-日本語", "a/b", "nul\x00inside", "line\nbreak", "50%off", " padded "])
def test_odd_ids_answer_over_real_http(served: Served, odd: str) -> None:
    response = get(served, f"/v1/items/{quote(odd, safe='')}/similar")
    assert response.status_code == 200 and response.json()["item_id"] == odd.strip()
    response = get(served, f"/v1/users/{quote(odd, safe='')}/next-purchase")
    assert response.status_code == 200 and response.json()["customer_id"] == odd.strip()


def test_ten_kilobyte_ids_are_422(served: Served) -> None:
    for path in ("/v1/users/{}/recommendations", "/v1/items/{}/complements"):
        for huge in ("x" * 10_000, quote("é" * 10_000)):  # the second is 60 kB once percent-encoded
            response = get(served, path.format(huge))
            assert response.status_code == 422 and "at most 256 characters" in response.text


def test_bodies_over_the_limit_are_413_declared_or_chunked(served: Served) -> None:
    big = {"item_ids": ["x"], "pad": "y" * (LIMIT * 2)}
    declared = httpx.post(f"{served.base}/v1/cart/complements", json=big, headers={"X-API-Key": READ}, timeout=5)
    assert declared.status_code == 413 and "RECS_MAX_BODY_BYTES" in declared.json()["reason"]

    def chunks() -> Iterator[bytes]:
        yield b'{"item_ids": ["x"], "pad": "'
        for _ in range(64):
            yield b"z" * 1024
        yield b'"}'

    chunked = httpx.post(
        f"{served.base}/v1/cart/complements",
        content=chunks(),
        headers={"X-API-Key": READ, "content-type": "application/json"},
        timeout=5,
    )
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert chunked.status_code == 413
    small = httpx.post(f"{served.base}/v1/cart/complements", json={"item_ids": ["x"]}, headers={"X-API-Key": READ})
    assert small.status_code == 200


def test_events_accepted_in_an_outage_survive_a_stop_and_reach_redis(served: Served) -> None:
    served.redis.stop()
    events = [{"customer_id": f"spooled-{i}", "type": "purchase", "item_ids": ["tent-2p-explorer"]} for i in range(3)]
    for event in events:
        response = httpx.post(f"{served.base}/v1/events", json=event, headers={"X-API-Key": WRITE}, timeout=5)
        assert response.status_code == 202 and response.json()["buffered"] is True
    ready = get(served, "/readyz", key=None)
    assert ready.status_code == 503 and ready.json()["buffered_events"] == 3
    served.stop()
    (spooled,) = (served.home / "event-spool").glob("*.jsonl")
    assert [json.loads(line)["customer_id"] for line in spooled.read_text().splitlines()] == [
        e["customer_id"] for e in events
    ]
    served.redis.start()
    served.start()
    deadline = time.monotonic() + 10
    with redis.Redis.from_url(served.redis.url) as client:
        while not all(client.exists(events_key(e["customer_id"])) for e in events):
            assert time.monotonic() < deadline, "spooled events did not reach Redis"
            time.sleep(0.1)
    assert not list((served.home / "event-spool").glob("*.jsonl"))
    body = get(served, "/v1/users/spooled-0/recommendations").json()
    assert "tent-2p-explorer" not in [row["item_id"] for row in body["items"]]
    assert "you bought" in body["items"][0]["reason"], body["items"][0]
