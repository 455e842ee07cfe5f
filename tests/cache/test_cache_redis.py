"""The Redis tier against real servers: what the contract suite cannot say for every tier.

JSON by default (a pickle planted in the server is never loaded), the server's TTL and its
eviction as the size bound, faults (down, full, frozen) as counted misses and dropped writes
within a bounded time, pooling, the asyncio forms, the manager and the two-tier caches.
"""

from __future__ import annotations

import asyncio
import math
import pickle
import threading
import time

import pytest
from support import wait_until

from perf._internal.processes import free_port
from perf.cache import (
    CacheManager,
    CorrelationCache,
    PickleSerializer,
    RedisCache,
    TwoTierCache,
    cached,
)
from perf.cache.correlation import pair_key
from perf.cache.redis_plans import encode_envelope, parse_invalidation
from perf.errors import ConfigurationError, SerializationError


@pytest.fixture
def cache(redis_url, redis_namespace, clock):
    made = RedisCache(redis_url, namespace=redis_namespace, clock=clock)
    yield made
    made.clear()
    made.close()


def raw(cache, key):
    return cache._client.get(cache.namespace + key)


def dead_url():
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


# -- values and input ----------------------------------------------------------------------------


def test_values_are_json_by_default(cache):
    cache.set("k", {"a": [1, "x"]})
    assert raw(cache, "k").endswith(b'{"a":[1,"x"]}')
    with pytest.raises(SerializationError, match="PickleSerializer"):
        cache.set("other", {1, 2})  # a set is not JSON
    assert raw(cache, "other") is None  # nothing half-written


def test_a_pickle_planted_in_the_server_is_never_loaded(cache, clock):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unpickled!",))

    payload = pickle.dumps(Boom())
    cache._client.set(cache.namespace + "k", encode_envelope(payload, clock(), clock() + 60))
    cache._client.set(cache.namespace + "foreign", b"written by someone else")
    assert cache.get("k", "dflt") == "dflt"
    assert cache.get("foreign", "dflt") == "dflt"
    stats = cache.stats()
    assert (stats["misses"], stats["errors"]) == (2, 2)


def test_pickle_is_opt_in(redis_url, redis_namespace):
    with RedisCache(redis_url, namespace=redis_namespace, serializer=PickleSerializer()) as c:
        c.set("k", (1, {2}))
        assert c.get("k") == (1, {2})
        c.clear()


def test_bad_input_is_a_clear_error(cache, redis_url):
    with pytest.raises(SerializationError, match="keys are str"):
        cache.get(("tuple", "key"))
    with pytest.raises(SerializationError, match="max_value_bytes"):
        cache.set("k", "x" * (2 * 1024 * 1024))
    with pytest.raises(ConfigurationError, match="redis://"):
        RedisCache("localhost:6379")
    with pytest.raises(ConfigurationError, match="timeout"):
        RedisCache(redis_url, timeout=0)
    with pytest.raises(TypeError, match="bogus_option"):
        RedisCache(redis_url, bogus_option=1)
    with pytest.raises(TypeError, match="bogus_option"):
        TwoTierCache(redis_url=redis_url, bogus_option=1)
    with pytest.raises(ConfigurationError, match="not both"):
        TwoTierCache("x.sqlite", redis_url=redis_url)


def test_the_server_gets_the_ttl(cache):
    cache.set("k", 1, ttl=10)
    assert 9000 < cache._client.pttl(cache.namespace + "k") <= 10_000
    cache.set("forever", 1, ttl=math.inf)
    assert cache._client.pttl(cache.namespace + "forever") == -1  # no expiry


def test_namespaces_are_separate_and_clear_keeps_other_keys(cache, redis_url, redis_namespace):
    other = RedisCache(redis_url, namespace=redis_namespace[:-1] + "-other:")
    other.set("k", "theirs")
    cache._client.set("unrelated", b"1")
    cache.set("k", "mine")
    cache.set("[glob]*?", "literal")
    assert cache.invalidate_prefix("[glob]") == 1  # glob characters are literal
    cache.clear()
    assert other.get("k") == "theirs" and cache._client.get("unrelated") == b"1"
    other.clear()
    cache._client.delete("unrelated")


# -- the size bound: the server's eviction --------------------------------------------------------


def test_size_is_bounded_by_the_servers_eviction(redis_server):
    server = redis_server("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
    cache = RedisCache(server.url)
    value = "x" * 1000
    assert all(cache.set(f"k{i}", value) for i in range(5000))  # ~5 MB into a 2 MB server
    info = cache.server_info()
    assert info["maxmemory"] == 2 * 1024 * 1024 and info["maxmemory_policy"] == "allkeys-lru"
    assert info["evicted_keys"] > 0 and info["used_memory"] <= 2.2 * 1024 * 1024
    assert len(cache) < 5000
    assert cache.stats()["dropped"] == 0
    assert cache.get("k4999") == value  # the newest survive


def test_a_full_server_that_does_not_evict_drops_writes_without_raising(redis_server):
    server = redis_server("--maxmemory", "1mb", "--maxmemory-policy", "noeviction")
    cache = RedisCache(server.url)
    results = [cache.set(f"k{i}", "x" * 1000) for i in range(3000)]
    assert results[0] is True and results[-1] is False
    stats = cache.stats()
    assert stats["dropped"] == results.count(False) and stats["errors"] >= 1
    assert stats["mode"] == "read_write"  # an error reply is not an outage
    assert cache.get("k0") == "x" * 1000  # reads still work


# -- faults: down, frozen, back --------------------------------------------------------------------


def test_a_server_that_is_down_gives_misses_and_dropped_writes(clock):
    cache = RedisCache(dead_url(), clock=clock, retry_after=5)
    assert cache.get("k", "dflt") == "dflt"
    assert cache.set("k", 1) is False
    assert cache.delete("k") is False and cache.invalidate_prefix("") == 0
    cache.clear()
    stats = cache.stats()
    assert stats["mode"] == "unavailable"
    assert (stats["misses"], stats["dropped"], stats["errors"]) == (1, 1, 1)
    assert stats["skipped"] == 4  # the circuit is open: the server is not tried again
    clock.advance(5)
    assert cache.get("k") is None
    assert cache.stats()["errors"] == 2  # tried once more, after retry_after


def test_a_frozen_server_costs_one_bounded_timeout_then_recovers(redis_server, clock):
    server = redis_server()
    cache = RedisCache(server.url, timeout=0.2, retry_after=1, clock=clock)
    cache.set("k", "v", ttl=math.inf)
    server.pause()
    try:
        started = time.perf_counter()
        assert cache.get("k") is None
        assert cache.set("k2", 1) is False  # skipped: no second wait
        elapsed = time.perf_counter() - started
        assert elapsed < 2, f"{elapsed:.2f} s: the timeout does not bound the call"
        assert cache.mode == "unavailable"
    finally:
        server.resume()
    clock.advance(1)
    assert cache.get("k") == "v"
    assert cache.mode == "read_write"


def test_the_asyncio_forms_behave_alike(cache, clock):
    async def main():
        assert await cache.aset("k", [1, 2]) is True
        assert await cache.aget("k") == [1, 2]
        assert cache.get("k") == [1, 2]  # one store, both forms
        assert (await cache.aget_entry("k"))[1] == clock()
        assert await cache.adelete("k") is True and await cache.adelete("k") is False
        await cache.aset("user:1", 1)
        assert await cache.ainvalidate_prefix("user:") == 1
        await cache.aset("a", 1)
        await cache.aclear()
        assert await cache.aget("a", "dflt") == "dflt"
        down = RedisCache(dead_url())
        assert await down.aget("k", "dflt") == "dflt" and await down.aset("k", 1) is False
        await cache.aclose()

    asyncio.run(main())


# -- pooling ---------------------------------------------------------------------------------------


def connections_named(cache, name):
    return sum(client.get("name") == name for client in cache._client.client_list())


def test_threads_share_a_bounded_pool(cache):
    # timeout=10: 16 threads queue for 4 connections under the GIL; nothing here may time out
    pooled = RedisCache(cache.url + "?client_name=perf-pool-threads", namespace=cache.namespace,
                        max_connections=4, timeout=10)  # fmt: skip
    pooled.set("k", 1)
    errors = []

    def work():
        for _ in range(200):
            if pooled.get("k") != 1:
                errors.append("miss")

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and pooled.stats()["hits"] == 3200
    assert 1 <= connections_named(cache, "perf-pool-threads") <= 4
    pooled.close()


def test_tasks_share_a_bounded_pool(cache):
    pooled = RedisCache(cache.url + "?client_name=perf-pool-tasks", namespace=cache.namespace,
                        max_connections=4, timeout=10)  # fmt: skip

    async def main():
        await pooled.aset("k", 1)
        results = await asyncio.gather(*(pooled.aget("k") for _ in range(200)))
        connections = connections_named(cache, "perf-pool-tasks")
        await pooled.aclose()
        return results, connections

    results, connections = asyncio.run(main())
    assert results == [1] * 200 and 1 <= connections <= 4
    assert connections_named(cache, "perf-pool-tasks") == 0  # aclose closed them


def test_a_full_pool_is_busy_not_down(cache):
    pooled = RedisCache(cache.url, namespace=cache.namespace, max_connections=1, timeout=0.05)
    held = pooled._client.connection_pool.get_connection()  # the only connection, taken
    try:
        assert pooled.get("k", "dflt") == "dflt"
        assert pooled.stats()["errors"] == 1 and pooled.mode == "read_write"
    finally:
        pooled._client.connection_pool.release(held)
    pooled.close()


# -- the manager, @cached, the two-tier caches -----------------------------------------------------


def test_the_manager_has_redis_types(redis_url):
    manager = CacheManager(redis_url=redis_url)
    manager.set_in_cache("user:1", {"n": 1}, ttl=60, cache_type="redis")
    assert manager.get_from_cache("user:1", cache_type="redis") == {"n": 1}
    manager.create("shared", "two_tier_redis")
    manager.set_in_cache("k", 2, cache_type="shared")
    assert manager.get_from_cache("k", cache_type="shared") == 2
    assert manager.invalidate("user:") >= 1
    stats = manager.get_cache_stats()
    assert stats["redis"]["backend"] == "redis" and stats["shared"]["second_tier"] == "redis"
    manager.clear()
    manager.cache("shared").close()
    with pytest.raises(ConfigurationError, match=r"redis_url"):
        CacheManager().get_from_cache("k", cache_type="redis")


def test_cached_functions_can_share_a_redis_cache(redis_url):
    manager = CacheManager(redis_url=redis_url)
    calls = []

    @cached(ttl=60, cache_key_prefix="t", cache_type="redis", manager=manager)
    def square(x):
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9 and calls == [3]
    assert square.cache_invalidate(3) is True
    assert square(3) == 9 and calls == [3, 3]
    square.cache_clear()


def test_two_tiers_over_redis(redis_url, redis_namespace, clock):
    options = {"redis_url": redis_url, "redis_namespace": redis_namespace, "clock": clock}
    writer = TwoTierCache(**options)
    writer.set("k", "v", ttl=100)
    clock.advance(60)
    fresh = TwoTierCache(**options)  # a restart, or another process: empty memory tier
    assert fresh.get("k") == "v"
    assert fresh.memory.time_left("k") == pytest.approx(40)  # promoted with what is left
    assert fresh.get("k", max_age=30) is None  # written 60 s ago
    stats = fresh.stats()
    assert (stats["disk_hits"], stats["second_tier"], stats["coherence"]["live"]) == (
        1,
        "redis",
        True,
    )
    writer.clear()
    writer.close()
    fresh.close()


def test_another_caches_writes_reach_this_memory_tier(redis_url, redis_namespace):
    a = TwoTierCache(redis_url=redis_url, redis_namespace=redis_namespace)
    b = TwoTierCache(redis_url=redis_url, redis_namespace=redis_namespace)
    try:
        a.set("k", "old")
        assert wait_until(lambda: b.get("k") == "old" and b.memory.peek("k") is not None)
        a.set("k", "new")  # an overwrite
        assert wait_until(lambda: b.memory.peek("k") is None)
        assert b.get("k") == "new"
        a.delete("k")
        assert wait_until(lambda: b.get("k") is None)
        for key in ("user:1", "user:2"):
            a.set(key, 1)
            assert wait_until(lambda key=key: b.get(key) == 1 and b.memory.peek(key))
        a.invalidate_prefix("user:")
        assert wait_until(lambda: len(b.memory) == 0)
        assert b.stats()["coherence"]["messages"] >= 4
    finally:
        a.clear()
        a.close()
        b.close()


def test_rewriting_the_same_value_announces_nothing(redis_url, redis_namespace):
    a = TwoTierCache(redis_url=redis_url, redis_namespace=redis_namespace)
    b = TwoTierCache(redis_url=redis_url, redis_namespace=redis_namespace)
    listener = a.disk.new_client(socket_timeout=10).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(a.disk.channel)

    def announced():  # the next message's keys (blocks until one arrives: 10 s at most)
        message = listener.get_message(timeout=10)
        while message is None or message["type"] != "message":
            message = listener.get_message(timeout=10)
        return parse_invalidation(message["data"])[2]

    try:
        a.set("k", {"r": 0.5})
        assert announced() == ["k"]
        assert wait_until(lambda: b.get("k") == {"r": 0.5} and b.memory.peek("k") is not None)
        a.set("k", {"r": 0.5}, ttl=60)  # the same value again (a new TTL, a new write time)
        assert a.disk.set_many({"k": {"r": 0.5}, "new": 1, "other": 2})
        assert announced() == ["new", "other"]  # nothing about "k": the same value twice
        assert a.stats()["disk"]["unchanged"] == 2
        assert wait_until(lambda: b.coherence.messages >= 2)
        assert b.memory.peek("k") is not None  # b's copy, still right, stays
        a.set("k", {"r": 0.6})  # a change is announced, and reaches b
        assert announced() == ["k"]
        assert wait_until(lambda: b.memory.peek("k") is None)
        assert b.get("k") == {"r": 0.6}
    finally:
        listener.close()
        a.clear()
        a.close()
        b.close()


def test_an_entitys_pairs_are_dropped_everywhere(redis_url, redis_namespace):
    a = CorrelationCache(redis_url=redis_url, redis_namespace=redis_namespace, name="t1")
    b = CorrelationCache(redis_url=redis_url, redis_namespace=redis_namespace, name="t2")
    try:
        a.set("light.kitchen", "sensor.motion", 0.8)
        a.set("sensor.door", "light.kitchen", 0.5)
        a.set("sensor.door", "sensor.motion", 0.1)
        for pair in (("sensor.motion", "light.kitchen"), ("light.kitchen", "sensor.door")):
            # a hit that stays in memory (the message of a's own write may land after a read)
            assert wait_until(
                lambda pair=pair: b.get(*pair) and b.store.memory.peek(pair_key(*pair))
            )
        assert len(b.store.memory) == 2
        assert a.invalidate("light.kitchen") == 2
        assert wait_until(lambda: len(b.store.memory) == 0)
        assert b.get("sensor.motion", "light.kitchen") is None
        assert b.get("sensor.door", "sensor.motion") == 0.1
    finally:
        a.clear()
        a.close()
        b.close()


def test_a_message_about_the_key_during_a_read_keeps_the_read_out_of_memory(
    redis_url, redis_namespace
):
    cache = TwoTierCache(redis_url=redis_url, redis_namespace=redis_namespace)
    other = RedisCache(redis_url, namespace=redis_namespace, notify=True)
    try:
        coherence = cache.coherence
        since = coherence.generation
        other.delete("k")  # another process invalidates while our read is in flight
        assert wait_until(lambda: coherence.generation != since)
        assert coherence.store("k", ("stale", 0.0), 60, since) is False
        assert cache.memory.peek("k") is None
        assert coherence.store("k", ("fresh", 0.0), 60, coherence.generation) is True
        since = coherence.generation
        other.delete("other key")  # about another key: "k" may still go into memory
        assert wait_until(lambda: coherence.generation != since)
        assert coherence.store("k", ("fresh", 0.0), 60, since) is True
        other.invalidate_prefix("")  # about every key: nothing read before it goes in
        assert wait_until(lambda: coherence.generation != since + 1)
        assert coherence.store("k", ("stale", 0.0), 60, since + 1) is False
    finally:
        cache.close()
        other.close()


def test_without_a_subscription_the_memory_tier_is_off(redis_server):
    server = redis_server()
    cache = TwoTierCache(redis_url=server.url, redis_timeout=0.1)
    cache.set("k", "v")
    assert cache.memory.peek("k") is not None
    server.stop()
    assert wait_until(lambda: not cache.coherence.live)
    assert len(cache.memory) == 0  # emptied: messages may be missed from now on
    assert cache.get("k") is None  # the server is gone too: a counted miss
    assert cache.set("k", "v") is False and len(cache.memory) == 0
    assert cache.stats()["coherence"]["disconnects"] == 1
    cache.close()
