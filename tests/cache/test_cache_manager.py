from __future__ import annotations

import pytest

from perf.cache import (
    CacheManager,
    LRUPolicy,
    MemoryCache,
    SievePolicy,
    TwoTierCache,
    get_cache_manager,
)
from perf.errors import ConfigurationError


def test_default_types_by_name(tmp_path):
    manager = CacheManager(cache_dir=tmp_path)
    for cache_type in ("memory", "sqlite", "correlation"):
        manager.set_in_cache("k", cache_type, cache_type=cache_type)
        assert manager.get_from_cache("k", cache_type=cache_type) == cache_type
    assert (tmp_path / "sqlite.sqlite").exists() and (tmp_path / "correlation.sqlite").exists()
    assert set(manager.get_cache_stats()) == {"memory", "sqlite", "correlation"}


def test_file_backed_cache_without_a_directory_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="cache_dir"):
        CacheManager().get_from_cache("k", cache_type="sqlite")


def test_unknown_cache_name_lists_what_exists():
    manager = CacheManager()
    manager.get_from_cache("k")
    with pytest.raises(ConfigurationError, match=r"no cache named 'entity'.*memory"):
        manager.get_from_cache("k", cache_type="entity")
    with pytest.raises(ConfigurationError, match="unknown cache type 'memcached'"):
        manager.create("entity", "memcached")


def test_named_caches_and_registered_types(tmp_path):
    manager = CacheManager(cache_dir=tmp_path)
    manager.create("entity_context", "memory")
    made = []
    manager.register_type("custom", lambda mgr, name: made.append(name) or MemoryCache(5))
    manager.create("mine", "custom")
    manager.set_in_cache("e1", {"state": "on"}, ttl=60, cache_type="entity_context")
    assert manager.get_from_cache("e1", cache_type="entity_context") == {"state": "on"}
    assert manager.get_from_cache("e1") is None  # a different cache
    assert made == ["mine"]
    with pytest.raises(ConfigurationError, match="already exists"):
        manager.create("mine", "memory")


def test_invalidate_and_delete(tmp_path):
    manager = CacheManager(cache_dir=tmp_path)
    for cache_type in ("memory", "sqlite"):
        manager.set_in_cache("user:1", 1, cache_type=cache_type)
        manager.set_in_cache("order:1", 2, cache_type=cache_type)
    assert manager.invalidate("user:") == 2  # across every cache
    assert manager.get_from_cache("order:1", cache_type="sqlite") == 2
    assert manager.delete_from_cache("order:1", cache_type="sqlite") is True
    manager.clear()
    assert manager.get_from_cache("order:1") is None


def test_stats_per_cache_have_the_documented_fields(tmp_path):
    manager = CacheManager(cache_dir=tmp_path)
    manager.set_in_cache("k", 1)
    manager.get_from_cache("k")
    manager.get_from_cache("x")
    stats = manager.get_cache_stats()["memory"]
    for field in ("hits", "misses", "hit_rate", "size", "evictions", "expirations"):
        assert field in stats
    assert (stats["hits"], stats["misses"], stats["size"]) == (1, 1, 1)


def test_correlation_view_shares_the_named_store(tmp_path):
    manager = CacheManager(cache_dir=tmp_path)
    pairs = manager.correlation_cache()
    pairs.set("b", "a", 0.9)
    assert isinstance(manager.cache("correlation"), TwoTierCache)
    assert manager.correlation_cache().get("a", "b") == 0.9
    assert manager.get_cache_stats()["correlation"]["hits"] == 1


def test_process_wide_manager_is_one_object():
    assert get_cache_manager() is get_cache_manager()


def test_memory_policy_applies_to_every_memory_tier(tmp_path):
    sieve = CacheManager(cache_dir=tmp_path, memory_policy=SievePolicy)
    memory, tiered = sieve.create("a", "memory"), sieve.create("b", "two_tier")
    assert type(memory._policy) is SievePolicy and type(tiered.memory._policy) is SievePolicy
    assert type(CacheManager().cache("memory")._policy) is LRUPolicy  # the default
