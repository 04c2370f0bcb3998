"""The baseline for ``benchmarks.serve_speed``: a bare FastAPI endpoint doing one Redis GET of a packed list.

FastAPI with its defaults, as a hand-rolled service would be written (the return annotation makes FastAPI
validate and serialize the answer with pydantic).

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


@app.get("/bare/{surface}/{list_id}")
async def bare(surface: str, list_id: str) -> dict[str, object]:
    """The first 10 entries of the packed list stored at ``bare:<surface>:<id>``."""
    entries = cache.unpack_entries(await app.state.redis.get(f"bare:{surface}:{list_id}"))[:10]
    return {
        "id": list_id,
        "items": [{"item": int(e["item"]), "score": float(e["score"])} for e in entries],
    }
