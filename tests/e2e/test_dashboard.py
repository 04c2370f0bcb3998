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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from serving.publish import publish_bundle
from tests.e2e.serve_process import recs_serve

READ = "e2e-dashboard-read-key-5be1f0"
MODEL = "e2e-dash"
INSTALL = "`make test` installs them: `apt-get install -y chromium` and the test extra (`pip install -e '.[test]'`)"
SCREENSHOT_TO = "RECS_DASHBOARD_SCREENSHOT"
UPDATE_SECONDS = 20  # the page refreshes every second here; this bounds a slow CI machine
PRICE, QUANTITY = Decimal("12.34"), 2
# what the journey below adds to (one each, but answers and impressions: two)
COUNTED = (
    "tile-answers",
    "tile-impressions",
    "tile-clicks",
    "tile-attributed-purchases",
    "tile-attributed-revenue",
    "funnel-views",
    "funnel-add-to-carts",
    "funnel-purchases",
    "funnel-carts",
    "funnel-converted-carts",
)


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
    log = work / "serve.log"
    with recs_serve(env, log, "--log-level", "debug", "--access-log") as (base, proc):
        yield Served(base, log, proc)


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


def send_journey(served: Served, customer: str) -> dict[str, dict[str, Any]]:
    """Two answers through the HTTP API (for you, then complements of the clicked item), both shown; a click on
    the for-you list, a view, an add to cart and a purchase of the clicked item. Returns the answers."""
    for_you = api(served, "GET", f"/v1/users/{customer}/recommendations?k=5").json()
    shown = [row["item_id"] for row in for_you["items"]]
    bought = shown[1]
    complements = api(served, "GET", f"/v1/items/{bought}/complements?k=4").json()
    purchase = {"price": float(PRICE), "quantity": QUANTITY, "order_id": "o1"}
    events = [
        {"type": "impression", "item_ids": shown, "recommendation_id": for_you["recommendation_id"]},
        {"type": "click", "item_ids": [bought], "recommendation_id": for_you["recommendation_id"]},
        {"type": "view", "item_ids": [bought]},
        {"type": "add_to_cart", "item_ids": [bought]},
        {"type": "impression", "item_ids": [r["item_id"] for r in complements["items"]],
         "recommendation_id": complements["recommendation_id"]},
        {"type": "purchase", "item_ids": [bought], **purchase},
    ]  # fmt: skip
    for event in events:
        api(served, "POST", "/v1/events", json={"customer_id": customer, **event})
    return {"for_you": for_you, "complements": complements}


def percent(numerator: Decimal, denominator: Decimal) -> str:
    return f"{(100 * numerator / denominator).quantize(Decimal('0.01'), ROUND_HALF_UP)}%"


def test_the_page_follows_events_sent_through_the_api(
    served: Served, playwright_api: Any, trained, redis_server, tmp_path: Path
) -> None:
    expect = playwright_api.expect
    wait = UPDATE_SECONDS * 1000
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path())
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{served.base}/dashboard?key={READ}&refresh=1")
            tile = page.get_by_test_id

            # nothing published yet: the page says so
            expect(tile("status")).to_have_attribute("data-state", "unpublished", timeout=wait)
            expect(tile("active-version")).to_have_text("nothing published")
            expect(tile("tile-impressions")).to_have_text("0")  # a fresh Redis
            expect(tile("tile-ctr")).to_have_text("–")  # a rate without impressions

            with redis.Redis.from_url(redis_server.url) as client:
                report = publish_bundle(trained.bundle, client, model_name=MODEL, model_version="1")
            expect(tile("status")).to_have_attribute("data-state", "ok", timeout=wait)
            published = f"1@{report.version}"  # the answers' model_version: the registry's version @ the publish
            expect(tile("active-version")).to_have_text(published)
            expect(tile("active-published-at")).to_contain_text(" UTC")

            before = {name: number(tile(name).inner_text()) for name in COUNTED}
            answers = send_journey(served, str(trained.bundle.customers.ids[3]))
            assert {answer["model_version"] for answer in answers.values()} == {published}

            after = {name: before[name] + 1 for name in COUNTED}
            after["tile-answers"] += 1  # two answers, two lists shown, one click
            after["tile-impressions"] += 1
            after["tile-attributed-revenue"] = before["tile-attributed-revenue"] + PRICE * QUANTITY
            for name, value in after.items():
                shown = f"{value:,.2f}" if name == "tile-attributed-revenue" else f"{value:,}"
                expect(tile(name)).to_have_text(shown, timeout=wait)
            expect(tile("tile-ctr")).to_have_text(percent(after["tile-clicks"], after["tile-impressions"]))
            conversion = percent(after["tile-attributed-purchases"], after["tile-impressions"])
            expect(tile("tile-conversion-rate")).to_have_text(conversion)
            abandoned = number(tile("funnel-abandoned-carts").inner_text())
            rate = percent(abandoned, abandoned + after["funnel-converted-carts"])
            expect(tile("funnel-cart-abandonment-rate")).to_have_text(rate)
            expect(tile("chart-ctr")).not_to_have_attribute("data-points", "0")

            # the version was published in this test: its rows hold exactly this journey
            def cell(surface: str, column: str) -> Any:
                row = f'[data-testid="surface-row"][data-surface="{surface}"][data-version="{published}"]'
                return page.locator(f'{row} [data-col="{column}"]')

            revenue = f"{PRICE * QUANTITY}"
            rows = {
                "for_you": {"answers": "1", "clicks": "1", "ctr": "100.00%", "attributed_revenue": revenue},
                "complements": {"impressions": "1", "clicks": "0", "ctr": "0.00%", "conversion_rate": "0.00%"},
            }
            for surface, columns in rows.items():
                for column, value in columns.items():
                    expect(cell(surface, column)).to_have_text(value)

            screenshot = tmp_path / "dashboard.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000
            if os.environ.get(SCREENSHOT_TO):
                shutil.copyfile(screenshot, os.environ[SCREENSHOT_TO])

            # the range selector: whole hours up to the current one (the last hour may have just begun: its
            # numbers are not compared)
            tile("range").select_option("7d")
            expect(tile("chart-revenue")).to_have_attribute("data-hours", "168", timeout=wait)
            expect(tile("tile-clicks")).to_have_text(f"{after['tile-clicks']:,}")
            tile("range").select_option("1h")
            expect(tile("chart-revenue")).to_have_attribute("data-hours", "1", timeout=wait)
            assert "range=1h" in page.url

            # the service goes away: the page says it cannot reach it and keeps the last numbers
            served.stop()
            expect(tile("status")).to_have_attribute("data-state", "error", timeout=wait)
            expect(tile("status")).to_contain_text("Cannot reach")
            expect(tile("tile-clicks")).to_have_text(f"{after['tile-clicks']:,}")
            assert not errors, f"the page's script raised: {errors}"
        finally:
            browser.close()
    output = served.output()
    assert "GET /dashboard?key=***&refresh=1 HTTP/1.1" in output, "the access log shows the request, key redacted"
    assert READ not in output, "the read key reached the process's output"
