"""Section 6: bad requests get 4xx; a slow, failing or absent LLM, a locked database, a full
token budget and an exhausted pool are answered clearly, counted and visible in the stats."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
from support import instant_stub, primary_names, running_app, small_settings

from perf._internal.processes import free_port

BAD_REQUESTS = [
    ({}, 422, "invalid_request"),  # missing field
    ({"query": 42}, 422, "invalid_request"),  # wrong type
    ({"query": ""}, 422, "invalid_request"),  # empty
    ({"query": "hi", "extra": 1}, 422, "invalid_request"),  # unknown field
    ({"query": "hi", "conversation_id": 7}, 422, "invalid_request"),
    ({"query": "x" * 5000}, 413, "query_too_long"),  # huge
    ({"query": "is light.no_such_lamp on?"}, 404, "unknown_entities"),
    ({"query": "hi", "model": "no-such-model"}, 422, "unknown_model"),
    ("not json at all", 422, "invalid_request"),
]


def test_bad_requests_get_a_clear_4xx(tmp_path):
    settings = small_settings(tmp_path, max_query_chars=4000)

    async def scenario():
        async with running_app(settings) as (_, client):
            responses = []
            for payload, _, _ in BAD_REQUESTS:
                if isinstance(payload, str):
                    headers = {"content-type": "application/json"}
                    responses.append(await client.post("/query", content=payload, headers=headers))
                else:
                    responses.append(await client.post("/query", json=payload))
            return responses, (await client.get("/performance/stats")).json()

    responses, stats = asyncio.run(scenario())
    for (payload, status, error), response in zip(BAD_REQUESTS, responses, strict=True):
        body = response.json()
        assert (response.status_code, body["error"]) == (status, error), payload
        assert body["message"], payload
    assert responses[6].json()["unknown"] == ["light.no_such_lamp"]
    assert stats["counters"]["unknown_entities"] == 1
    assert stats["counters"]["bad_requests"] == len(BAD_REQUESTS) - 1
    assert "internal_errors" not in stats["counters"]


def test_full_token_budget_rejects_and_a_tight_one_cuts(tmp_path):
    names = primary_names(6)
    many = "Compare " + ", ".join(f"the {n}" for n in names)
    tight = small_settings(
        tmp_path / "tight", token_budget={"max_entity_context_tokens": 20, "max_total_tokens": 400}
    )
    full = small_settings(tmp_path / "full", token_budget={"max_total_tokens": 60})

    async def scenario(settings, query):
        async with running_app(settings) as (_, client):
            response = await client.post("/query", json={"query": query})
            return response, (await client.get("/performance/stats")).json()

    cut, cut_stats = asyncio.run(scenario(tight, many))
    assert cut.status_code == 200
    budget = cut.json()["budget"]
    assert "entity_context" in budget["cut"]
    assert budget["total_tokens_after"] <= 400 < budget["total_tokens_before"]
    assert cut_stats["counters"]["budget_cut"] == 1
    assert cut_stats["tokens"]["budget_cut_calls"] == 1

    rejected, stats = asyncio.run(scenario(full, "please " * 200))
    assert rejected.status_code == 413
    assert rejected.json()["error"] == "token_budget_exceeded"
    assert "max_total_tokens=60" in rejected.json()["message"]
    assert stats["counters"]["budget_rejected"] == 1


def test_failing_llm_gives_503_or_the_last_answer_marked_degraded(tmp_path):
    settings = small_settings(tmp_path)
    stub = instant_stub()
    name = primary_names(1)[0]
    query = {"query": f"Automate the {name}"}

    async def scenario():
        async with running_app(settings, stub) as (_, client):
            fresh = await client.post("/query", json={"query": "never asked before"})
            ok = await client.post("/query", json=query)
            await _stub_config(stub, error_rate=1.0)
            unanswered = await client.post("/query", json={"query": "another new question"})
            # another model: a new request for the LLM, but the same question as before
            degraded = await client.post("/query", json={**query, "model": "gpt-4o-mini"})
            health = await client.get("/health")
            return fresh, ok, unanswered, degraded, health, await _stats(client)

    fresh, ok, unanswered, degraded, health, stats = asyncio.run(scenario())
    assert fresh.status_code == ok.status_code == 200
    assert unanswered.status_code == 503
    assert unanswered.headers["retry-after"] == "5"
    assert unanswered.json() | {"message": ""} == {
        "error": "llm_unavailable", "reason": "http_error", "message": "",
    }  # fmt: skip
    assert degraded.status_code == 200
    assert degraded.json()["degraded"] is True
    assert degraded.json()["answer"] == ok.json()["answer"]
    assert health.status_code == 200 and health.json()["llm"]["consecutive_failures"] == 2
    assert stats["counters"]["llm_failures"] == 2
    assert stats["counters"]["llm_degraded_answers"] == 1
    assert stats["operations"]["query.llm"]["errors"] == 1  # the degraded one recovered


def test_slow_llm_times_out_while_health_answers(tmp_path):
    settings = small_settings(tmp_path, llm_timeout_seconds=0.2)
    stub = instant_stub()

    async def scenario():
        async with running_app(settings, stub) as (_, client):
            await _stub_config(stub, latency_median_s=30.0, latency_p95_s=30.0)
            slow = asyncio.create_task(client.post("/query", json={"query": "a slow question"}))
            health = await client.get("/health")
            health_done_first = not slow.done()
            return health, health_done_first, await slow, await _stats(client)

    health, health_done_first, slow, stats = asyncio.run(scenario())
    assert health.status_code == 200 and health_done_first
    assert slow.status_code == 503 and slow.json()["reason"] == "timeout"
    assert "0.2 s" in slow.json()["message"]
    assert stats["counters"]["llm_failures_timeout"] == 1


def test_unreachable_llm_opens_the_circuit(tmp_path):
    closed_port = free_port()  # nothing listens there
    settings = small_settings(tmp_path, llm_base_url=f"http://127.0.0.1:{closed_port}/v1")

    async def scenario():
        async with running_app(settings, use_transport=False) as (_, client):
            answers = [
                await client.post("/query", json={"query": f"question number {n}"})
                for n in range(6)
            ]
            return answers, (await client.get("/health")).json(), await _stats(client)

    answers, health, stats = asyncio.run(scenario())
    assert all(a.status_code == 503 for a in answers)
    reasons = [a.json()["reason"] for a in answers]
    assert reasons == ["unreachable"] * 5 + ["circuit_open"]
    assert health["llm"]["circuit_open"] is True
    assert stats["llm"]["failures"] == {"unreachable": 5, "circuit_open": 1}


def test_locked_database_answers_503_and_is_counted(tmp_path):
    settings = small_settings(tmp_path, db_busy_timeout_ms=50, warm_up=False)
    name = primary_names(1)[0]

    async def scenario():
        async with running_app(settings) as (app, client):
            await client.post("/admin/clear-caches")
            await app.state.runtime.engine.dispose()  # close the idle pooled connections
            locker = sqlite3.connect(settings.database_path, isolation_level=None, timeout=5)
            try:
                locker.execute("PRAGMA locking_mode=EXCLUSIVE")
                locker.execute("BEGIN EXCLUSIVE")
                locked = await client.post("/query", json={"query": f"the {name}"})
                health = await client.get("/health")
            finally:
                locker.close()
            after = await client.post("/query", json={"query": f"the {name}"})
            return locked, health, after, await _stats(client)

    locked, health, after, stats = asyncio.run(scenario())
    assert locked.status_code == 503 and locked.json()["error"] == "database_locked"
    assert health.status_code == 200
    assert after.status_code == 200
    assert stats["counters"]["db_locked"] == 1


def test_exhausted_pool_answers_503_and_shows_in_pool_stats(tmp_path):
    settings = small_settings(
        tmp_path, db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.05, warm_up=False
    )
    name = primary_names(1)[0]

    async def scenario():
        async with running_app(settings) as (app, client):
            await client.post("/admin/clear-caches")
            held = await app.state.runtime.engine.connect()
            try:
                exhausted = await client.post("/query", json={"query": f"the {name}"})
            finally:
                await held.close()
            after = await client.post("/query", json={"query": f"the {name}"})
            return exhausted, after, await _stats(client)

    exhausted, after, stats = asyncio.run(scenario())
    assert exhausted.status_code == 503 and exhausted.json()["error"] == "pool_exhausted"
    assert after.status_code == 200
    assert stats["counters"]["pool_exhausted"] == 1
    (pool,) = (
        stats["pools"].values()
        if len(stats["pools"]) == 1
        else [p for url, p in stats["pools"].items() if str(tmp_path) in url]
    )
    assert pool["timeouts"] >= 1


async def _stub_config(stub, **changes):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stub), base_url="http://s") as c:
        (await c.post("/stub/config", json=changes)).raise_for_status()


async def _stats(client):
    return (await client.get("/performance/stats")).json()
