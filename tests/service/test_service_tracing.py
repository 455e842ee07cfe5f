"""The service's cache traces (``PERF_CACHE_TRACE_RATE``): off, no cache holds a trace and the
hit path stores plain floats; on, every cache is traced, a reset restarts the traces, and the
service writes them when it stops. And the memory tiers' policy (``PERF_MEMORY_CACHE_POLICY``),
which the traces are there to choose."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from pydantic import ValidationError
from support import primary_names, running_app, small_settings

from perf.cache import LRUPolicy, SievePolicy
from perf.service.runtime import CACHE_TYPES
from perf.service.settings import ServiceSettings


def memory_tiers(app):
    caches = app.state.runtime.caches
    # a two-tier cache is traced in its memory tier, which sees every lookup
    return {name: getattr(caches.cache(name), "memory", caches.cache(name)) for name in CACHE_TYPES}


def test_with_the_rate_at_zero_no_trace_object_is_on_the_hit_path(tmp_path):
    settings = small_settings(tmp_path)
    assert settings.cache_trace_rate == 0.0  # `perf serve`'s default
    query = "Compare the {} and the {}".format(*primary_names(2))

    async def scenario():
        async with running_app(settings) as (app, client):
            for _ in range(2):  # the second one hits
                assert (await client.post("/query", json={"query": query})).status_code == 200
            tiers = memory_tiers(app)
            assert app.state.runtime.traces is None
            for tier in tiers.values():
                assert tier.trace is None
                assert all(type(expiry) is float for _, expiry in tier._data.values())
            return sum(tier.stats()["hits"] for tier in tiers.values())

    assert asyncio.run(scenario()) > 0


@pytest.mark.parametrize(("setting", "policy"), [("lru", LRUPolicy), ("sieve", SievePolicy)])
def test_the_memory_tiers_run_the_configured_policy(tmp_path, setting, policy):
    settings = small_settings(tmp_path, memory_cache_policy=setting)

    async def scenario():
        async with running_app(settings) as (app, _):
            return {type(tier._policy) for tier in memory_tiers(app).values()}

    assert asyncio.run(scenario()) == {policy}


def test_traces_every_cache_restarts_on_reset_and_writes_them_at_stop(tmp_path):
    folder = tmp_path / "traces"
    settings = small_settings(tmp_path, cache_trace_rate=1.0, cache_trace_dir=folder)
    query = "Compare the {}, the {} and the {}".format(*primary_names(3))

    async def scenario():
        async with running_app(settings) as (app, client):
            tiers = memory_tiers(app)
            assert all(tier.trace is not None for tier in tiers.values())
            await client.post("/query", json={"query": "the lights"})
            assert (await client.post("/admin/reset-stats")).status_code == 200
            assert all(tier.trace.keys == [] for tier in tiers.values())  # restarted
            for _ in range(3):
                await client.post("/query", json={"query": query})
            return (await client.get("/performance/stats")).json()["cache_stats"]

    stats = asyncio.run(scenario())
    files = list(folder.iterdir())
    assert [f.name for f in files] == [f"cache-traces-{os.getpid()}.json"]
    caches = json.loads(files[0].read_text())["caches"]
    assert set(caches) == set(CACHE_TYPES) <= set(stats)
    for name, trace in caches.items():
        assert trace["rate"] == 1.0 and trace["max_entries"] == settings.memory_cache_entries
        # rate 1: every lookup since the reset, the same count as the hit rates
        assert trace["lookups"] == trace["sampled"] == stats[name]["hits"] + stats[name]["misses"]
    assert caches["entity_context"]["keys"] == [0, 1, 2] * 3  # three entities, three times


def test_a_trace_rate_needs_a_folder_to_write_to():
    with pytest.raises(ValidationError, match="PERF_CACHE_TRACE_DIR"):
        ServiceSettings(cache_trace_rate=0.05)
    with pytest.raises(ValidationError):
        ServiceSettings(cache_trace_rate=1.5, cache_trace_dir="/tmp")
