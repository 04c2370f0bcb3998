"""End to end in a real browser: Debian's chromium, driven by playwright's Python package, on the dashboard of
a real ``recs serve`` process (API keys on, access log on) over a real Redis server.

The page opens while nothing is published and says so; a publish shows the version; an answer, its
impression, a click and a purchase of the clicked item sent through the HTTP API show up on the page's
tiles, table and funnel within seconds; the page says so when the service goes away. Without the key the
page is a 401, and the key in the page's URL never reaches the process's output. The screenshot goes to the
test's temp dir and, when ``RECS_DASHBOARD_SCREENSHOT`` names a path, there too.

``make test`` installs chromium (apt) and playwright (the ``test`` extra); ``playwright install`` is never
used. A missing browser or package fails the test with that advice rather than skipping it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from serving.embedded_redis import free_port
from serving.publish import publish_bundle

RECS = str(Path(sys.executable).with_name("recs"))
READ = "e2e-dashboard-read-key-5be1f0"
MODEL = "e2e-dash"
INSTALL = "`make test` installs them: `apt-get install -y chromium` and the test extra (`pip install -e '.[test]'`)"
SCREENSHOT_TO = "RECS_DASHBOARD_SCREENSHOT"
UPDATE_SECONDS = 20  # the page refreshes every second here; this bounds a slow CI machine
PRICE, QUANTITY = Decimal("12.34"), 2
TILES = ("answers", "impressions", "clicks", "attributed-purchases", "attributed-revenue")


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(f"the dashboard test needs Debian's chromium, not found on PATH or at {path}; {INSTALL}")
    return path


@pytest.fixture(scope="module")
def playwright_api() -> Any:
    try:
        from playwright import sync_api
    except ImportError as exc:
        pytest.fail(f"the dashboard test needs playwright's Python package ({exc}); {INSTALL}")
    return sync_api


@dataclass
class Served:
    base: str
    log: Path
    proc: subprocess.Popen[bytes]

    def output(self) -> str:
        time.sleep(0.3)  # let the access log reach the file
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def served(redis_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``recs serve`` with a read key and the access log on, over the session's Redis, nothing published yet."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    work = tmp_path_factory.mktemp("dashboard")
    env = {
        **os.environ,
        "RECS_REDIS_URL": redis_server.url,
        "RECS_MODEL_NAME": MODEL,
        "RECS_HOME": str(work / "home"),
        "RECS_API_KEYS": READ,
        "RECS_VERSION_CHECK_SECONDS": "0.2",
    }
    env.pop("RECS_EVENT_API_KEYS", None)
    port = free_port()
    log = work / "serve.log"
    with log.open("wb") as out:
        command = [RECS, "serve", "--port", str(port), "--log-level", "debug", "--access-log"]
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    state = Served(f"http://127.0.0.1:{port}", log, proc)
    try:
        deadline = time.monotonic() + 60
        while f"serving on {state.base}" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"recs serve did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield state
    finally:
        state.stop()


def api(served: Served, method: str, path: str, **kwargs: Any) -> httpx.Response:
    response = httpx.request(method, served.base + path, headers={"X-API-Key": READ}, timeout=10, **kwargs)
    assert response.status_code in (200, 202), f"{method} {path}: {response.status_code} {response.text}"
    return response


def number(text: str) -> Decimal:
    """A tile's number as the page shows it ("1,234", "24.68")."""
    return Decimal(text.replace(",", ""))


def test_without_the_key_the_page_is_a_401(served: Served, playwright_api: Any) -> None:
    for params in ({}, {"key": "not-the-key"}, {"key": READ[:-1]}):
        refused = httpx.get(f"{served.base}/dashboard", params=params, timeout=10)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
        assert "/dashboard?key=" in refused.json()["reason"]
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path())
        try:
            page = browser.new_page()
            response = page.goto(f"{served.base}/dashboard")
            assert response is not None and response.status == 401
            assert "needs an API key" in page.content()
        finally:
            browser.close()


def test_the_page_follows_events_sent_through_the_api(
    served: Served, playwright_api: Any, trained, redis_server, tmp_path: Path
) -> None:
    expect = playwright_api.expect
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path())
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{served.base}/dashboard?key={READ}&refresh=1")
            tile = page.get_by_test_id

            # nothing published yet: the page says so
            expect(tile("status")).to_have_attribute("data-state", "unpublished", timeout=UPDATE_SECONDS * 1000)
            expect(tile("active-version")).to_have_text("nothing published")
            expect(tile("tile-impressions")).to_have_text("0")  # a fresh Redis
            expect(tile("tile-ctr")).to_have_text("–")  # a rate without impressions

            with redis.Redis.from_url(redis_server.url) as client:
                report = publish_bundle(trained.bundle, client, model_name=MODEL, model_version="1")
            expect(tile("status")).to_have_attribute("data-state", "ok", timeout=UPDATE_SECONDS * 1000)
            expect(tile("active-version")).to_have_text(report.model_version)
            expect(tile("active-published-at")).to_contain_text(" UTC")

            before = {name: number(tile(f"tile-{name}").inner_text()) for name in TILES}
            funnel_before = {name: number(tile(f"funnel-{name}").inner_text()) for name in ("views", "purchases")}
            customer = str(trained.bundle.customers.ids[3])
            answer = api(served, "GET", f"/v1/users/{customer}/recommendations?k=5").json()
            shown = [row["item_id"] for row in answer["items"]]
            rid = answer["recommendation_id"]
            bought = shown[1]
            events = [
                {"type": "impression", "item_ids": shown, "recommendation_id": rid},
                {"type": "click", "item_ids": [bought], "recommendation_id": rid},
                {"type": "view", "item_ids": [bought]},
                {
                    "type": "purchase",
                    "item_ids": [bought],
                    "price": float(PRICE),
                    "quantity": QUANTITY,
                    "order_id": "o1",
                },
            ]
            for event in events:
                api(served, "POST", "/v1/events", json={"customer_id": customer, **event})

            timeout = UPDATE_SECONDS * 1000
            for name in ("answers", "impressions", "clicks", "attributed-purchases"):
                expect(tile(f"tile-{name}")).to_have_text(f"{before[name] + 1:,}", timeout=timeout)
            revenue = before["attributed-revenue"] + PRICE * QUANTITY
            expect(tile("tile-attributed-revenue")).to_have_text(f"{revenue:,.2f}", timeout=timeout)
            clicks, impressions = before["clicks"] + 1, before["impressions"] + 1
            ctr = (100 * clicks / impressions).quantize(Decimal("0.01"), ROUND_HALF_UP)
            expect(tile("tile-ctr")).to_have_text(f"{ctr}%")
            for name in ("views", "purchases"):
                expect(tile(f"funnel-{name}")).to_have_text(f"{funnel_before[name] + 1:,}", timeout=timeout)
            version = answer["model_version"]
            row = page.locator(f'[data-testid="surface-row"][data-surface="for_you"][data-version="{version}"]')
            expect(row.locator('[data-col="clicks"]')).to_have_text(f"{before['clicks'] + 1:,}", timeout=timeout)
            expect(tile("chart-ctr")).not_to_have_attribute("data-points", "0")

            screenshot = tmp_path / "dashboard.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000
            if os.environ.get(SCREENSHOT_TO):
                shutil.copyfile(screenshot, os.environ[SCREENSHOT_TO])

            # the service goes away: the page says it cannot reach it and keeps the last numbers
            served.stop()
            expect(tile("status")).to_have_attribute("data-state", "error", timeout=timeout)
            expect(tile("status")).to_contain_text("Cannot reach")
            expect(tile("tile-clicks")).to_have_text(f"{before['clicks'] + 1:,}")
            assert not errors, f"the page's script raised: {errors}"
        finally:
            browser.close()
    output = served.output()
    assert "GET /dashboard?key=***&refresh=1 HTTP/1.1" in output, "the access log shows the request, key redacted"
    assert READ not in output, "the read key reached the process's output"
