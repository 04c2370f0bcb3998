"""The lean pipelined connection (``serving.redis_pipe``) against a real redis-server: replies in order under
concurrency, errors as redis-py's exceptions, a caller that gives up, an outage and the reconnect after it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
import uvloop
from redis.exceptions import NoScriptError

from serving.cache import lean_pipe
from serving.embedded_redis import EmbeddedRedis
from serving.redis_pipe import Address, RedisPipe

T = TypeVar("T")


def test_addresses_of_urls() -> None:
    plain = Address.of("redis://127.0.0.1:6390/2")
    assert plain is not None and (plain.host, plain.port, plain.db, plain.password) == ("127.0.0.1", 6390, 2, None)
    secret = Address.of("redis://user:p%40ss@example:7000")
    assert secret is not None and (secret.username, secret.password, secret.db) == ("user", "p@ss", 0)
    unix = Address.of("unix:///tmp/redis.sock?db=3")
    assert unix is not None and (unix.path, unix.db) == ("/tmp/redis.sock", 3)
    assert Address.of("rediss://example:6380") is None  # TLS: redis-py's client
    assert Address.of("redis://example:6379/0?socket_timeout=2") is None  # options: redis-py's client
    assert lean_pipe("rediss://example:6380") is None


LOOPS = pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # uvicorn and granian serve on uvloop


def run_on(loop: str, main: Coroutine[Any, Any, T]) -> T:
    return uvloop.run(main) if loop == "uvloop" else asyncio.run(main)


@LOOPS
def test_concurrent_commands_get_their_own_replies(redis_url: str, loop: str) -> None:
    async def run() -> list[bytes | None]:
        pipe = lean_pipe(redis_url)
        assert pipe is not None
        try:
            await asyncio.gather(*(pipe.call("SET", f"k{i}", f"v{i}") for i in range(200)))
            return await asyncio.gather(*(pipe.call("GET", f"k{i}") for i in range(200)))
        finally:
            await pipe.close()

    assert run_on(loop, run()) == [f"v{i}".encode() for i in range(200)]


@LOOPS
def test_errors_are_redis_py_exceptions(redis_url: str, loop: str) -> None:
    async def run() -> None:
        pipe = lean_pipe(redis_url)
        assert pipe is not None
        try:
            with pytest.raises(NoScriptError):
                await pipe.call("EVALSHA", "0" * 40, 0)
            await pipe.call("SET", "text", "x")
            with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
                await pipe.call("HGET", "text", "field")
            assert await pipe.call("EVAL", "return {1, 'two'}", 0) == [1, b"two"]  # still in step
        finally:
            await pipe.close()

    run_on(loop, run())


@LOOPS
def test_a_caller_that_gives_up_leaves_the_next_reply_to_the_next_caller(redis_url: str, loop: str) -> None:
    async def run() -> bytes | None:
        pipe = lean_pipe(redis_url)
        assert pipe is not None
        try:
            await pipe.call("SET", "after", "mine")
            slow = asyncio.ensure_future(pipe.call("EVAL", "local t = redis.call('TIME') return 'slow'", 0))
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            return await pipe.call("GET", "after")
        finally:
            await pipe.close()

    assert run_on(loop, run()) == b"mine"


@LOOPS
def test_an_outage_fails_fast_and_the_pipe_reconnects(tmp_path: Path, loop: str) -> None:
    server = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    port = server.port

    async def run() -> None:
        address = Address.of(server.url)
        assert address is not None
        pipe = RedisPipe(address, connect_timeout=0.5)
        try:
            assert await pipe.call("PING") == b"PONG"
            server.stop()
            with pytest.raises(redis.ConnectionError):
                async with asyncio.timeout(2):
                    await pipe.call("PING")
            with pytest.raises(redis.ConnectionError):  # still down: connecting fails, no hang
                await pipe.call("PING")
            EmbeddedRedis(tmp_path / "redis", port=port, persist=False).start()
            assert await pipe.call("PING") == b"PONG"
        finally:
            await pipe.close()

    try:
        run_on(loop, run())
    finally:
        restarted = redis.Redis(host="127.0.0.1", port=port)
        with contextlib.suppress(redis.RedisError):
            restarted.shutdown(nosave=True)
