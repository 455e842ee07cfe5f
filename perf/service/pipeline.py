"""``POST /query``: extraction, context, enrichment, correlations, prompt budget, LLM, log.

Each stage is timed by the monitor under ``query.<stage>`` (database work inside a stage under
``db.<what>``) and in the response's ``timings_ms``. No database session is held across the LLM
call. When the LLM fails, the last answer to the same query is returned marked ``degraded``;
without one, :class:`LLMUnavailableError` propagates (the app answers 503). Every LLM call a
query causes (its ``answer``, and the ``summary`` of a conversation grown past its history) is
logged under that query's ``request_id``, so tokens per query are the query's whole cost.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from perf.cache import Cache
from perf.monitor import PerformanceMonitor
from perf.service.context import ContextStages, QueryContext
from perf.service.llm import LLMClient, LLMReply, LLMUnavailableError
from perf.service.tokenlog import TokenLog
from perf.tokens import enforce_token_budget_with_report

__all__ = ["SYSTEM_PROMPT", "QueryPipeline", "UnknownEntitiesError"]

SYSTEM_PROMPT = (
    "You are the automation assistant of a smart home. Suggest Home Assistant automations "
    "from the entities, detected daily patterns, synergies and activity correlations below. "
    "Name the entities by id, explain the trigger, the condition and the action, and say why "
    "the data supports the suggestion. Keep the answer short."
)


class UnknownEntitiesError(LookupError):
    """The query names entity ids that do not exist (the app answers 404)."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(
            f"unknown entity id(s): {', '.join(unknown)}; use ids listed by GET /entities"
        )
        self.unknown = unknown


class QueryPipeline:
    """Runs one query through every stage; shared by all requests of one app."""

    def __init__(
        self,
        stages: ContextStages,
        llm: LLMClient,
        monitor: PerformanceMonitor,
        token_log: TokenLog,
        conversations: Cache,
        *,
        model: str,
        small_model: str,
        budget: Mapping[str, int],
        max_completion_tokens: int,
        history_turns: int,
        cache_ttl: float,
    ) -> None:
        self.stages = stages
        self.llm = llm
        self.monitor = monitor
        self.token_log = token_log
        self.conversations = conversations
        self.model = model
        self.small_model = small_model
        self.budget = dict(budget)
        self.max_completion_tokens = max_completion_tokens
        self.history_turns = history_turns
        self.cache_ttl = cache_ttl
        self.counters: Counter[str] = Counter()
        self.mentions = stages.mentions  # saved at shutdown for the next warm-up

    async def run(
        self, query: str, conversation_id: str | None = None, model: str | None = None
    ) -> dict[str, Any]:
        model = model or self.model
        request_id = uuid.uuid4().hex
        timings: dict[str, float] = {}
        ctx = QueryContext()
        async with self.monitor.track("query.total"):
            with self._stage("extract_entities", timings):
                extraction = await self.stages.extract(query)
            ctx.cache["entity_registry"] = extraction.registry_cached
            if extraction.unknown_ids:
                self.counters["unknown_entities"] += 1
                raise UnknownEntitiesError(extraction.unknown_ids)
            ids = extraction.entity_ids
            self.mentions.update(ids)
            if ids:
                with self._stage("entity_context", timings):
                    await self.stages.entities(ids, ctx)
                with self._stage("enrichment", timings):
                    await self.stages.enrich(ids, ctx)
                with self._stage("correlations", timings):
                    await self.stages.correlate(ids, ctx)
            history = self._history(conversation_id)
            with self._stage("prompt_budget", timings):
                prompt, report = enforce_token_budget_with_report(
                    _prompt_parts(query, ctx, history), self.budget, model
                )
            if report["cut"]:
                self.counters["budget_cut"] += 1
            messages = _messages(prompt)
            with self._stage("llm", timings):
                reply, degraded = await self._answer(request_id, query, model, messages, report)
            ctx.cache["llm_response"] = reply.cached
            if conversation_id is not None and not degraded:
                await self._remember(request_id, conversation_id, history, query, reply.content)
        return {
            "request_id": request_id,
            "answer": reply.content,
            "model": reply.model,
            "degraded": degraded,
            "conversation_id": conversation_id,
            "entities": ids,
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.total_tokens,
            },
            "budget": {
                "total_tokens_before": report["total_tokens_before"],
                "total_tokens_after": report["total_tokens_after"],
                "cut": sorted(report["cut"]),
            },
            "cache": ctx.cache,
            "timings_ms": timings,
        }

    @contextmanager
    def _stage(self, name: str, timings: dict[str, float]) -> Iterator[None]:
        start = time.perf_counter()
        with self.monitor.track("query." + name):
            yield
        timings[name] = round((time.perf_counter() - start) * 1000, 3)

    async def _answer(
        self,
        request_id: str,
        query: str,
        model: str,
        messages: list[dict[str, str]],
        report: Mapping[str, Any],
    ) -> tuple[LLMReply, bool]:
        fallback_key = "fallback:" + " ".join(query.lower().split())
        try:
            reply = await self.llm.complete(model, messages, self.max_completion_tokens)
        except LLMUnavailableError as exc:
            self.counters["llm_failures"] += 1
            self.counters["llm_failures_" + exc.reason] += 1
            stale = self.llm.cache.get(fallback_key)
            self._log(request_id, "answer", model, report=report, reply=None, error=exc.reason)
            if stale is None:
                raise
            self.counters["llm_degraded_answers"] += 1
            return LLMReply(**{**stale, "cached": True}), True
        self._log(request_id, "answer", model, report=report, reply=reply)
        if not reply.cached:
            self.llm.cache.set(fallback_key, _reply_dict(reply), self.cache_ttl)
        return reply, False

    def _log(
        self,
        request_id: str,
        purpose: str,
        model: str,
        *,
        report: Mapping[str, Any],
        reply: LLMReply | None,
        error: str | None = None,
    ) -> None:
        self.token_log.write(
            {
                "request_id": request_id,
                "purpose": purpose,
                "model": model,
                "cached": bool(reply and reply.cached),
                "error": error,
                "tokens_before": report["tokens_before"],
                "tokens_after": report["tokens_after"],
                "total_tokens_before": report["total_tokens_before"],
                "total_tokens_after": report["total_tokens_after"],
                "cut": sorted(report["cut"]),
                "usage": None
                if reply is None
                else {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.total_tokens,
                },
            }
        )

    # -- conversations ---------------------------------------------------------------------

    def _history(self, conversation_id: str | None) -> list[dict[str, str]]:
        if conversation_id is None:
            return []
        found: list[dict[str, str]] | None = self.conversations.get("conv:" + conversation_id)
        return list(found or [])

    async def _remember(
        self,
        request_id: str,
        conversation_id: str,
        history: list[dict[str, str]],
        query: str,
        answer: str,
    ) -> None:
        history = [*history, {"role": "user", "content": query}]
        history.append({"role": "assistant", "content": answer})
        keep = 2 * self.history_turns
        if len(history) > keep:
            summary = await self._summarize(request_id, history[:-keep])
            history = [*summary, *history[-keep:]]
        self.conversations.set("conv:" + conversation_id, history, self.cache_ttl)

    async def _summarize(
        self, request_id: str, older: list[dict[str, str]]
    ) -> list[dict[str, str]]:
        """Older turns as one summary message, by the small model (non-critical: may drop);
        logged under the id of the query whose turn made the history too long."""
        text = "\n".join(f"{m['role']}: {m['content']}" for m in older)
        prompt, report = enforce_token_budget_with_report(
            {"system_prompt": "Summarize this conversation in two sentences.",
             "conversation_history": text},
            self.budget,
            self.small_model,
        )  # fmt: skip
        messages = [
            {"role": "system", "content": str(prompt["system_prompt"])},
            {"role": "user", "content": str(prompt["conversation_history"])},
        ]
        try:
            reply = await self.llm.complete(self.small_model, messages, 80)
        except LLMUnavailableError as exc:
            self.counters["summary_failures"] += 1
            self._log(
                request_id, "summary", self.small_model, report=report, reply=None,
                error=exc.reason,
            )  # fmt: skip
            return []
        self._log(request_id, "summary", self.small_model, report=report, reply=reply)
        return [{"role": "system", "content": "Earlier in this conversation: " + reply.content}]


def _prompt_parts(
    query: str, ctx: QueryContext, history: list[dict[str, str]]
) -> dict[str, object]:
    entity_lines = [
        f"- {e['entity_id']} ({e['name']}; {e['device_kind']} in {e['area']}): state {e['state']}"
        for e in ctx.entities
    ]
    enrichment = [f"- {p['entity_id']} is most active at {p['hour']}:00 "
                  f"(confidence {p['confidence']:.2f})" for p in ctx.patterns]  # fmt: skip
    enrichment += [f"- synergy {s['a']} + {s['b']}: {s['score']:.2f}" for s in ctx.synergies]
    enrichment += [f"- correlation {c['a']} ~ {c['b']}: r={c['r']:.2f}" for c in ctx.correlations]
    return {
        "system_prompt": SYSTEM_PROMPT,
        "entity_context": "Entities:\n" + "\n".join(entity_lines) if entity_lines else "",
        "enrichment_context": "Analysis:\n" + "\n".join(enrichment) if enrichment else "",
        "conversation_history": history,
        "user_prompt": query,
    }


def _messages(prompt: Mapping[str, object]) -> list[dict[str, str]]:
    system = "\n\n".join(
        str(prompt[k]) for k in ("system_prompt", "entity_context", "enrichment_context")
        if prompt.get(k)
    )  # fmt: skip
    history = prompt.get("conversation_history") or []
    assert isinstance(history, list)
    return [
        {"role": "system", "content": system},
        *history,
        {"role": "user", "content": str(prompt["user_prompt"])},
    ]


def _reply_dict(reply: LLMReply) -> dict[str, Any]:
    return {
        "content": reply.content,
        "model": reply.model,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.total_tokens,
    }
