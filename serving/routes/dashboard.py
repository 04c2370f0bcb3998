"""The live dashboard: ``GET /dashboard`` answers the page, ``GET /dashboard/assets/{name}`` its script and style.

The page (``serving/dashboard/``: HTML, plain JS drawing its own SVG charts, CSS; shipped as package data,
nothing fetched from elsewhere) reads ``GET /v1/kpis`` every few seconds and shows the journey KPIs of
docs/feedback.md. Neither route is in the OpenAPI schema.

Keys: when ``RECS_API_KEYS`` is set the page needs a read key, checked like the /v1 routes' keys
(``serving.auth``: read and write keys both work, constant-time comparison, the same 401 answer). A browser's
navigation cannot send a header, so the page also takes the key as ``/dashboard?key=...``; its script then
sends it as ``X-API-Key`` on its fetches. The assets hold no data and stay open, like ``/docs``.

A key in a URL must not reach a log: this router's lifespan adds a filter to uvicorn's access logger that
replaces the value of every ``key`` query parameter with ``***`` (``recs serve --access-log``). The page's
answer tells the browser not to store it or send it on as a referrer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response, Security

from serving.auth import HEADER, ApiKeyError, key_header, read_check
from serving.settings import ServingSettings

KEY_PARAMETER = "key"
REDACTED = "***"
ACCESS_LOGGER = "uvicorn.access"
PAGE = "index.html"
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# the page loads only its own script and style and talks only to this service
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}
ASSET_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


class KeyRedaction(logging.Filter):
    """Replaces the value of ``key`` query parameters in a log record's arguments (uvicorn's access log
    passes the path with its query string as an argument) and message with ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_url(record.msg)
        return True


def redact_url(text: str) -> str:
    """``text`` with the value of every ``key`` parameter of its query string replaced by ``***``; the
    parameter's name is compared decoded, as the route reads it (``%6Bey`` is ``key`` too)."""
    path, mark, query = text.partition("?")
    if not mark:
        return text
    query, space, rest = query.partition(" ")  # a query string ends at the first space of a log message
    pairs = []
    for pair in query.split("&"):
        name, equals, _value = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if equals and unquote_plus(name) == KEY_PARAMETER else pair)
    return f"{path}?{'&'.join(pairs)}{space}{redact_url(rest) if space else ''}"


@asynccontextmanager
async def redact_keys_in_access_log(_app: FastAPI) -> AsyncIterator[None]:
    """Adds ``KeyRedaction`` to uvicorn's access logger once per process (it stays: other apps in the
    process may log dashboard URLs too)."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, KeyRedaction) for existing in access.filters):
        access.addFilter(KeyRedaction())
    yield


router = APIRouter(tags=["dashboard"], include_in_schema=False, lifespan=redact_keys_in_access_log)


@functools.cache
def asset(name: str) -> bytes:
    """A file of ``serving/dashboard/`` (package data), read once per process."""
    return resources.files("serving").joinpath("dashboard", name).read_bytes()


async def check_key(settings: ServingSettings, candidate: str | None) -> None:
    """Raises ``ApiKeyError`` (401) when read keys are configured and ``candidate`` is none of them."""
    check = read_check(settings.read_keys, settings.write_keys)
    if check is None:
        return
    try:
        await check(candidate)
    except ApiKeyError as exc:
        hint = f"; the dashboard also takes it as /dashboard?{KEY_PARAMETER}=<a key of RECS_API_KEYS>"
        raise ApiKeyError(exc.status_code, exc.reason + hint) from None


@router.get("/dashboard")
async def dashboard(
    request: Request,
    header_key: Annotated[str | None, Security(key_header)] = None,
    key: Annotated[str | None, Query(alias=KEY_PARAMETER, description=f"a read key, when not in {HEADER}")] = None,
) -> Response:
    """The live dashboard page; it reads ``/v1/kpis`` every few seconds (``?refresh=`` seconds, default 3)."""
    await check_key(request.app.state.settings, header_key or key)
    return Response(asset(PAGE), media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/dashboard/assets/{name}")
async def dashboard_asset(name: str) -> Response:
    """The page's script and style (no data in them: open without a key)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="no such dashboard asset")
    return Response(asset(name), media_type=media_type, headers=ASSET_HEADERS)
