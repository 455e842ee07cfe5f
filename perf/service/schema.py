"""What ``/openapi.json`` says: the bodies of ``/query``, every error answer, the real limits.

Each route lists every status it can answer with the body's schema (``responses_for``);
``document_limits`` writes the limits that come from the settings (the query's length, the
known models) into the generated schema, so the document states what the service enforces.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ERROR_CODES",
    "ErrorBody",
    "HealthBody",
    "QueryResponse",
    "document_limits",
    "responses_for",
]


class ErrorBody(BaseModel):
    """Every error answer: a stable code, a message saying what was wrong and what to do."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="a stable code, e.g. `unknown_model`")
    message: str = Field(description="what was wrong and what to do")


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class BudgetReport(BaseModel):
    total_tokens_before: int
    total_tokens_after: int
    cut: list[str] = Field(description="the prompt parts the token budget shortened")


class QueryResponse(BaseModel):
    """The answer of ``POST /query``."""

    request_id: str = Field(description="the id of this query's records in tokens.jsonl")
    answer: str
    model: str
    degraded: bool = Field(description="the LLM failed; this is the last answer to the query")
    conversation_id: str | None
    entities: list[str]
    usage: Usage
    budget: BudgetReport
    cache: dict[str, Any]
    timings_ms: dict[str, float]


class HealthBody(BaseModel):
    """``GET /health``: 200 ``ok``; with ``?deep=1`` 503 ``degraded`` if the database fails."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="`ok` or `degraded`")
    llm: dict[str, Any]
    database: str | None = Field(None, description="with `?deep=1`: `ok` or the error")
    queries: dict[str, int] = Field(
        description="this worker's queries `in_flight` and the `limit` beyond which they are shed"
    )


# The error codes each status carries (documented in the status's description).
ERROR_CODES: dict[int, list[str]] = {
    400: ["invalid_body"],
    401: ["admin_token_required"],
    403: ["cross_origin", "admin_loopback_only"],
    404: ["unknown_entities"],
    413: ["body_too_large", "query_too_long", "token_budget_exceeded"],
    422: ["invalid_request", "invalid_parameter", "unknown_model"],
    503: [
        "overloaded",
        "llm_unavailable",
        "pool_exhausted",
        "database_locked",
        "database_error",
    ],
}
_WHY = {
    400: "The body is not readable JSON (invalid UTF-8, nested too deeply, bad Content-Length)",
    401: "No valid admin token (`Authorization: Bearer <PERF_ADMIN_TOKEN>`)",
    403: "Refused: a cross-origin request, or from beyond loopback without an admin token",
    404: "The query names entity ids that do not exist",
    413: "Too large: the body (PERF_MAX_BODY_BYTES), the query (PERF_MAX_QUERY_CHARS) or the "
    "prompt (the token budget)",
    422: "A parameter or the body does not match this schema, or the model is not offered",
    503: "Too many queries at once, or the LLM or the database is unavailable for now; retry "
    "after `Retry-After` seconds",
}


def responses_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` for these error statuses, each with the error body schema."""
    return {
        status: {
            "model": ErrorBody,
            "description": f"{_WHY[status]}. `error`: {', '.join(ERROR_CODES[status])}",
        }
        for status in statuses
    }


def document_limits(
    schema: dict[str, Any],
    *,
    max_query_chars: int,
    models: list[str],
    max_body_bytes: int,
    admin_token: bool,
) -> dict[str, Any]:
    """``schema`` (the generated OpenAPI document) with the settings' limits written in, and
    the admin endpoints' bearer token when one is set."""
    properties = schema["components"]["schemas"]["QueryRequest"]["properties"]
    properties["query"]["maxLength"] = max_query_chars
    properties["model"] = {
        "anyOf": [{"type": "string", "enum": models}, {"type": "null"}],
        "default": None,
        "title": "Model",
        "description": f"one of the offered models (default {models[0]})",
    }
    info = schema["info"]
    info["description"] = (
        f"Request bodies are limited to {max_body_bytes} bytes, queries to {max_query_chars} "
        f'characters. Errors answer `{{"error": code, "message": text}}`.'
    )
    if admin_token:
        schemes = schema["components"].setdefault("securitySchemes", {})
        schemes["adminToken"] = {"type": "http", "scheme": "bearer"}
        for path, operations in schema["paths"].items():
            if path.startswith("/admin/"):
                for operation in operations.values():
                    operation["security"] = [{"adminToken": []}]
    return schema
