from __future__ import annotations

import threading
from collections import OrderedDict

import pytest

from perf.cache import MemoryCache
from perf.errors import ConfigurationError


def test_lru_evicts_least_recently_used(clock):
    cache = MemoryCache(3, clock=clock)
    for key in "abc":
        cache.set(key, key)
    cache.get("a")  # a is now the most recent; b the least
    cache.set("d", "d")
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == ["a", "c", "d"]
    assert cache.stats()["evictions"] == 1
    assert len(cache) == 3


def test_overwrite_refreshes_recency(clock):
    cache = MemoryCache(2, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.set("a", 3)
    cache.set("c", 4)
    assert cache.get("a") == 3 and cache.get("b") is None


def test_expired_entries_counted_and_dropped(clock):
    cache = MemoryCache(10, clock=clock)
    cache.set("a", 1, ttl=5)
    cache.set("b", 2, ttl=50)
    clock.advance(10)
    assert cache.get("a") is None
    assert cache.stats()["expirations"] == 1
    assert len(cache) == 1
    clock.advance(100)
    assert cache.purge_expired() == 1
    assert len(cache) == 0


def test_time_left(clock):
    cache = MemoryCache(10, clock=clock)
    cache.set("a", 1, ttl=30)
    clock.advance(10)
    assert cache.time_left("a") == pytest.approx(20)
    assert cache.get("a") == 1
    assert cache.time_left("absent") == 0.0


def test_tuple_keys_namespace_is_first_element(clock):
    cache = MemoryCache(10, clock=clock)
    cache.set(("q:f", (1,)), 1)
    cache.set(("q:g", (1,)), 2)
    cache.set(42, 3)
    assert cache.invalidate_prefix("q:f") == 1
    assert cache.get(("q:g", (1,))) == 2 and cache.get(42) == 3


@pytest.mark.parametrize("size", [0, -1, 1.5, "10", True])
def test_bad_size_bound(size):
    with pytest.raises(ConfigurationError, match="max_entries"):
        MemoryCache(size)


class FIFOPolicy:
    """A second policy, to show the cache takes any: first in, first out, hits ignored."""

    def __init__(self):
        self.order = OrderedDict()
        self.on_hit = lambda key: None

    def on_insert(self, key):
        self.order[key] = None

    def on_remove(self, key):
        del self.order[key]

    def victim(self):
        return next(iter(self.order))

    def clear(self):
        self.order.clear()


def test_policy_is_pluggable(clock):
    cache = MemoryCache(2, policy=FIFOPolicy, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.get("a")  # FIFO ignores the hit
    cache.set("c", 3)
    assert cache.get("a") is None and cache.get("b") == 2


def test_threads_never_break_the_bound_or_lose_entries():
    cache = MemoryCache(50)
    errors = []

    def worker(n):
        try:
            for i in range(2000):
                key = (n * 7 + i) % 80
                if cache.get(key) is None:
                    cache.set(key, key)
                if i % 97 == 0:
                    cache.delete(key)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) <= 50
    # every entry present holds its own key: no value was mixed up under contention
    assert all(cache.get(k) in (None, k) for k in range(80))
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] >= 8 * 2000
