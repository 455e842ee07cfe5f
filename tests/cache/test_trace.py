"""Access traces: a cache records exactly the lookups of its sampled keys, nothing else, and
nothing at all when off; the sample's curve stands for the cache's own hit rate."""

from __future__ import annotations

import copy
import pickle

import pytest

from perf.cache import CorrelationCache, MemoryCache, TwoTierCache, miss_ratio_curve
from perf.cache.trace import KeyTrace, TracedDeadline, start_trace, stop_trace, zipf_trace


def plain_deadlines(cache: MemoryCache) -> bool:
    return all(type(expires_at) is float for _, expires_at in cache._data.values())


def test_off_by_default_and_nothing_changes(clock):
    cache = MemoryCache(10, clock=clock)
    cache.set("a", 1)
    assert cache.trace is None and cache.stop_trace() is None
    assert plain_deadlines(cache)


def test_at_rate_one_every_lookup_is_recorded_in_order_hits_and_misses(clock):
    cache = MemoryCache(2, clock=clock)
    cache.set("a", 1)
    trace = cache.start_trace(rate=1.0)
    cache.get("a")  # hit on an entry set before the trace began
    cache.get("b")  # miss
    cache.set("b", 2)
    cache.set("c", 3, ttl=5)  # evicts a
    cache.get("b")
    cache.get("a")  # miss: evicted
    clock.advance(10)
    cache.get("c")  # expired: recorded once (by its deadline), then a miss
    cache.peek("b")  # not lookups: no record
    cache.time_left("b")
    cache.set("b", 4)
    assert cache.stop_trace() is trace
    ids = trace.as_dict()["keys"]
    assert ids == [0, 1, 1, 0, 2]  # a b b a c, renumbered by first lookup
    assert trace.lookups == 5 == cache.stats()["hits"] + cache.stats()["misses"]
    assert plain_deadlines(cache)  # stopping unwraps every traced deadline


def test_only_sampled_keys_are_recorded():
    cache = MemoryCache(1_000)
    trace = cache.start_trace(rate=0.05)
    keys = zipf_trace(5_000, 0.9, 20_000, seed=1)
    for key in keys:
        if cache.get(key) is None:
            cache.set(key, key)
    cache.stop_trace()
    expected = [k for k in keys if trace.key_id(k) is not None]
    assert [trace.key_id(k) for k in expected] == trace.keys
    assert 0.03 < len(set(expected)) / len(set(keys)) < 0.07
    assert trace.lookups == len(keys)


def test_the_sample_predicts_the_cache_own_hit_rate():
    """SHARDS at rate 0.1 on 100,000 keys: the curve of the sample at the cache's size is the
    hit rate the cache measured, within 3 points."""
    keys = zipf_trace(100_000, 0.8, 150_000, seed=2)
    cache = MemoryCache(2_000)
    cache.start_trace(rate=0.1)
    for key in keys:
        if cache.get(key) is None:
            cache.set(key, key)
    trace = cache.stop_trace()
    assert trace is not None
    curve = miss_ratio_curve(
        trace.keys, [2_000], sample_rate=trace.rate, lookups=trace.lookups, optimal=False
    )
    assert abs(curve.hit_rates[0] - cache.stats()["hit_rate"]) <= 0.03


def test_reset_stats_while_tracing_keeps_the_lookup_count(clock):
    cache = MemoryCache(10, clock=clock)
    trace = cache.start_trace(rate=1.0)
    cache.get("x")
    cache.reset_stats()
    cache.get("x")
    cache.get("y")
    cache.stop_trace()
    assert trace.lookups == 3


def test_limit_counts_what_it_drops(clock):
    cache = MemoryCache(10, clock=clock)
    trace = cache.start_trace(rate=1.0, limit=2)
    for key in "abcd":
        cache.get(key)
    assert trace.keys and len(trace.keys) == 2 and trace.dropped == 2


def test_traced_deadline_is_a_float_that_records_on_greater_than():
    trace = KeyTrace(rate=1.0)
    deadline = TracedDeadline(10.0, trace, 7)
    assert deadline <= 10.0 and deadline - 4 == 6.0 and not deadline < 10.0
    assert trace.keys == []
    assert deadline > 5.0
    assert trace.keys == [7]
    assert type(pickle.loads(pickle.dumps(deadline))) is float
    assert type(copy.copy(deadline)) is float


def test_two_tier_and_correlation_caches_trace_their_memory_tier(tmp_path):
    tiers = TwoTierCache(tmp_path / "a.sqlite")
    trace = start_trace(tiers, rate=1.0)
    tiers.get("k")
    tiers.set("k", 1)
    tiers.get("k")
    assert stop_trace(tiers) is trace and len(trace.keys) == 2
    pairs = CorrelationCache(cache_db_path=tmp_path / "b.sqlite")
    trace = start_trace(pairs, rate=1.0)
    pairs.get("x", "y")
    assert len(trace.keys) == 1
    with pytest.raises(TypeError, match="no memory tier"):
        start_trace(object())


def test_bad_rate():
    with pytest.raises(ValueError, match="rate must be in"):
        KeyTrace(rate=0)
