"""Probes and metrics: ``/healthz`` (the process is up; touches nothing), ``/readyz`` (Redis answers and an
active version is loaded; 503 with the reason otherwise, e.g. while Redis is down), ``/metrics``
(Prometheus text format). Both readiness answers say how many accepted events wait for Redis in this
process (``buffered_events``). These three stay open when API keys are configured."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from serving.routes.common import REDIS_FAILURES, StateDep
from serving.schemas import Problem
from serving.state import ServingState

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    version: str
    model_name: str
    model_version: str
    buffered_events: int = Field(description="events accepted while Redis was unreachable, not yet written to it")


class NotReady(Problem):
    buffered_events: int = Field(description="events accepted while Redis was unreachable, not yet written to it")


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (no Redis involved)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": NotReady}})
async def readyz(state: StateDep) -> Readiness | JSONResponse:
    """Ready when Redis answers and the active version's tables are loaded."""
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            active = await state.refresh()
    except REDIS_FAILURES as exc:
        return not_ready(state, f"Redis is unreachable: {exc!r}; answers are fallbacks from memory")
    if active is None:
        return not_ready(state, state.problem or "no active version")
    meta = active.tables.meta
    return Readiness(
        status="ready",
        version=active.version,
        model_name=str(meta.get("model_name", "")),
        model_version=active.model_version,
        buffered_events=len(state.events),
    )


def not_ready(state: ServingState, reason: str) -> JSONResponse:
    body = NotReady(status="not ready", reason=reason, buffered_events=len(state.events))
    return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get("/metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics of this app."""
    return state.metrics.render()
