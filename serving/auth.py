"""API keys: ``RECS_API_KEYS`` (read) and ``RECS_EVENT_API_KEYS`` (write), checked in header ``X-API-Key``.

Who may call what:

- ``RECS_API_KEYS`` set: every /v1 route needs a key; read keys and write keys both work.
- ``RECS_EVENT_API_KEYS`` set: ``POST /v1/events`` needs a write key; a read key gets 403 there.
  Without write keys, events take any read key (or none, when no key is configured at all).
- ``RECS_EVENT_API_KEYS`` set: ``POST`` and ``DELETE /v1/rules`` (merchandising rules) need a write key too.
- ``/healthz``, ``/readyz``, ``/metrics`` (and ``/docs``, ``/openapi.json``) never need a key.

A missing or unknown key is a 401 with a reason and ``WWW-Authenticate: ApiKey header="X-API-Key"``.
Keys are read from the header only, never from the URL (servers log URLs), with one exception: the
dashboard's page (``GET /dashboard?key=``, which a browser's navigation cannot send a header for;
``serving.routes.dashboard`` hides the key in the access log). Keys are compared with
``secrets.compare_digest`` against every configured key. Nothing here logs a key or puts it in an answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from fastapi import Security
from fastapi.security import APIKeyHeader

HEADER = "X-API-Key"
CHALLENGE = {"WWW-Authenticate": f'ApiKey header="{HEADER}"'}
key_header = APIKeyHeader(
    name=HEADER, auto_error=False, description="an API key from RECS_API_KEYS (events: RECS_EVENT_API_KEYS)"
)


class ApiKeyError(Exception):
    """The request has no acceptable key; ``status_code`` is 401 (missing, unknown) or 403 (not allowed here)."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


def encoded(keys: Iterable[str]) -> tuple[bytes, ...]:
    return tuple(key.encode("utf-8") for key in keys)


def matches(candidate: bytes, keys: tuple[bytes, ...]) -> bool:
    """Whether ``candidate`` is one of ``keys``, comparing with every key in constant time."""
    found = False
    for key in keys:
        found |= secrets.compare_digest(candidate, key)
    return found


class KeyCheck:
    """A FastAPI dependency accepting ``accepted`` keys; ``refused`` keys are known but not allowed (403)."""

    def __init__(self, accepted: Iterable[str], refused: Iterable[str] = (), purpose: str = "this route") -> None:
        self.accepted = encoded(accepted)
        self.refused = encoded(refused)
        self.purpose = purpose

    def __repr__(self) -> str:  # never the keys
        return f"KeyCheck({len(self.accepted)} keys for {self.purpose})"

    async def __call__(self, key: str | None = Security(key_header)) -> None:
        if not key:
            raise ApiKeyError(401, f"{self.purpose} needs an API key in the {HEADER} header")
        # Starlette decodes header bytes as latin-1: encode back to the bytes the client sent
        candidate = key.encode("latin-1", errors="replace")
        if matches(candidate, self.accepted):
            return
        if matches(candidate, self.refused):
            raise ApiKeyError(403, f"this API key may not be used for {self.purpose}; use a key of RECS_EVENT_API_KEYS")
        raise ApiKeyError(401, f"the API key in the {HEADER} header is not valid for {self.purpose}")


def read_check(read_keys: tuple[str, ...], write_keys: tuple[str, ...]) -> KeyCheck | None:
    """The check of every /v1 route but events: None (open) without read keys."""
    if not read_keys:
        return None
    return KeyCheck((*read_keys, *write_keys), purpose="this route")


def event_check(read_keys: tuple[str, ...], write_keys: tuple[str, ...]) -> KeyCheck | None:
    """The check of ``POST /v1/events``: write keys when configured (read keys get 403), else read keys."""
    if write_keys:
        return KeyCheck(write_keys, refused=read_keys, purpose="sending events")
    if read_keys:
        return KeyCheck(read_keys, purpose="sending events")
    return None


def rules_check(read_keys: tuple[str, ...], write_keys: tuple[str, ...]) -> KeyCheck | None:
    """The check of the rules' changes (``POST``/``DELETE /v1/rules``): write keys when configured (read
    keys get 403), else read keys, else none."""
    if write_keys:
        return KeyCheck(write_keys, refused=read_keys, purpose="changing rules")
    if read_keys:
        return KeyCheck(read_keys, purpose="changing rules")
    return None
