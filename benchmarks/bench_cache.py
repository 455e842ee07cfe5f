"""perf.cache against the caches a user would otherwise pick, side by side in one run.

Lookups run in batches of 1,000 keys per call, so the harness's per-call overhead does not
blur sub-microsecond costs. Speed bars (see benchmarks/conftest.py) measure ours and the peer
interleaved, block by block; the peers also run alone, for the tables of medians.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import sqlite3

import aiocache
import cachetools
import diskcache
import pytest
from async_lru import alru_cache

from perf.cache import CacheManager, MemoryCache, SQLiteCache, cached

N = 1_000
KEYS = [f"entity:{i}" for i in range(N)]
VALUE = {"state": "on", "brightness": 180, "area": "kitchen"}


def lookup_all(get):
    for key in KEYS:
        get(key)


# -- memory tier: get-hit ---------------------------------------------------------------------


def filled(cache_setitem):
    for key in KEYS:
        cache_setitem(key, VALUE)


MEMORY_IMPLS = [
    "perf.MemoryCache",
    "perf.CacheManager",
    "cachetools.TTLCache",
    "cachetools.LRUCache",
    "functools.lru_cache",
    "dict",
]
MEMORY_BARS = {
    "perf.MemoryCache": {"cachetools.TTLCache": 0.25, "cachetools.LRUCache": 1.5},  # LRU: no TTL
    "perf.CacheManager": {"cachetools.TTLCache": 0.35},
}


def memory_get(impl):
    """A filled cache's lookup function."""
    if impl == "perf.MemoryCache":
        cache = MemoryCache(10 * N)
        filled(cache.set)
        return cache.get
    if impl == "perf.CacheManager":
        manager = CacheManager(memory_entries=10 * N)
        filled(manager.set_in_cache)
        return manager.get_from_cache
    if impl == "functools.lru_cache":
        get = functools.lru_cache(maxsize=10 * N)(lambda key: VALUE)
        lookup_all(get)
        return get
    if impl == "cachetools.TTLCache":
        cache = cachetools.TTLCache(10 * N, ttl=3600)
    elif impl == "cachetools.LRUCache":
        cache = cachetools.LRUCache(10 * N)
    else:
        cache = {}
    filled(cache.__setitem__)
    return cache.get


@pytest.mark.benchmark(group="memory get-hit (1,000 keys)")
@pytest.mark.parametrize("impl", MEMORY_IMPLS)
def bench_memory_get_hit(benchmark, pair, impl):
    get = memory_get(impl)
    if impl not in MEMORY_BARS:
        benchmark(lookup_all, get)
        return
    bars = MEMORY_BARS[impl]
    peers = {peer: memory_get(peer) for peer in bars}
    pair(
        ours=lambda: lookup_all(get),
        peers={
            f"bench_memory_get_hit[{p}]": functools.partial(lookup_all, g) for p, g in peers.items()
        },
        bars={f"bench_memory_get_hit[{p}]": ratio for p, ratio in bars.items()},
    )


# -- memory tier: set ---------------------------------------------------------------------------


@pytest.mark.benchmark(group="memory set (1,000 keys)")
@pytest.mark.parametrize(
    "impl", ["perf.MemoryCache", "cachetools.TTLCache", "cachetools.LRUCache", "dict"]
)
def bench_memory_set(benchmark, impl):
    if impl == "perf.MemoryCache":
        setitem = MemoryCache(10 * N).set
    elif impl == "cachetools.TTLCache":
        setitem = cachetools.TTLCache(10 * N, ttl=3600).__setitem__
    elif impl == "cachetools.LRUCache":
        setitem = cachetools.LRUCache(10 * N).__setitem__
    else:
        setitem = {}.__setitem__
    benchmark(filled, setitem)


# -- SQLite tier ---------------------------------------------------------------------------------


class RawSQLite:
    """The hand-rolled baseline: one table, JSON values, one statement per call."""

    def __init__(self, path):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB)")

    def get(self, key):
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set(self, key, value):
        self.conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, json.dumps(value)))


def disk_cache(impl, tmp_path):
    if impl == "perf.SQLiteCache":
        return SQLiteCache(tmp_path / "perf.sqlite", max_bytes=200 * 1024 * 1024)
    if impl == "diskcache.Cache":
        return diskcache.Cache(str(tmp_path / "diskcache"))
    return RawSQLite(tmp_path / "raw.sqlite")


SQLITE_IMPLS = ["perf.SQLiteCache", "diskcache.Cache", "sqlite3 (raw)"]


DISKCACHE = "diskcache.Cache"


@pytest.mark.benchmark(group="sqlite get-hit (1,000 keys)")
@pytest.mark.parametrize("impl", SQLITE_IMPLS)
def bench_sqlite_get_hit(benchmark, pair, impl, tmp_path):
    def filled_get(impl):
        cache = disk_cache(impl, tmp_path)
        for key in KEYS:
            cache.set(key, VALUE)
        return cache.get

    get = filled_get(impl)
    if impl != "perf.SQLiteCache":
        benchmark(lookup_all, get)
        return
    peer = f"bench_sqlite_get_hit[{DISKCACHE}]"
    peer_get = filled_get(DISKCACHE)
    pair(
        ours=lambda: lookup_all(get),
        peers={peer: lambda: lookup_all(peer_get)},
        bars={peer: 1.0},
    )


SET_KEYS = KEYS[:100]


def set_each(cache):
    for key in SET_KEYS:
        cache.set(key, VALUE)


@pytest.mark.benchmark(group="sqlite set (100 keys)")
@pytest.mark.parametrize("impl", SQLITE_IMPLS)
def bench_sqlite_set(benchmark, pair, impl, tmp_path):
    cache = disk_cache(impl, tmp_path)
    if impl != "perf.SQLiteCache":
        benchmark(set_each, cache)
        return
    peer = f"bench_sqlite_set[{DISKCACHE}]"
    peer_cache = disk_cache(DISKCACHE, tmp_path)
    pair(
        ours=lambda: set_each(cache),
        peers={peer: lambda: set_each(peer_cache)},
        bars={peer: 0.5},
    )


@pytest.mark.benchmark(group="sqlite set (100 keys)")
def bench_sqlite_set_many(pair, tmp_path):
    """One transaction for 100 values, against diskcache setting the same 100 one by one."""
    cache = SQLiteCache(tmp_path / "perf.sqlite")
    items = {key: VALUE for key in SET_KEYS}
    peer = f"bench_sqlite_set[{DISKCACHE}]"
    peer_cache = disk_cache(DISKCACHE, tmp_path)
    pair(
        ours=lambda: cache.set_many(items),
        peers={peer: lambda: set_each(peer_cache)},
        bars={peer: 0.1},
    )


# -- @cached, async hit ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


ALRU = "async_lru.alru_cache"


def async_cached(impl):
    async def fetch(key):
        return VALUE

    if impl == "perf.cached":
        return cached(ttl=3600, manager=CacheManager(memory_entries=10 * N))(fetch)
    if impl == ALRU:
        return alru_cache(maxsize=10 * N, ttl=3600)(fetch)
    return aiocache.cached(ttl=3600, cache=aiocache.Cache.MEMORY)(fetch)


@pytest.mark.benchmark(group="async @cached hit (1,000 calls)")
@pytest.mark.parametrize("impl", ["perf.cached", ALRU, "aiocache.cached"])
def bench_async_cached_hit(benchmark, pair, impl, loop):
    """One ``run_until_complete`` of 1,000 awaited hits per round, on one shared loop."""

    def rounds_of(func):
        async def call_all():
            for key in KEYS:
                await func(key)

        loop.run_until_complete(call_all())  # fill
        return lambda: loop.run_until_complete(call_all())

    ours = rounds_of(async_cached(impl))
    if impl != "perf.cached":
        benchmark(ours)
        return
    peer = f"bench_async_cached_hit[{ALRU}]"
    pair(ours=ours, peers={peer: rounds_of(async_cached(ALRU))}, bars={peer: 0.5})


@pytest.mark.benchmark(group="sync @cached hit (1,000 calls)")
@pytest.mark.parametrize("impl", ["perf.cached", "functools.lru_cache", "cachetools.cached"])
def bench_sync_cached_hit(benchmark, impl):
    def fetch(key):
        return VALUE

    if impl == "perf.cached":
        func = cached(ttl=3600, manager=CacheManager(memory_entries=10 * N))(fetch)
    elif impl == "functools.lru_cache":
        func = functools.lru_cache(maxsize=10 * N)(fetch)
    else:
        func = cachetools.cached(cachetools.TTLCache(10 * N, ttl=3600))(fetch)
    lookup_all(func)
    benchmark(lookup_all, func)


# -- hit rate on a skewed workload -------------------------------------------------------------


def zipf_trace(n_keys=10_000, length=50_000, skew=1.0, seed=7):
    weights = [1.0 / (rank + 1) ** skew for rank in range(n_keys)]
    return random.Random(seed).choices(range(n_keys), weights=weights, k=length)


TRACE = zipf_trace()


@pytest.mark.benchmark(group="zipf workload (50k lookups, 1,000 entries)")
@pytest.mark.parametrize("impl", ["perf.MemoryCache", "cachetools.LRUCache"])
def bench_zipf_hit_rate(benchmark, impl):
    def run():
        if impl == "perf.MemoryCache":
            cache = MemoryCache(1_000)
            get, put = cache.get, cache.set
        else:
            cache = cachetools.LRUCache(1_000)
            get, put = cache.get, cache.__setitem__
        hits = 0
        for key in TRACE:
            if get(key) is None:
                put(key, key)
            else:
                hits += 1
        return hits / len(TRACE)

    hit_rate = benchmark.pedantic(run, rounds=3, iterations=1)
    distinct = len(set(TRACE))
    benchmark.extra_info.update(
        hit_rate=hit_rate,
        cold_miss_share=distinct / len(TRACE),  # misses no cache of any size avoids
        workload="zipf s=1.0 over 10,000 keys, 50,000 lookups, seed 7, 1,000 entries",
    )
