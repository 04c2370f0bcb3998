"""The baseline for ``benchmarks.serve_speed``: a bare FastAPI endpoint doing one Redis GET of a packed list.

    RECS_REDIS_URL=redis://... uvicorn benchmarks.bare_app:app

No events, no filters, no fallbacks, no metrics: what a hand-rolled "FastAPI + Redis" service costs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

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


@app.get("/bare/{customer_id}")
async def bare(customer_id: str) -> dict[str, object]:
    entries = cache.unpack_entries(await app.state.redis.get(f"bare:{customer_id}"))[:10]
    return {
        "customer_id": customer_id,
        "items": [{"item": int(e["item"]), "score": float(e["score"])} for e in entries],
    }
