"""The process-wide monitor lists live caches with no registration; HitRate prints honestly."""

from __future__ import annotations

import gc
import json

from perf import CacheManager, CorrelationCache, PerformanceMonitor, get_performance_monitor
from perf._cache_reports import HitRate


def lookups(cache: CorrelationCache, hits: int, misses: int) -> None:
    cache.set("a", "b", 1)
    for _ in range(hits):
        cache.get("a", "b")
    for _ in range(misses):
        cache.get("a", "nope")


def test_a_correlation_cache_reports_itself_while_it_lives():
    cache = CorrelationCache(name="pairs-one")
    lookups(cache, 3, 1)
    stats = get_performance_monitor().cache_stats()["pairs-one"]
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (3, 1, 0.75)
    del cache
    gc.collect()
    assert "pairs-one" not in get_performance_monitor().cache_stats()


def test_caches_under_one_name_are_summed_and_a_shared_store_counted_once():
    first, second = CorrelationCache(name="pairs-two"), CorrelationCache(name="pairs-two")
    view = CorrelationCache(store=first.store, name="pairs-two")  # the same store again
    lookups(first, 1, 1)
    lookups(second, 3, 1)
    stats = get_performance_monitor().cache_stats()["pairs-two"]
    assert (stats["hits"], stats["misses"], stats["instances"]) == (4, 2, 2)
    assert stats["hit_rate"] == 4 / 6
    assert view.store is first.store


def test_a_managers_caches_report_under_their_names():
    manager = CacheManager()
    manager.create("entity_context_live", "memory")
    manager.get_from_cache("x", cache_type="entity_context_live")
    assert get_performance_monitor().cache_stats()["entity_context_live"]["misses"] == 1


def test_explicit_registration_wins_and_private_monitors_list_only_their_own():
    cache = CorrelationCache(name="pairs-three")
    lookups(cache, 1, 0)
    process_wide = get_performance_monitor()
    process_wide.register_cache("pairs-three", lambda: {"hits": 9, "misses": 1})
    try:
        assert process_wide.cache_stats()["pairs-three"]["hits"] == 9
    finally:
        process_wide.unregister_cache("pairs-three")
    assert "pairs-three" not in PerformanceMonitor().cache_stats()


def test_hit_rate_is_a_fraction_that_prints_as_a_percentage():
    rate = HitRate(0.8)
    assert rate == 0.8 and rate > 0.79 and rate * 100 == 80.0
    assert f"Cache hit rate: {rate}%" == "Cache hit rate: 80.0%"
    assert str(rate) == "80.0" and repr(rate) == "0.8"
    assert f"{rate:.1%}" == "80.0%" and f"{rate:.2f}" == "0.80"
    assert json.dumps({"hit_rate": rate}) == '{"hit_rate": 0.8}'
    monitor = PerformanceMonitor()
    monitor.register_cache("plain", lambda: {"hits": 1, "misses": 3, "hit_rate": 0.25})
    assert f"{monitor.get_stats()['cache_stats']['plain']['hit_rate']}%" == "25.0%"
