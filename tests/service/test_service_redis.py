"""The service with its two-tier caches on Redis (PERF_CACHE_BACKEND=redis): what one instance
caches, another (a second worker, or another host) finds, through a real server."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import ValidationError
from support import perf_serve, primary_names, running_app, small_settings

from perf.cache import RedisCache
from perf.service.server import prepare_data
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


@pytest.mark.slow
def test_two_workers_on_redis_report_each_workers_hit_rates(tmp_path, redis_server):
    server = redis_server("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    env = {"PERF_CACHE_BACKEND": "redis", "PERF_REDIS_URL": server.url}
    with perf_serve(tmp_path, "--workers", "2", **env) as url:
        assert httpx.post(f"{url}/admin/reset-stats").json()["workers_not_reset"] == []
        names = primary_names(6)
        for i in range(30):  # a new connection each: the kernel spreads them over the workers
            body = {"query": f"Turn on the {names[i % len(names)]} and the {names[i % 4]}"}
            assert httpx.post(f"{url}/query", json=body, timeout=30).status_code == 200
        stats = httpx.get(f"{url}/performance/stats?settle=1", timeout=30).json()
    pids = {str(w["pid"]) for w in stats["workers"]}
    assert len(pids) == 2
    assert stats["cache_manager"]["correlation"]["second_tier"] == "redis"
    for name in ("correlation", "llm_response", "entity_context"):
        cache = stats["cache_stats"][name]
        own = cache["workers"]
        assert own.keys() == pids  # both workers, each with its own figures
        assert sum(w["hits"] for w in own.values()) == cache["hits"]
        assert sum(w["misses"] for w in own.values()) == cache["misses"]
        for w in own.values():
            lookups = w["hits"] + w["misses"]
            assert w["hit_rate"] == pytest.approx(w["hits"] / lookups if lookups else 0.0)
    llm = stats["cache_stats"]["llm_response"]
    assert llm["hits"] + llm["misses"] >= 30  # every query looked its answer up


def test_the_analysis_fills_the_redis_tier_the_workers_read(tmp_path, redis_server):
    """`perf analyze`, and `perf serve --workers N` before it starts them, write the pairs to
    the tier of PERF_CACHE_BACKEND: Redis, where every worker reads, not a SQLite file."""
    server = redis_server()
    settings = small_settings(tmp_path, cache_backend="redis", redis_url=server.url)
    report = asyncio.run(prepare_data(settings, full=True))
    assert report.entities_touched
    shared = RedisCache(server.url, namespace="perf:correlation:")
    try:
        assert len(shared) > 0
    finally:
        shared.close()
    assert not list(settings.cache_dir.glob("*.sqlite*"))
