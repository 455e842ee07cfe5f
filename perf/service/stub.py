"""An OpenAI-compatible chat-completions stub: lognormal latency, injected errors, true usage.

``POST /v1/chat/completions`` answers like the real API, with a ``usage`` block counted by
``perf.tokens`` (tiktoken). Latency is lognormal with the configured median and p95; a share
``error_rate`` of calls fail with a 500. ``GET/POST /stub/config`` reads and changes the
behaviour at run time (tests make it slow or failing without a restart); ``GET /stub/stats``
counts calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from perf.tokens import count_message_tokens, count_tokens

__all__ = ["StubConfig", "create_stub_app", "lognormal_sigma"]

_Z95 = 1.6448536269514722  # the standard normal's 95th percentile
_WORDS = tuple(
    [
        "automate",
        "turn",
        "on",
        "lights",
        "when",
        "motion",
        "is",
        "detected",
        "after",
        "sunset",
        "and",
        "dim",
        "them",
        "at",
        "night",
        "schedule",
        "the",
        "thermostat",
        "to",
        "heat",
        "before",
        "wake-up",
        "close",
        "the",
        "blinds",
        "at",
        "noon",
        "in",
        "summer",
        "notify",
        "when",
        "the",
        "door",
        "stays",
        "open",
        "pair",
        "the",
        "plug",
        "with",
        "the",
        "media",
        "player",
        "routine",
    ]
)


@dataclass(slots=True)
class StubConfig:
    """How the stub behaves; change it live through ``POST /stub/config``."""

    latency_median_s: float = 0.04
    latency_p95_s: float = 0.12
    error_rate: float = 0.0
    completion_words: int = 60
    seed: int | None = None


def lognormal_sigma(median: float, p95: float) -> float:
    """The sigma of a lognormal whose median and 95th percentile are these (0: constant)."""
    if median <= 0 or p95 <= median:
        return 0.0
    return math.log(p95 / median) / _Z95


class _Message(BaseModel):
    role: str
    content: str | None = None
    name: str | None = None


class _ChatRequest(BaseModel):
    model: str = Field(min_length=1)
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)


class _ConfigUpdate(BaseModel):
    latency_median_s: float | None = Field(None, ge=0)
    latency_p95_s: float | None = Field(None, ge=0)
    error_rate: float | None = Field(None, ge=0, le=1)
    completion_words: int | None = Field(None, ge=1, le=2000)


def _reply(messages: list[_Message], words: int) -> str:
    last = next((m.content or "" for m in reversed(messages) if m.role == "user"), "")
    rng = random.Random(hashlib.sha256(last.encode()).digest())  # noqa: S311 - simulation, not security
    return "Suggestion: " + " ".join(rng.choice(_WORDS) for _ in range(words)) + "."


def create_stub_app(config: StubConfig | None = None) -> FastAPI:
    """The stub as an ASGI app (serve it with uvicorn, or call it through httpx in-process)."""
    state = config if config is not None else StubConfig()
    rng = random.Random(state.seed)  # noqa: S311 - simulation, not security
    counters = {"requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0}
    app = FastAPI(title="perf LLM stub")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/stub/config")
    async def get_config() -> dict[str, Any]:
        return asdict(state)

    @app.post("/stub/config")
    async def set_config(update: _ConfigUpdate) -> dict[str, Any]:
        for key, value in update.model_dump(exclude_none=True).items():
            setattr(state, key, value)
        return asdict(state)

    @app.get("/stub/stats")
    async def stats() -> dict[str, int]:
        return dict(counters)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: _ChatRequest) -> dict[str, Any] | JSONResponse:
        counters["requests"] += 1
        sigma = lognormal_sigma(state.latency_median_s, state.latency_p95_s)
        if state.latency_median_s > 0:
            await asyncio.sleep(state.latency_median_s * math.exp(sigma * rng.gauss(0.0, 1.0)))
        if state.error_rate and rng.random() < state.error_rate:
            counters["errors"] += 1
            return JSONResponse(
                {"error": {"message": "stub: injected failure", "type": "server_error"}},
                status_code=500,
            )
        messages = [m.model_dump(exclude_none=True) for m in request.messages]
        words = state.completion_words
        if request.max_tokens is not None:
            words = min(words, request.max_tokens)
        content = _reply(request.messages, words)
        prompt_tokens = count_message_tokens(
            messages, request.model, fallback_encoding="o200k_base"
        )
        completion_tokens = count_tokens(content, request.model, fallback_encoding="o200k_base")
        counters["prompt_tokens"] += prompt_tokens
        counters["completion_tokens"] += completion_tokens
        return {
            "id": f"chatcmpl-stub-{counters['requests']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    return app
