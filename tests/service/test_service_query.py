"""The reference service in-process (httpx ASGI transport): the query path, caches, endpoints."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import or_, select
from support import (
    DAYS,
    SCALE,
    instant_stub,
    primary_names,
    running_app,
    small_settings,
)

from perf.db import count_statements
from perf.monitor import PROMETHEUS_CONTENT_TYPE
from perf.service.context import QueryContext
from perf.service.data import build_dataset
from perf.service.models import Pattern, Synergy
from perf.service.store import append_events


def test_query_answers_with_usage_cache_flags_timings_and_a_token_record(tmp_path):
    settings = small_settings(tmp_path)
    name = primary_names(1)[0]

    async def scenario():
        async with running_app(settings) as (_, client):
            response = await client.post("/query", json={"query": f"Automate the {name}"})
            stats = (await client.get("/performance/stats")).json()
            return response, stats

    response, stats = asyncio.run(scenario())
    assert response.status_code == 200
    body = response.json()
    assert body["answer"].startswith("Suggestion:")
    assert len(body["entities"]) == 1
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    assert set(body["timings_ms"]) == {
        "extract_entities", "entity_context", "enrichment", "correlations", "prompt_budget", "llm",
    }  # fmt: skip
    assert body["cache"]["llm_response"] is False
    assert body["degraded"] is False
    for operation in ("query.total", "query.llm", "db.entity_context", "db.enrichment"):
        assert stats["operations"][operation]["count"] >= 1
    assert {"correlation", "entity_context", "memory", "llm_response"} <= set(stats["cache_stats"])
    assert set(stats) >= {"operations", "cache_stats", "cache_manager", "pools", "tokens"}
    assert stats["tokens"]["calls"] == 1
    records = [json.loads(line) for line in settings.token_log_path.read_text().splitlines()]
    assert len(records) == 1
    record = records[0]
    assert record["model"] == "gpt-4o" and record["cached"] is False
    assert record["tokens_before"]["user_prompt"] == record["tokens_after"]["user_prompt"] > 0
    assert record["total_tokens_after"] == sum(record["tokens_after"].values())
    assert record["usage"]["prompt_tokens"] == body["usage"]["prompt_tokens"]


def test_repeated_query_is_served_from_every_cache(tmp_path):
    settings = small_settings(tmp_path, warm_up=False)
    names = primary_names(3)
    query = f"Compare the {names[0]}, the {names[1]} and the {names[2]}"

    async def scenario():
        async with running_app(settings) as (_, client):
            first = (await client.post("/query", json={"query": query})).json()
            second = (await client.post("/query", json={"query": query})).json()
            return first, second, (await client.get("/performance/stats")).json()

    first, second, stats = asyncio.run(scenario())
    assert first["cache"]["entity_context"] == {"hits": 0, "misses": 3}
    # the start-up analysis already cached the pairs it found synergistic
    assert sum(first["cache"]["correlation"].values()) == 3
    assert first["cache"]["correlation"]["misses"] >= 1
    assert second["cache"]["entity_context"] == {"hits": 3, "misses": 0}
    assert second["cache"]["correlation"] == {"hits": 3, "misses": 0}
    assert first["cache"]["enrichment"] == {"hits": 0, "misses": 3}
    assert second["cache"]["enrichment"] == {"hits": 3, "misses": 0}
    assert second["cache"]["llm_response"] is True
    assert second["answer"] == first["answer"]
    assert stats["tokens"]["cached_calls"] == 1
    assert stats["cache_stats"]["entity_context"]["hit_rate"] == 0.5


def test_query_path_runs_a_bounded_number_of_statements(tmp_path):
    """The N+1 guard: a cold query costs the same few statements for 2 or 8 entities."""
    settings = small_settings(tmp_path, warm_up=False)
    names = primary_names(8)

    async def statements_for(client, engine, query):
        with count_statements(engine) as counter:
            response = await client.post("/query", json={"query": query})
        assert response.status_code == 200
        return counter, response.json()

    async def scenario():
        async with running_app(settings) as (app, client):
            engine = app.state.runtime.engine
            two, body_two = await statements_for(client, engine, f"{names[0]} and {names[1]}")
            eight, body_eight = await statements_for(client, engine, " and ".join(names))
            warm, _ = await statements_for(client, engine, " and ".join(names))
            return two, eight, warm, body_two, body_eight

    two, eight, warm, body_two, body_eight = asyncio.run(scenario())
    assert len(body_two["entities"]) == 2 and len(body_eight["entities"]) == 8
    # registry (first query only), entity context, patterns, synergies, event series
    two.assert_at_most(5)
    eight.assert_at_most(4)
    warm.assert_at_most(0)
    # the enrichment of the 6 entities not cached yet: one batch, not one query per entity
    assert body_eight["cache"]["enrichment"] == {"hits": 2, "misses": 6}
    enrichment = [s for s in eight.statements if "patterns" in s or "synergies" in s]
    assert len(enrichment) == 2


async def _enrichment_in_one_query(sessions, entity_ids):
    """What one uncached query over the whole set returns (the design before per-entity keys)."""
    async with sessions() as session:
        patterns = await session.scalars(select(Pattern).where(Pattern.entity_id.in_(entity_ids)))
        synergies = await session.scalars(
            select(Synergy)
            .where(or_(Synergy.entity_a.in_(entity_ids), Synergy.entity_b.in_(entity_ids)))
            .order_by(Synergy.score.desc(), Synergy.entity_a, Synergy.entity_b)
            .limit(3 * len(entity_ids))
        )
        return (
            sorted((p.entity_id, p.hour_of_day, p.confidence) for p in patterns),
            [(s.entity_a, s.entity_b, s.score) for s in synergies],
        )


def test_enrichment_is_cached_per_entity_and_assembled_as_one_query_would_return(tmp_path):
    settings = small_settings(tmp_path, warm_up=False)
    a, b, c = primary_names(3)

    async def ask(client, query):
        response = await client.post("/query", json={"query": query})
        assert response.status_code == 200
        return response.json()

    async def scenario():
        async with running_app(settings) as (app, client):
            runtime = app.state.runtime
            first = await ask(client, f"the {a} and the {b}")
            second = await ask(client, f"the {b} and the {c}")
            with count_statements(runtime.engine) as counter:
                third = await ask(client, f"the {a} and the {c}")  # a new set of known entities
            ctx = QueryContext()
            await runtime.stages.enrich(third["entities"], ctx)
            expected = await _enrichment_in_one_query(runtime.sessions, third["entities"])
            return first, second, third, counter, ctx, expected

    first, second, third, counter, ctx, expected = asyncio.run(scenario())
    assert first["cache"]["enrichment"] == {"hits": 0, "misses": 2}
    assert second["cache"]["enrichment"] == {"hits": 1, "misses": 1}  # only the new entity
    assert third["cache"]["enrichment"] == {"hits": 2, "misses": 0}
    assert not [s for s in counter.statements if "patterns" in s or "synergies" in s]
    patterns, synergies = expected
    assert patterns and synergies  # the check below compares real rows
    assert sorted((p["entity_id"], p["hour"], p["confidence"]) for p in ctx.patterns) == patterns
    assert [(s["a"], s["b"], s["score"]) for s in ctx.synergies] == synergies


def test_an_analysis_that_rewrote_patterns_drops_the_cached_enrichment(tmp_path):
    settings = small_settings(tmp_path, warm_up=False)
    name = primary_names(1)[0]

    async def scenario():
        async with running_app(settings) as (app, client):
            query = {"query": f"the {name}"}
            await client.post("/query", json=query)
            cached = (await client.post("/query", json=query)).json()["cache"]["enrichment"]
            data = build_dataset(42, SCALE)
            await append_events(app.state.runtime.engine, data, day=DAYS, entity_fraction=1.0)
            analyzed = (await client.post("/admin/analyze")).json()
            after = (await client.post("/query", json=query)).json()["cache"]["enrichment"]
            return cached, analyzed, after

    cached, analyzed, after = asyncio.run(scenario())
    assert cached == {"hits": 1, "misses": 0}
    assert analyzed["entities_touched"] > 0
    assert after == {"hits": 0, "misses": 1}


def test_conversation_history_is_kept_and_older_turns_summarized_by_the_small_model(tmp_path):
    settings = small_settings(tmp_path, conversation_history_turns=1)
    stub = instant_stub()
    names = primary_names(3)

    async def scenario():
        async with running_app(settings, stub) as (app, client):
            bodies = []
            for name in names:
                payload = {"query": f"What about the {name}?", "conversation_id": "c-1"}
                bodies.append((await client.post("/query", json=payload)).json())
            history = app.state.runtime.caches.cache("conversation").get("conv:c-1")
            return bodies, history

    bodies, history = asyncio.run(scenario())
    records = [json.loads(line) for line in settings.token_log_path.read_text().splitlines()]
    summaries = [r for r in records if r["purpose"] == "summary"]
    assert summaries and all(r["model"] == "gpt-4o-mini" for r in summaries)
    assert bodies[1]["budget"]["total_tokens_before"] > bodies[0]["budget"]["total_tokens_before"]
    assert history[0]["content"].startswith("Earlier in this conversation:")
    assert [m["role"] for m in history[1:]] == ["user", "assistant"]


def test_health_makes_no_database_round_trip_unless_deep(tmp_path):
    settings = small_settings(tmp_path)

    async def scenario():
        async with running_app(settings) as (app, client):
            engine = app.state.runtime.engine
            with count_statements(engine) as shallow:
                plain = await client.get("/health")
            with count_statements(engine) as deep:
                deep_response = await client.get("/health", params={"deep": 1})
            return plain, shallow, deep_response, deep

    plain, shallow, deep_response, deep = asyncio.run(scenario())
    assert plain.status_code == 200 and plain.json()["status"] == "ok"
    assert shallow.count == 0
    assert deep_response.json()["database"] == "ok"
    assert deep.count == 1


def test_metrics_entities_and_admin_endpoints(tmp_path):
    settings = small_settings(tmp_path, warm_up=False)
    name = primary_names(1)[0]

    async def scenario():
        async with running_app(settings) as (_, client):
            await client.post("/query", json={"query": f"the {name}"})
            metrics = await client.get("/metrics")
            entities = (await client.get("/entities", params={"limit": 5})).json()
            reset = await client.post("/admin/reset-stats")
            after_reset = (await client.get("/performance/stats")).json()
            cleared = await client.post("/admin/clear-caches")
            after_clear = (await client.post("/query", json={"query": f"the {name}"})).json()
            analyzed = (await client.post("/admin/analyze")).json()
            return metrics, entities, reset, after_reset, cleared, after_clear, analyzed

    metrics, entities, reset, after_reset, cleared, after_clear, analyzed = asyncio.run(scenario())
    assert metrics.headers["content-type"] == PROMETHEUS_CONTENT_TYPE
    assert 'perf_operation_duration_seconds_count{operation="query.total"} 1.0' in metrics.text
    assert 'perf_cache_hit_rate{cache="correlation"}' in metrics.text
    assert (
        'name="checked_out"' in metrics.text and 'group="db_pool sqlite+aiosqlite' in metrics.text
    )
    assert len(entities["entities"]) == 5 and "." in entities["entities"][0]["entity_id"]
    assert reset.json() == {"reset": True}
    assert after_reset["operations"] == {} and after_reset["tokens"]["calls"] == 0
    assert after_reset["cache_stats"]["entity_context"]["hits"] == 0
    assert "entity_context" in cleared.json()["cleared"]
    assert after_clear["cache"]["entity_context"] == {"hits": 0, "misses": 1}
    assert after_clear["cache"]["llm_response"] is False
    assert analyzed["mode"] == "incremental" and analyzed["events_read"] == 0
