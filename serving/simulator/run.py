"""A simulation run: N shoppers visiting the storefront concurrently for M minutes (asyncio + httpx).

Each shopper starts after a random delay, then visits again and again, resting between visits (an
exponential time, ``visit_gap_seconds`` on average); pages within a visit are ``page_seconds`` apart on
average. With the defaults, 50 shoppers make about 30 requests a second. The run ends at the deadline once
every visit has sent its last page's events; ``on_progress`` is called about twice a second.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from recommender.synthetic import Shop
from serving.simulator.journey import Clock, Journey
from serving.simulator.ledger import DEFAULT_ANSWER_TTL_SECONDS, DEFAULT_ATTRIBUTION_WINDOW_SECONDS, Ledger
from serving.simulator.shoppers import Behaviour, Shopper, draw_shoppers
from serving.simulator.storefront import Problems, Storefront, Tally
from serving.simulator.truth import shop_truth

PROGRESS_SECONDS = 0.5


@dataclass(frozen=True)
class RunOptions:
    url: str
    shoppers: int = 50
    seconds: float = 60.0
    seed: int = 0
    guest_share: float = 0.2
    page_seconds: float = 1.0
    visit_gap_seconds: float = 8.0
    api_key: str | None = None
    write_key: str | None = None  # default: api_key
    attribution_window_seconds: int | None = None  # None: the service's, read from GET /v1/kpis
    answer_ttl_seconds: int = DEFAULT_ANSWER_TTL_SECONDS
    timeout_seconds: float = 10.0
    guest_tag: str | None = None  # names the guests guest-<tag>-<number>: the same tag and seed, the same guests


@dataclass(frozen=True)
class RunResult:
    options: RunOptions
    ledger: Ledger
    tally: Tally
    problems: Problems
    shoppers: list[Shopper]
    seconds: float


class ServiceUnreachableError(RuntimeError):
    """The service did not answer ``/healthz`` before the run."""


async def simulate(
    shop: Shop, options: RunOptions, on_progress: Callable[[float, Tally], None] | None = None
) -> RunResult:
    """Run the shoppers of ``shop`` against the service at ``options.url``; the ledger says what happened."""
    truth = shop_truth(shop)
    behaviour = Behaviour(truth)
    shoppers = draw_shoppers(
        truth, options.shoppers, options.seed, options.guest_share, options.guest_tag or uuid.uuid4().hex[:8]
    )
    headers = {"X-API-Key": options.api_key} if options.api_key else {}
    limits = httpx.Limits(max_connections=min(max(options.shoppers, 1), 100))
    async with httpx.AsyncClient(
        base_url=options.url.rstrip("/"), headers=headers, timeout=options.timeout_seconds, limits=limits
    ) as client:
        await _check_health(client)
        problems = Problems()
        window = options.attribution_window_seconds or await _service_window(client, problems)
        guests = frozenset(shopper.customer_id for shopper in shoppers if not shopper.known)
        ledger = Ledger(window_seconds=window, answer_ttl_seconds=options.answer_ttl_seconds, guests=guests)
        store = Storefront(client, ledger, problems, write_key=options.write_key or options.api_key)
        loop = asyncio.get_running_loop()
        started, t0 = loop.time(), time.perf_counter()
        clock = Clock(deadline=started + options.seconds, page_seconds=options.page_seconds, loop=loop)
        journey = Journey(store, behaviour, clock)
        tasks = [asyncio.create_task(_shop(journey, clock, shopper, options)) for shopper in shoppers]
        ticker = asyncio.create_task(_tick(clock, store.tally, on_progress, started))
        try:
            await asyncio.gather(*tasks)
        finally:
            ticker.cancel()
            for task in tasks:
                task.cancel()
        seconds = time.perf_counter() - t0
        if on_progress is not None:
            on_progress(seconds, store.tally)
    return RunResult(options, ledger, store.tally, store.problems, shoppers, seconds)


async def _shop(journey: Journey, clock: Clock, shopper: Shopper, options: RunOptions) -> None:
    """A shopper's visits until the deadline: a random start, then a rest between visits."""
    if not await clock.think(shopper, options.visit_gap_seconds / 2):
        return
    while True:
        await journey.visit(shopper)
        if not await clock.think(shopper, options.visit_gap_seconds):
            return


async def _tick(clock: Clock, tally: Tally, on_progress: Callable[[float, Tally], None] | None, started: float) -> None:
    if on_progress is None:
        return
    while True:
        on_progress(clock.loop.time() - started, tally)
        await asyncio.sleep(PROGRESS_SECONDS)


async def _check_health(client: httpx.AsyncClient) -> None:
    try:
        response = await client.get("/healthz")
    except httpx.HTTPError as exc:
        raise ServiceUnreachableError(f"{client.base_url} does not answer: {exc}") from exc
    if not response.is_success:
        raise ServiceUnreachableError(f"{client.base_url}/healthz answered {response.status_code}")


async def _service_window(client: httpx.AsyncClient, problems: Problems) -> int:
    """The service's attribution window, from ``GET /v1/kpis``; a problem and the default when unreadable."""
    try:
        response = await client.get("/v1/kpis")
        if response.is_success:
            return int(response.json()["attribution_window_seconds"])
        problems.add("GET /v1/kpis", str(response.status_code), response.text)
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        problems.add("GET /v1/kpis", type(exc).__name__, str(exc))
    return DEFAULT_ATTRIBUTION_WINDOW_SECONDS
