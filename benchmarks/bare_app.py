"""The baselines for ``benchmarks.serve_speed`` (a bare FastAPI endpoint doing one Redis GET of a packed list) and
``benchmarks.event_ingest`` (bare event endpoints: a pydantic model and one XADD per event).

FastAPI with its defaults, as a hand-rolled service would be written (the return annotation makes FastAPI
validate and serialize the answer with pydantic).

    RECS_REDIS_URL=redis://... uvicorn benchmarks.bare_app:app

No events, no filters, no fallbacks, no metrics: what a hand-rolled "FastAPI + Redis" service costs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from pydantic import BaseModel, Field

from serving import cache


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.redis = cache.connect_async(os.environ["RECS_REDIS_URL"])
    yield
    await app.state.redis.aclose()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/bytes/{surface}/{list_id}")
async def bare_bytes(surface: str, list_id: str) -> Response:
    """The packed list stored at ``bare:<surface>:<id>``, as stored: one GET, the bytes returned (the
    strongest bare server of ``benchmarks.serve_speed``: no decoding, no JSON, no validation)."""
    return Response(
        await app.state.redis.get(f"bare:{surface}:{list_id}") or b"", media_type="application/octet-stream"
    )


@app.get("/bare/{surface}/{list_id}")
async def bare(surface: str, list_id: str) -> dict[str, object]:
    """The first 10 entries of the packed list stored at ``bare:<surface>:<id>``."""
    entries = cache.unpack_entries(await app.state.redis.get(f"bare:{surface}:{list_id}"))[:10]
    return {
        "id": list_id,
        "items": [{"item": int(e["item"]), "score": float(e["score"])} for e in entries],
    }


class BareEvent(BaseModel):
    customer_id: str
    type: str
    item_ids: list[str] = Field(min_length=1, max_length=100)
    recommendation_id: str | None = None
    order_id: str | None = None
    quantity: int | None = None
    price: float | None = None


class BareBatch(BaseModel):
    events: list[BareEvent] = Field(min_length=1, max_length=1000)


@app.post("/bare/events", status_code=202)
async def bare_event(event: BareEvent) -> dict[str, int]:
    """One event appended to the stream ``bare:log``."""
    await app.state.redis.xadd("bare:log", {"e": event.model_dump_json()})
    return {"accepted": 1}


@app.post("/bare/events/batch", status_code=202)
async def bare_events(batch: BareBatch) -> dict[str, int]:
    """Events appended to ``bare:log`` in one pipeline."""
    async with app.state.redis.pipeline(transaction=False) as pipe:
        for event in batch.events:
            pipe.xadd("bare:log", {"e": event.model_dump_json()})
        await pipe.execute()
    return {"accepted": len(batch.events)}
