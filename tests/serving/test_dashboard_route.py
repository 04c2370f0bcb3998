"""The dashboard's route through real HTTP (httpx over ASGI, the app's real lifespan, a real Redis): the page
and its assets, shipped as package data and self-contained (nothing fetched from elsewhere); read keys in
the ``X-API-Key`` header or the ``key`` query parameter, the /v1 routes' 401 otherwise; keys in URLs
redacted from uvicorn's access log. The page itself, in a browser, is tests/e2e/test_dashboard.py."""

from __future__ import annotations

import fnmatch
import logging
import re
import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr

from serving.routes.dashboard import ACCESS_LOGGER, ASSETS, PAGE, redact_url
from tests.serving.test_api import serve
from tests.serving.test_api_keys import assert_refused

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "serving" / "dashboard"
READ, WRITE = "dash-read-key-31c7e2", "dash-write-key-8a90f4"
TILES = (
    "answers",
    "impressions",
    "clicks",
    "ctr",
    "attributed-purchases",
    "conversion-rate",
    "attributed-revenue",
    "revenue-per-mille",
)


def referenced_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="dashboard/assets/([^"]+)"', html)


async def test_the_page_and_its_assets_are_served_without_keys_configured(redis_url: str) -> None:
    async with serve(redis_url) as api:
        page = await api.get("/dashboard")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for tile in TILES:
            assert f'data-testid="tile-{tile}"' in page.text
        names = referenced_assets(page.text)
        assert sorted(names) == sorted(ASSETS), "the page loads exactly the assets the route serves"
        for name in names:
            asset = await api.get(f"/dashboard/assets/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"] == ASSETS[name]
            assert asset.content == (STATIC / name).read_bytes()
        for name in ("../app.py", "index.html", "nothing.js", "..%2Froutes%2Fdashboard.py"):
            assert (await api.get(f"/dashboard/assets/{name}")).status_code == 404, name
        assert "/dashboard" not in (await api.get("/openapi.json")).text


def test_nothing_is_fetched_from_elsewhere() -> None:
    for path in STATIC.iterdir():
        text = path.read_text()
        # the SVG namespace is a name, not a fetch
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.\w+", text)) - {"http://www.w3.org"}
        assert not urls, f"{path.name} refers to {urls}"
        assert "@import" not in text and "url(" not in text, path.name
    html = (STATIC / PAGE).read_text()
    loaded = [url for url in re.findall(r'(?:src|href)="([^"]+)"', html) if url != "data:,"]  # an empty favicon
    assert loaded == [f"dashboard/assets/{name}" for name in referenced_assets(html)]


def test_every_static_file_is_package_data() -> None:
    """A wheel install serves the page: every file of serving/dashboard/ matches a package-data glob."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["serving"]
    files = sorted(path.name for path in STATIC.iterdir())
    assert PAGE in files and set(ASSETS) <= set(files)
    for name in files:
        assert any(fnmatch.fnmatch(f"dashboard/{name}", pattern) for pattern in globs), name


async def test_read_keys_guard_the_page_in_the_header_or_the_query(redis_url: str) -> None:
    async with serve(redis_url, api_keys=SecretStr(READ), event_api_keys=SecretStr(WRITE)) as api:
        for params, headers in (({}, {}), ({"key": "wrong"}, {}), ({"key": READ[:-1]}, {}), ({}, {"X-API-Key": "x"})):
            refused = await api.get("/dashboard", params=params, headers=headers)
            assert_refused(refused)
            assert "/dashboard?key=" in refused.json()["reason"]
            assert READ not in refused.text and WRITE not in refused.text
        # a wrong header is not rescued by a right query parameter: the header is the key given
        assert_refused(await api.get("/dashboard", params={"key": READ}, headers={"X-API-Key": "wrong"}))
        for params, headers in (({"key": READ}, {}), ({}, {"X-API-Key": READ}), ({"key": WRITE}, {})):
            page = await api.get("/dashboard", params=params, headers=headers)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert READ not in page.text and WRITE not in page.text, "the page never echoes a key"
        for name in ASSETS:  # code, no data: open like /docs
            assert (await api.get(f"/dashboard/assets/{name}")).status_code == 200
        assert_refused(await api.get("/v1/popular", params={"key": READ}))  # /v1 still takes headers only


@pytest.mark.parametrize(
    ("logged", "shown"),
    [
        ("/dashboard?key=s3cret", "/dashboard?key=***"),
        ("/dashboard?refresh=5&key=s3cret&range=7d", "/dashboard?refresh=5&key=***&range=7d"),
        ("/dashboard?%6Bey=s3cret", "/dashboard?%6Bey=***"),
        (
            '"GET /dashboard?key=s3cret HTTP/1.1" 200 and /x?key=other',
            '"GET /dashboard?key=*** HTTP/1.1" 200 and /x?key=***',
        ),
        ("/dashboard?monkey=banana&keys=a", "/dashboard?monkey=banana&keys=a"),
        ("/v1/popular", "/v1/popular"),
    ],
)
def test_redact_url_hides_the_value_of_every_key_parameter(logged: str, shown: str) -> None:
    assert redact_url(logged) == shown


async def test_the_access_log_never_shows_a_key_from_a_url(redis_url: str) -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # type: ignore[method-assign]
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        async with serve(redis_url, api_keys=SecretStr(READ)):
            # uvicorn's own call: the path with its query string is an argument of the record
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/dashboard?key={READ}", "1.1", 200)
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert [r.getMessage() for r in records] == ['127.0.0.1:5 - "GET /dashboard?key=*** HTTP/1.1" 200']
