"""The chat-completions client: httpx, a timeout, a response cache and a circuit breaker.

Identical requests (model, messages, max_tokens) are answered from the ``llm_response`` cache,
and identical requests made while one is in flight share that one call (single-flight; the
sharers' replies are marked ``cached``: they cost no call). Any failure (timeout, connection
refused, 5xx, a malformed answer) raises :class:`LLMUnavailableError` with the reason; after
``breaker_threshold`` failures in a row the client fails fast for ``breaker_cooldown_s``
instead of tying requests up in timeouts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx

from perf.cache import Cache
from perf.errors import PerfError

__all__ = ["LLMClient", "LLMReply", "LLMUnavailableError"]

Messages = Sequence[Mapping[str, str]]


class LLMUnavailableError(PerfError):
    """The LLM endpoint timed out, failed or could not be reached (``reason`` says which)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # timeout | unreachable | http_error | bad_response | circuit_open


@dataclass(frozen=True, slots=True)
class LLMReply:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached: bool = False


def request_key(model: str, messages: Messages, max_tokens: int) -> str:
    """The response-cache key of a request: a hash of exactly what would be sent."""
    payload = json.dumps([model, list(messages), max_tokens], sort_keys=True, ensure_ascii=False)
    return "llm:" + hashlib.sha256(payload.encode()).hexdigest()


class LLMClient:
    """An OpenAI-compatible client for ``{base_url}/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float,
        cache: Cache,
        cache_ttl_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
        breaker_threshold: int = 5,
        breaker_cooldown_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            transport=transport,
        )
        self._timeout = timeout_seconds
        self.cache = cache
        self._ttl = cache_ttl_seconds
        self._threshold = breaker_threshold
        self._cooldown = breaker_cooldown_s
        self._clock = clock
        self.consecutive_failures = 0
        self._open_until = 0.0
        self.failures: dict[str, int] = {}
        self.last_error: str | None = None
        self._flights: dict[str, asyncio.Task[LLMReply]] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def complete(
        self, model: str, messages: Messages, max_tokens: int, *, use_cache: bool = True
    ) -> LLMReply:
        """The reply to ``messages``: from the cache if this exact request was answered, from
        the call in flight if it is being asked (``use_cache=False``: a call of its own)."""
        key = request_key(model, messages, max_tokens)
        if use_cache:
            hit = self.cache.get(key)
            if hit is not None:
                return LLMReply(**{**hit, "cached": True})
            flight = self._flights.get(key)
            if flight is not None:
                try:
                    reply = await asyncio.shield(flight)
                except LLMUnavailableError as exc:  # a fresh error per waiter, same reason
                    raise LLMUnavailableError(str(exc), exc.reason) from exc
                return replace(reply, cached=True)
        if self.consecutive_failures >= self._threshold and self._clock() < self._open_until:
            raise self._failed(
                "circuit_open",
                f"the LLM at {self.base_url} failed {self.consecutive_failures} times in a row; "
                f"not calling it again for up to {self._cooldown:g} s",
                count_failure=False,
            )
        # A task, so a caller that goes away (cancelled) does not cancel the sharers' call.
        flight = asyncio.ensure_future(self._call(key, model, messages, max_tokens))
        if use_cache:
            self._flights[key] = flight
        flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    def _landed(self, key: str, flight: asyncio.Task[LLMReply]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: no "never retrieved" warning if nobody waited

    async def _call(self, key: str, model: str, messages: Messages, max_tokens: int) -> LLMReply:
        reply = await self._post(model, messages, max_tokens)
        self.consecutive_failures = 0
        self.cache.set(key, asdict(reply), self._ttl)
        return reply

    async def _post(self, model: str, messages: Messages, max_tokens: int) -> LLMReply:
        body = {"model": model, "messages": list(messages), "max_tokens": max_tokens}
        try:
            # asyncio.timeout as well: httpx enforces its timeout only on network transports
            async with asyncio.timeout(self._timeout):
                response = await self._http.post("chat/completions", json=body)
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise self._failed(
                "timeout", f"the LLM at {self.base_url} did not answer within {self._timeout:g} s"
            ) from exc
        except httpx.TransportError as exc:
            raise self._failed(
                "unreachable", f"cannot reach the LLM at {self.base_url}: {exc!r:.200}"
            ) from exc
        if response.status_code != 200:
            raise self._failed(
                "http_error",
                f"the LLM at {self.base_url} answered {response.status_code}: "
                f"{response.text[:200]}",
            )
        try:
            data: dict[str, Any] = response.json()
            usage = data["usage"]
            return LLMReply(
                content=str(data["choices"][0]["message"]["content"]),
                model=str(data.get("model", model)),
                prompt_tokens=int(usage["prompt_tokens"]),
                completion_tokens=int(usage["completion_tokens"]),
                total_tokens=int(usage["total_tokens"]),
            )
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise self._failed(
                "bad_response", f"the LLM at {self.base_url} sent an unreadable answer: {exc!r}"
            ) from exc

    def _failed(self, reason: str, message: str, count_failure: bool = True) -> LLMUnavailableError:
        self.failures[reason] = self.failures.get(reason, 0) + 1
        self.last_error = message
        if count_failure:
            self.consecutive_failures += 1
            if self.consecutive_failures >= self._threshold:
                self._open_until = self._clock() + self._cooldown
        return LLMUnavailableError(message, reason)

    def health(self) -> dict[str, Any]:
        """Cheap status for ``/health``: no network call."""
        return {
            "base_url": self.base_url,
            "consecutive_failures": self.consecutive_failures,
            "circuit_open": self.consecutive_failures >= self._threshold
            and self._clock() < self._open_until,
            "failures": dict(self.failures),
            "last_error": self.last_error,
        }
