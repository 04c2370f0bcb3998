"""``GET /v1/kpis``: the journey KPIs of a time range, per surface × model version, with the funnel and the
hourly series (``serving.feedback.kpis``; the definitions are in ``docs/feedback.md``).

One pipeline reads one counter hash per hour of the range; nothing scans events. Redis unreachable: 503
with a reason (there is nothing useful to answer instead).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from recommender.vocabulary import AnswerSurface
from serving.feedback import store
from serving.feedback.kpis import kpi_report
from serving.routes.common import REDIS_FAILURES, StateDep, json_answer, redis_failed
from serving.routes.filters import StrictQueryRoute
from serving.schemas import MAX_UNIX_SECONDS, KpiReport, Problem
from serving.state import Active
from serving.times import unix_seconds

router = APIRouter(prefix="/v1", tags=["kpis"], route_class=StrictQueryRoute)
DEFAULT_RANGE_SECONDS = 24 * 3600
MAX_RANGE_HOURS = 31 * 24
TIME_HELP = "ISO-8601 (UTC when no offset is given) or Unix seconds"


def parse_time(name: str, value: str | None, default: float) -> float:
    """A query parameter's time in Unix seconds; a 422 naming the parameter when it is neither form."""
    if value is None:
        return default
    try:
        seconds = unix_seconds(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_UNIX_SECONDS):
        raise RequestValidationError(
            [{"type": "value_error", "loc": ["query", name], "msg": f"{name}: {TIME_HELP}", "input": value}]
        )
    return seconds


def hour_range(start: float, end: float) -> range:
    """The hours (Unix seconds // 3600) that ``start``..``end`` touches; a 422 when the range is empty or
    longer than ``MAX_RANGE_HOURS``."""
    if end < start:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ["query", "to"], "msg": "to is before from", "input": end}]
        )
    hours = range(int(start // store.HOUR), int(end // store.HOUR) + 1)
    if len(hours) > MAX_RANGE_HOURS:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ["query", "from"],
                    "msg": f"the range spans {len(hours)} hours; at most {MAX_RANGE_HOURS} (31 days)",
                    "input": start,
                }
            ]
        )
    return hours


@router.get(
    "/kpis",
    response_model=KpiReport,
    responses={503: {"model": Problem, "description": "Redis is unreachable: the counters cannot be read"}},
)
async def kpis(
    state: StateDep,
    from_: Annotated[
        str | None, Query(alias="from", max_length=64, description=f"{TIME_HELP}; default: to - 24 h")
    ] = None,
    to: Annotated[str | None, Query(max_length=64, description=f"{TIME_HELP}; default: now")] = None,
    surface: Annotated[AnswerSurface | None, Query(description="only this surface's rows")] = None,
) -> Response:
    """Journey KPIs: answers, impressions, clicks, CTR, attributed purchases, conversion, attributed revenue
    and revenue per thousand impressions, per surface × model version and per hour; the funnel of all
    traffic with cart abandonment."""
    now = time.time()
    end = parse_time("to", to, now)
    hours = hour_range(parse_time("from", from_, end - DEFAULT_RANGE_SECONDS), end)
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            counters = await store.read_hours(state.reader.client, hours)
            active = await state.current()
    except REDIS_FAILURES as exc:
        redis_failed(state, "kpis", exc)
        problem = Problem(status="unavailable", reason=f"the KPI counters (Redis) cannot be read: {exc!r}")
        return JSONResponse(problem.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    report = kpi_report(
        hours,
        counters,
        now=now,
        window=state.settings.attribution_window_seconds,
        surface=surface,
        active=active_version(active),
    )
    return json_answer(report)


def active_version(active: Active | None) -> dict[str, str | None] | None:
    if active is None:
        return None
    return {"model_version": active.model_version, "published_at": active.tables.meta.get("published_at")}
