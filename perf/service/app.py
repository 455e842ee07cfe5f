"""``create_app(settings)``: the FastAPI app of the reference query service.

Endpoints: ``POST /query``, ``GET /health`` (``?deep=1`` adds one database round trip),
``GET /performance/stats``, ``GET /metrics``, ``GET /entities``, ``POST /admin/reset-stats``,
``POST /admin/clear-caches``, ``POST /admin/analyze``. Failures map to clear 4xx/5xx answers
(``{"error": code, "message": ...}``) and are counted under ``counters`` in the stats.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from perf.errors import PoolExhaustedError, TokenBudgetError, UnknownModelError
from perf.monitor import PROMETHEUS_CONTENT_TYPE, PerformanceMonitor, prometheus_text
from perf.service.llm import LLMUnavailableError
from perf.service.models import Entity
from perf.service.pipeline import UnknownEntitiesError
from perf.service.runtime import ServiceRuntime
from perf.service.settings import ServiceSettings

__all__ = ["QueryRequest", "create_app"]


class QueryRequest(BaseModel):
    """The body of ``POST /query``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(min_length=1)
    conversation_id: str | None = Field(None, min_length=1, max_length=128)
    model: str | None = Field(None, min_length=1, max_length=64)


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"error": code, "message": message, **extra}, status, headers=headers)


def create_app(
    settings: ServiceSettings | None = None,
    *,
    monitor: PerformanceMonitor | None = None,
    llm_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The service app; everything starts in its lifespan (``runtime`` on ``app.state``).

    ``llm_transport`` replaces the network under the LLM client (e.g. ``httpx.ASGITransport``
    around the stub app, for in-process tests).
    """
    runtime = ServiceRuntime(
        settings if settings is not None else ServiceSettings(),
        monitor=monitor,
        llm_transport=llm_transport,
    )
    counters = None  # bound after start-up

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal counters
        await runtime.start()
        counters = runtime.pipeline.counters
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="perf reference query service", lifespan=lifespan)
    app.state.runtime = runtime

    def count(name: str) -> None:
        if counters is not None:
            counters[name] += 1

    _add_error_handlers(app, count)
    _add_routes(app, runtime, count)
    return app


def _add_error_handlers(app: FastAPI, count: Callable[[str], None]) -> None:
    """Every failure a client can cause, or the service can suffer, as a clear JSON answer.

    ``count`` adds one to a named counter in ``/performance/stats``.
    """

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        count("bad_requests")
        details = jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})
        message = 'the body must be JSON {"query": str, "conversation_id"?: str, "model"?: str}'
        return _error(422, "invalid_request", message, detail=details)

    @app.exception_handler(UnknownEntitiesError)
    async def unknown_entities(request: Request, exc: UnknownEntitiesError) -> JSONResponse:
        return _error(404, "unknown_entities", str(exc), unknown=exc.unknown)

    @app.exception_handler(UnknownModelError)
    async def unknown_model(request: Request, exc: UnknownModelError) -> JSONResponse:
        count("bad_requests")
        return _error(422, "unknown_model", str(exc))

    @app.exception_handler(TokenBudgetError)
    async def over_budget(request: Request, exc: TokenBudgetError) -> JSONResponse:
        count("budget_rejected")
        return _error(413, "token_budget_exceeded", str(exc))

    @app.exception_handler(LLMUnavailableError)
    async def llm_unavailable(request: Request, exc: LLMUnavailableError) -> JSONResponse:
        return _error(503, "llm_unavailable", str(exc), reason=exc.reason)

    @app.exception_handler(PoolExhaustedError)
    async def pool_exhausted(request: Request, exc: PoolExhaustedError) -> JSONResponse:
        count("pool_exhausted")
        return _error(503, "pool_exhausted", str(exc))

    @app.exception_handler(OperationalError)
    async def database_error(request: Request, exc: OperationalError) -> JSONResponse:
        if "locked" in str(exc.orig) or "busy" in str(exc.orig):
            count("db_locked")
            message = "the database is locked by another writer; retry shortly (or raise "
            message += "PERF_DB_BUSY_TIMEOUT_MS to wait longer)"
            return _error(503, "database_locked", message)
        count("db_errors")
        return _error(503, "database_error", f"database error: {exc.orig!r:.200}")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        count("internal_errors")
        return _error(500, "internal_error", f"{type(exc).__name__}: {exc}"[:300])


def _add_routes(app: FastAPI, runtime: ServiceRuntime, count: Callable[[str], None]) -> None:
    @app.post("/query")
    async def query(body: QueryRequest) -> Any:
        limit = runtime.settings.max_query_chars
        if len(body.query) > limit:
            count("bad_requests")
            message = f"the query has {len(body.query)} characters, over the limit of {limit}"
            return _error(413, "query_too_long", message + " (PERF_MAX_QUERY_CHARS)")
        return await runtime.pipeline.run(body.query, body.conversation_id, body.model)

    @app.get("/health")
    async def health(deep: bool = False) -> Any:
        body: dict[str, Any] = {"status": "ok", "llm": runtime.llm.health()}
        if deep:
            try:
                await runtime.check_database()
                body["database"] = "ok"
            except Exception as exc:
                return JSONResponse({**body, "status": "degraded", "database": repr(exc)}, 503)
        return body

    @app.get("/performance/stats")
    async def performance_stats(settle: bool = False, histograms: bool = False) -> dict[str, Any]:
        return await runtime.stats(settle, histograms=histograms)

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            prometheus_text(runtime.monitor), media_type=PROMETHEUS_CONTENT_TYPE
        )

    @app.get("/entities")
    async def entities(
        limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0)
    ) -> dict[str, Any]:
        async with runtime.sessions() as session:
            rows = await session.execute(
                select(Entity.entity_id, Entity.friendly_name)
                .order_by(Entity.id)
                .limit(limit)
                .offset(offset)
            )
            return {"entities": [{"entity_id": e, "name": n} for e, n in rows]}

    @app.post("/admin/reset-stats")
    async def reset_stats() -> dict[str, Any]:
        return await runtime.reset_stats()

    @app.post("/admin/clear-caches")
    async def clear_caches() -> dict[str, list[str]]:
        runtime.caches.clear()
        return {"cleared": runtime.caches.names()}

    @app.post("/admin/analyze")
    async def analyze(full: bool = False) -> dict[str, Any]:
        report = await runtime.scheduler.run_now() if not full else await runtime.analyze(True)
        return report.as_dict()
