"""A request body size limit as a pure ASGI middleware (``RECS_MAX_BODY_BYTES``): 413 with a JSON reason.

Some paths have their own limit (``POST /v1/events/batch``: ``RECS_MAX_BATCH_BODY_BYTES``).

A request that declares a larger ``Content-Length`` is refused before its body is read. A request with a
body of unknown length (``Transfer-Encoding: chunked``) is read up to the limit and refused as soon as it
passes it; a body within the limit is handed to the app whole, so the app never sees part of one.
Requests without a body (no ``Content-Length``, no ``Transfer-Encoding``: every GET) pass through after
one look at their headers.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATUS = 413


class BodyTooLargeMiddleware:
    """``app.add_middleware(BodyTooLargeMiddleware, max_bytes=...)``."""

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = path_limits or {}  # path -> (limit, the setting that sets it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, streamed = body_framing(scope)
        if not streamed and not length:
            await self.app(scope, receive, send)
            return
        limit, setting = self.path_limits.get(scope["path"], (self.max_bytes, "RECS_MAX_BODY_BYTES"))
        if length is not None and length > limit:
            await self.refuse(send, limit, setting)
            return
        body = await receive_body(receive, limit)
        if body is None:
            await self.refuse(send, limit, setting)
            return
        await self.app(scope, replay(body, receive), send)

    async def refuse(self, send: Send, limit: int, setting: str) -> None:
        reason = f"the request body is larger than {limit} bytes ({setting})"
        body = json.dumps({"status": "too large", "reason": reason}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": STATUS, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def receive_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` (a client gone away reads as empty)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def body_framing(scope: Scope) -> tuple[int | None, bool]:
    """(declared Content-Length or None, whether a Transfer-Encoding says the body comes in chunks).

    An unparseable Content-Length counts as a body of unknown length (read under the limit)."""
    length: int | None = None
    streamed = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                streamed = True
        elif name == b"transfer-encoding":
            streamed = True
    return length, streamed


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``body`` in one message, then waits on the real one (disconnect)."""
    sent = False

    async def receive_replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_replayed
