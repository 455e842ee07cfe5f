"""The service with its two-tier caches on Redis (PERF_CACHE_BACKEND=redis): what one instance
caches, another (a second worker, or another host) finds, through a real server."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from support import primary_names, running_app, small_settings

from perf.service.settings import ServiceSettings


def test_the_redis_backend_is_a_setting_and_needs_a_url(monkeypatch):
    with pytest.raises(ValidationError, match="PERF_REDIS_URL"):
        ServiceSettings(cache_backend="redis")
    monkeypatch.setenv("PERF_CACHE_BACKEND", "redis")
    monkeypatch.setenv("PERF_REDIS_URL", "redis://:secret@127.0.0.1:6379/0")
    settings = ServiceSettings()
    assert settings.cache_backend == "redis"
    assert "secret" not in str(settings.recorded())  # the manifest never shows a password


def test_two_instances_share_the_two_tier_caches(tmp_path, redis_server):
    server = redis_server("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    name = primary_names(1)[0]
    query = {"query": f"Automate the {name}"}

    def settings(folder):
        (tmp_path / folder).mkdir()
        return small_settings(tmp_path / folder, cache_backend="redis", redis_url=server.url)

    async def ask(folder):
        async with running_app(settings(folder)) as (_, client):
            answer = (await client.post("/query", json=query)).json()
            return answer, (await client.get("/performance/stats")).json()

    first, _ = asyncio.run(ask("one"))
    second, stats = asyncio.run(ask("two"))  # its own files and memory: only Redis is shared
    assert first["cache"]["llm_response"] is False
    assert second["cache"]["llm_response"] is True
    assert second["answer"] == first["answer"]
    for cache in ("correlation", "llm_response"):
        assert stats["cache_manager"][cache]["second_tier"] == "redis"
        assert stats["cache_manager"][cache]["coherence"]["live"] is True
    assert stats["cache_manager"]["llm_response"]["disk_hits"] >= 1
