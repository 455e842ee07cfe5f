"""The behaviour every cache tier shares, run against each of them."""

from __future__ import annotations

import math

import pytest

from perf.cache import MemoryCache, RedisCache, SQLiteCache, TwoTierCache
from perf.errors import ConfigurationError

TIERS = ["memory", "sqlite", "two_tier", "two_tier_memory_only", "redis", "two_tier_redis"]


@pytest.fixture(params=TIERS)
def cache(request, tmp_path, clock):
    kind = request.param
    if "redis" in kind:  # a real server (skips, saying why, when none can be started)
        url, namespace = (
            request.getfixturevalue("redis_url"),
            request.getfixturevalue("redis_namespace"),
        )
    if kind == "redis":
        made = RedisCache(url, namespace=namespace, clock=clock)
    elif kind == "two_tier_redis":
        made = TwoTierCache(
            redis_url=url, redis_namespace=namespace, memory_entries=100, clock=clock
        )
    elif kind == "memory":
        made = MemoryCache(100, clock=clock)
    elif kind == "sqlite":
        made = SQLiteCache(tmp_path / "c.sqlite", clock=clock)
    elif kind == "two_tier":
        made = TwoTierCache(tmp_path / "c.sqlite", memory_entries=100, clock=clock)
    else:
        made = TwoTierCache(None, memory_entries=100, clock=clock)
    yield made
    if "redis" in kind:
        made.clear()  # the server outlives the test
    if hasattr(made, "close"):
        made.close()


def test_miss_returns_default(cache):
    assert cache.get("absent") is None
    assert cache.get("absent", "dflt") == "dflt"


def test_set_then_get(cache):
    cache.set("k", {"a": [1, 2.5, "x"]})
    assert cache.get("k") == {"a": [1, 2.5, "x"]}


def test_none_is_a_value(cache):
    cache.set("k", None)
    assert cache.get("k", "dflt") is None


def test_overwrite_keeps_last(cache):
    cache.set("k", 1)
    cache.set("k", 2)
    assert cache.get("k") == 2


def test_delete(cache):
    cache.set("k", 1)
    assert cache.delete("k") is True
    assert cache.delete("k") is False
    assert cache.get("k") is None


def test_invalidate_prefix_drops_only_that_namespace(cache):
    for key in ("user:1", "user:2", "users", "order:1"):
        cache.set(key, key)
    assert cache.invalidate_prefix("user:") == 2
    assert cache.get("user:1") is None and cache.get("user:2") is None
    assert cache.get("users") == "users" and cache.get("order:1") == "order:1"


def test_clear(cache):
    cache.set("a", 1)
    cache.set("b", 2)
    cache.clear()
    assert cache.get("a") is None and cache.get("b") is None


def test_ttl_edges(cache, clock):
    cache.set("k", "v", ttl=10)
    clock.advance(9.999)
    assert cache.get("k") == "v"
    clock.advance(0.001)  # exactly at expiry: gone
    assert cache.get("k") is None


def test_infinite_ttl_never_expires(cache, clock):
    cache.set("k", "v", ttl=math.inf)
    clock.advance(1e9)
    assert cache.get("k") == "v"


def test_default_ttl_is_an_hour(cache, clock):
    cache.set("k", "v")
    clock.advance(3599)
    assert cache.get("k") == "v"
    clock.advance(1)
    assert cache.get("k") is None


def test_stats_count_hits_and_misses(cache):
    cache.set("k", 1)
    cache.get("k")
    cache.get("k")
    cache.get("nope")
    stats = cache.stats()
    assert (stats["hits"], stats["misses"]) == (2, 1)
    assert stats["hit_rate"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("ttl", [-1, 0, "60", None, True, math.nan])
def test_bad_ttl_is_a_clear_error(cache, ttl):
    if ttl is None:  # None means "the cache's default", which is fine
        cache.set("k", 1, ttl=None)
        return
    with pytest.raises(ConfigurationError, match="ttl"):
        cache.set("k", 1, ttl=ttl)
    assert cache.get("k") is None  # nothing half-written
