"""Probes and metrics: ``/healthz`` (the process is up; touches nothing), ``/readyz`` (Redis answers and an
active version is loaded; 503 with the reason otherwise), ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from serving.routes.common import REDIS_FAILURES, StateDep
from serving.schemas import Problem

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    version: str
    model_name: str
    model_version: str


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (no Redis involved)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Problem}})
async def readyz(state: StateDep) -> Readiness | JSONResponse:
    """Ready when Redis answers and the active version's tables are loaded."""
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            active = await state.refresh()
    except REDIS_FAILURES as exc:
        return not_ready(f"Redis is unreachable: {exc!r}")
    if active is None:
        return not_ready(state.problem or "no active version")
    meta = active.tables.meta
    return Readiness(
        status="ready",
        version=active.version,
        model_name=str(meta.get("model_name", "")),
        model_version=active.model_version,
    )


def not_ready(reason: str) -> JSONResponse:
    body = Problem(status="not ready", reason=reason)
    return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get("/metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics of this app."""
    return state.metrics.render()
