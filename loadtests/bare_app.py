"""The service's HTTP API with no work behind it: the baseline for load-generator benchmarks.

    uvicorn --app-dir loadtests bare_app:app --host 127.0.0.1 --port 8001

What the load generator pushes against this app, beside what it pushes against the real
service's ``/health``, shows how much of a run's cost is the service and how much is Locust.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI(title="bare API")
_counts = {"queries": 0}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/query")
async def query(body: dict[str, Any]) -> dict[str, Any]:
    _counts["queries"] += 1
    return {"answer": "", "query": body.get("query", ""), "cached": False}


@app.get("/performance/stats")
async def stats() -> dict[str, Any]:
    return {"operations": {}, "cache_stats": {}, "cache_manager": {}, "counts": dict(_counts)}


@app.get("/metrics")
async def metrics() -> str:
    return ""


@app.post("/admin/reset-stats")
async def reset_stats() -> dict[str, bool]:
    _counts["queries"] = 0
    return {"reset": True}


@app.post("/admin/clear-caches")
async def clear_caches() -> dict[str, bool]:
    return {"cleared": True}
