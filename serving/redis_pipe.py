"""A lean pipelined Redis connection for the service's per-request read (``CacheReader.customer_view``).

redis-py's asyncio client spends most of a request's Redis time in Python: taking a pooled connection,
packing arguments through generators, a ``wait_for`` per read and per write, the retry wrapper, returning the
connection (``benchmarks.serve_speed``: with it, the customer routes' read was half of their CPU). This one
keeps a single connection per process and pipelines every request's command on it: the command is packed
by hiredis (C), written at once, and its future resolved in order by a ``hiredis.Reader`` when the reply
comes. Redis answers a connection's commands in the order sent, so the oldest pending future takes the next
reply; a request that gave up (its ``asyncio.timeout``) leaves a cancelled future, which simply drops its
reply.

Failures are redis-py's exceptions (``redis.ConnectionError``, ``redis.ResponseError``,
``redis.exceptions.NoScriptError``), so callers catch ``RedisUnavailable`` as for the client. A lost
connection fails every pending command and the next call connects again. Timeouts are the caller's
(``asyncio.timeout`` around the call) plus ``connect_timeout`` for connecting. Plain ``redis://`` and
``unix://`` URLs with a password, user and db are served; anything else (TLS, a cluster) keeps redis-py's
client (``serving.cache.CacheReader`` decides, ``lean_pipe``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlparse

import hiredis
import redis
from redis.exceptions import NoScriptError


@dataclass(frozen=True)
class Address:
    """Where and how to connect: a TCP host and port or a Unix socket path, and what to send first."""

    host: str | None
    port: int
    path: str | None
    username: str | None
    password: str | None
    db: int

    @classmethod
    def of(cls, url: str) -> Address | None:
        """The address of a plain ``redis://`` or ``unix://`` URL, None for anything else (TLS, options)."""
        parsed = urlparse(url)
        if parsed.query and parsed.scheme != "unix":
            return None
        username = unquote(parsed.username) if parsed.username else None
        password = unquote(parsed.password) if parsed.password else None
        if parsed.scheme == "redis":
            db_text = parsed.path.lstrip("/")
            if db_text and not db_text.isdigit():
                return None
            return cls(parsed.hostname or "localhost", parsed.port or 6379, None, username, password, int(db_text or 0))
        if parsed.scheme == "unix" and parsed.path:
            query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
            if set(query) - {"db"} or not query.get("db", "0").isdigit():
                return None
            return cls(None, 0, parsed.path, username, password, int(query.get("db", "0")))
        return None


class _Protocol(asyncio.Protocol):
    """The connection: replies parsed as they arrive and handed to the pending futures in order."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=redis.ResponseError)
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.outgoing: list[bytes] = []  # commands packed since the last write

    def send(self, command: bytes, future: asyncio.Future[Any]) -> None:
        """Queue ``command``; every command queued within one turn of the event loop goes out in one write
        (one system call, a loopback send costing far more than packing: ``benchmarks.serve_speed``)."""
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outgoing.append(command)
        self.pending.append(future)

    def flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        if self.transport is not None and not self.lost and outgoing:
            self.transport.write(b"".join(outgoing))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                future = self.pending.popleft()
                if future.done():  # the caller gave up: the reply is dropped
                    continue
                if isinstance(reply, redis.ResponseError):
                    error = NoScriptError(str(reply)) if str(reply).startswith("NOSCRIPT") else reply
                    future.set_exception(error)
                else:
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage on the wire: this connection is done
            self._fail(redis.ConnectionError(f"unreadable reply from Redis: {exc!r}"))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(redis.ConnectionError(f"connection to Redis lost: {exc!r}" if exc else "connection to Redis closed"))

    def _fail(self, error: Exception) -> None:
        self.lost = True
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(error)


class RedisPipe:
    """``await pipe.call("EVALSHA", sha, ...)``: one command on the shared pipelined connection (see the
    module docstring). ``close()`` when the app stops."""

    def __init__(self, address: Address, *, connect_timeout: float = 0.5) -> None:
        self.address = address
        self.connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def call(self, *args: bytes | str | int) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        protocol.send(hiredis.pack_command(args), future)
        return await future

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            protocol = self._protocol
            if protocol is not None and not protocol.lost:
                return protocol  # another request connected while this one waited
            protocol = await self._open()
            self._protocol = protocol
            return protocol

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        address = self.address
        try:
            async with asyncio.timeout(self.connect_timeout):
                if address.path is not None:
                    _, protocol = await loop.create_unix_connection(_Protocol, address.path)
                else:
                    _, protocol = await loop.create_connection(_Protocol, address.host, address.port)
        except (OSError, TimeoutError) as exc:
            raise redis.ConnectionError(f"cannot connect to Redis: {exc!r}") from exc
        setup: list[tuple[bytes | str | int, ...]] = []
        if address.password is not None:
            auth = ("AUTH", address.username, address.password) if address.username else ("AUTH", address.password)
            setup.append(auth)
        if address.db:
            setup.append(("SELECT", address.db))
        for command in setup:  # before any request's command: their replies come first
            future: asyncio.Future[Any] = loop.create_future()
            protocol.send(hiredis.pack_command(command), future)
            async with asyncio.timeout(self.connect_timeout):
                await future
        return protocol

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
