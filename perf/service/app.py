"""``create_app(settings)``: the FastAPI app of the reference query service.

Endpoints: ``POST /query``, ``GET /health`` (``?deep=1`` adds one database round trip),
``GET /performance/stats``, ``GET /metrics``, ``GET /entities``, ``POST /admin/reset-stats``,
``POST /admin/clear-caches``, ``POST /admin/analyze``. Failures map to clear 4xx/5xx answers
(``{"error": code, "message": ...}``) and are counted under ``counters`` in the stats; every
status each route can answer is in ``/openapi.json`` (``perf.service.schema``). Bodies over
``max_body_bytes`` are refused unread, queries beyond ``max_queries_in_flight`` are shed (503
``overloaded``) and a query whose client hangs up is cancelled; ``/admin/*`` is guarded
(``perf.service.guards``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from perf.errors import PoolExhaustedError, TokenBudgetError, UnknownModelError
from perf.monitor import PROMETHEUS_CONTENT_TYPE, PerformanceMonitor, prometheus_text
from perf.service.guards import Admission, BodyLimit, QueryAdmission, admin_refusal
from perf.service.llm import LLMUnavailableError
from perf.service.models import Entity
from perf.service.pipeline import UnknownEntitiesError
from perf.service.runtime import ServiceRuntime
from perf.service.schema import HealthBody, QueryResponse, document_limits, responses_for
from perf.service.settings import ServiceSettings

__all__ = ["QueryRequest", "create_app"]


class QueryRequest(BaseModel):
    """The body of ``POST /query``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(min_length=1)
    conversation_id: str | None = Field(None, min_length=1, max_length=128)
    model: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("query", "conversation_id", "model")
    @classmethod
    def _encodable(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.encode()
            except UnicodeEncodeError:
                raise ValueError("must be Unicode text (it holds a lone surrogate)") from None
        return value


_FLAG = TypeAdapter(bool)
# /health's ``deep`` as FastAPI would document it; parsed by hand (see ``_query_flag``).
_DEEP_PARAMETER = {
    "name": "deep", "in": "query", "required": False,
    "schema": {"type": "boolean", "default": False, "title": "Deep"},
}  # fmt: skip


def _query_flag(request: Request, name: str) -> bool:
    """A boolean query parameter, validated as FastAPI would (422 on a bad value). A declared
    parameter made FastAPI's dependency solving 40 % of the CPU of a ``/health`` request
    (README, "The generator's ceiling")."""
    raw = request.query_params.get(name)
    if raw is None:
        return False
    try:
        return _FLAG.validate_python(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("query", name)} for e in exc.errors()]
        raise RequestValidationError(errors) from exc


_MAX_OFFSET = 1_000_000_000  # far beyond any dataset; SQLite overflows past 2**63 - 1
_BODY_MESSAGE = 'the body must be JSON {"query": str, "conversation_id"?: str, "model"?: str}'


class _AdminRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _error(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    if status == 503:
        headers = {**(headers or {}), "Retry-After": "5"}
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

    s = runtime.settings
    admission = Admission(s.max_queries_in_flight)
    app.state.admission = admission
    # the last added runs first: the body is read (and capped) before a query is admitted
    app.add_middleware(QueryAdmission, admission=admission, paths={"/query"}, count=count)
    app.add_middleware(
        BodyLimit, max_bytes=s.max_body_bytes, on_refused=lambda: count("bad_requests")
    )
    _add_error_handlers(app, count)
    _add_routes(app, runtime, admission, count)
    generated = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_limits(
                generated(),
                max_query_chars=s.max_query_chars,
                models=s.accepted_models,
                max_body_bytes=s.max_body_bytes,
                admin_token=s.admin_token is not None,
            )
        return app.openapi_schema  # type: ignore[return-value]  # set by generated()

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, str]:
    """The error code and message for a request that does not match the schema."""
    where = {str(e["loc"][0]) for e in errors if e.get("loc")}
    if "body" not in where:
        parts = [f"{e['loc'][-1]}: {e['msg']}" for e in errors]
        return "invalid_parameter", (
            f"invalid query parameter(s): {'; '.join(parts)} (the bounds are in /openapi.json)"
        )
    bad_json = [e for e in errors if e.get("type") == "json_invalid"]
    if bad_json:
        what = (bad_json[0].get("ctx") or {}).get("error", "JSON decode error")
        return "invalid_request", f"the body is not valid JSON ({what}); {_BODY_MESSAGE}"
    return "invalid_request", _BODY_MESSAGE


def _body_error_message(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, UnicodeError):
        what = "the body is not valid UTF-8"
    elif isinstance(cause, RecursionError):
        what = "the body's JSON nests too deeply"
    else:
        what = f"the body could not be parsed ({type(cause).__name__})"
    return f"{what}; {_BODY_MESSAGE}"


def _add_error_handlers(app: FastAPI, count: Callable[[str], None]) -> None:
    """Every failure a client can cause, or the service can suffer, as a clear JSON answer.

    ``count`` adds one to a named counter in ``/performance/stats``.
    """

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        count("bad_requests")
        code, message = _validation_message(list(exc.errors()))
        details = jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})
        return _error(422, code, message, detail=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        if 400 <= status < 500:
            count("bad_requests")
        if status == 400:  # FastAPI could not parse the body (bad UTF-8, deep nesting)
            code, message = "invalid_body", _body_error_message(exc)
        elif status == 404:
            code = "not_found"
            message = f"no endpoint {request.url.path}; the endpoints are listed at /docs"
        elif status == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            code = "method_not_allowed"
            message = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
        else:
            code, message = "http_error", str(exc.detail)
        return _error(status, code, message, headers=dict(exc.headers or {}) or None)

    @app.exception_handler(_AdminRefused)
    async def admin_refused(request: Request, exc: _AdminRefused) -> JSONResponse:
        count("admin_refused")
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, exc.code, str(exc), headers=headers)

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


def _add_routes(
    app: FastAPI, runtime: ServiceRuntime, admission: Admission, count: Callable[[str], None]
) -> None:
    settings = runtime.settings
    token = None if settings.admin_token is None else settings.admin_token.get_secret_value()

    async def admin_guard(request: Request) -> None:
        refused = admin_refusal(request, token)
        if refused is not None:
            raise _AdminRefused(*refused)

    admin: dict[str, Any] = {
        "dependencies": [Depends(admin_guard)],
        "responses": responses_for(401, 403, 413, 422, 503),
        "tags": ["admin"],
    }

    @app.post(
        "/query",
        responses={200: {"model": QueryResponse}, **responses_for(400, 404, 413, 422, 503)},
    )
    async def query(body: QueryRequest) -> Any:
        limit = settings.max_query_chars
        if len(body.query) > limit:
            count("bad_requests")
            message = f"the query has {len(body.query)} characters, over the limit of {limit}"
            return _error(413, "query_too_long", message + " (PERF_MAX_QUERY_CHARS)")
        if body.model is not None and body.model not in settings.accepted_models:
            raise UnknownModelError(
                f"model {body.model!r} is not offered here; choose one of "
                f"{', '.join(settings.accepted_models)} (PERF_LLM_MODELS adds more)"
            )
        return await runtime.pipeline.run(body.query, body.conversation_id, body.model)

    @app.get(
        "/health",
        responses={200: {"model": HealthBody}, 503: {"model": HealthBody}, **responses_for(422)},
        openapi_extra={"parameters": [_DEEP_PARAMETER]},
    )
    async def health(request: Request) -> Any:
        body: dict[str, Any] = {
            "status": "ok",
            "llm": runtime.llm.health(),
            "queries": admission.as_dict(),
        }
        if _query_flag(request, "deep"):
            try:
                await runtime.check_database()
                body["database"] = "ok"
            except Exception as exc:
                return JSONResponse({**body, "status": "degraded", "database": repr(exc)}, 503)
        return body

    @app.get("/performance/stats", responses=responses_for(422, 503))
    async def performance_stats(settle: bool = False, histograms: bool = False) -> dict[str, Any]:
        return await runtime.stats(settle, histograms=histograms)

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            prometheus_text(runtime.monitor), media_type=PROMETHEUS_CONTENT_TYPE
        )

    @app.get("/entities", responses=responses_for(422, 503))
    async def entities(
        limit: int = Query(50, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=_MAX_OFFSET),
    ) -> dict[str, Any]:
        async with runtime.sessions() as session:
            rows = await session.execute(
                select(Entity.entity_id, Entity.friendly_name)
                .order_by(Entity.id)
                .limit(limit)
                .offset(offset)
            )
            return {"entities": [{"entity_id": e, "name": n} for e, n in rows]}

    @app.post("/admin/reset-stats", **admin)
    async def reset_stats() -> dict[str, Any]:
        return await runtime.reset_stats()

    @app.post("/admin/clear-caches", **admin)
    async def clear_caches() -> dict[str, list[str]]:
        runtime.caches.clear()
        return {"cleared": runtime.caches.names()}

    @app.post("/admin/analyze", **admin)
    async def analyze(full: bool = False) -> dict[str, Any]:
        report = await runtime.scheduler.run_now() if not full else await runtime.analyze(True)
        return report.as_dict()
