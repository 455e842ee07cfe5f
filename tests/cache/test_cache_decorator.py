from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from perf.cache import CacheManager, MemoryCache, cached


@pytest.fixture
def manager(tmp_path):
    return CacheManager(cache_dir=tmp_path)


def test_sync_function_computes_once_per_key(manager):
    calls = []

    @cached(ttl=60, cache_key_prefix="q", manager=manager)
    def square(x, *, power=2):
        calls.append(x)
        return x**power

    assert [square(3), square(3), square(4), square(3, power=3), square(3, power=3)] == [
        9,
        9,
        16,
        27,
        27,
    ]
    assert calls == [3, 4, 3]
    assert square.cache_stats() == {
        "hits": 2,
        "misses": 3,
        "hit_rate": 0.4,
        "computations": 3,
        "errors": 0,
    }
    assert square.__name__ == "square"


def test_async_function_computes_once_per_key(manager):
    calls = []

    @cached(manager=manager)
    async def fetch(x):
        calls.append(x)
        return {"x": x}

    async def main():
        return [await fetch(1), await fetch(1), await fetch(2)]

    assert asyncio.run(main()) == [{"x": 1}, {"x": 1}, {"x": 2}]
    assert calls == [1, 2]


def test_none_is_cached_and_exceptions_are_not(manager):
    calls = []

    @cached(manager=manager)
    def flaky(x):
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("upstream down")
        return None

    with pytest.raises(RuntimeError, match="upstream down"):
        flaky(1)
    assert flaky(1) is None
    assert flaky(1) is None
    assert len(calls) == 2
    assert flaky.cache_stats()["errors"] == 1


def test_ttl_expiry_recomputes_in_a_shared_cache(clock):
    manager = CacheManager()
    manager.register("fake_clock", MemoryCache(100, clock=clock))
    calls = []

    @cached(ttl=10, manager=manager, cache_type="fake_clock")
    def f(x):
        calls.append(x)
        return x

    f(1)
    clock.advance(9)
    f(1)
    clock.advance(1)
    f(1)
    assert calls == [1, 1]
    assert f.cache_stats()["hits"] == 1 and f.cache_stats()["misses"] == 2
    assert f.cache_clear() == 1


def test_each_function_has_its_own_memory_cache_in_the_manager(manager):
    @cached(manager=manager, cache_key_prefix="entity")
    def lookup(x):
        return x

    lookup(1)
    lookup(1)
    stats = manager.get_cache_stats()
    (name,) = [n for n in stats if n.startswith("entity:")]
    assert name.endswith("lookup") and stats[name]["hits"] == 1
    assert lookup.cache_clear() == 1
    assert manager.get_cache_stats()[name]["size"] == 0


def test_unhashable_argument_is_a_clear_type_error(manager):
    @cached(manager=manager)
    def f(items):
        return len(items)

    with pytest.raises(TypeError, match=r"hashable.*tuple instead of a list"):
        f([1, 2])


def test_file_backed_cache_needs_json_arguments_and_shares_across_instances(tmp_path):
    calls = []

    def make(manager):
        @cached(cache_type="sqlite", manager=manager)
        def f(x):
            calls.append(x)
            return [x, "v"]

        return f

    first = make(CacheManager(cache_dir=tmp_path))
    assert first({"a": 1}) == [{"a": 1}, "v"]
    second = make(CacheManager(cache_dir=tmp_path))  # another process would see the same
    assert second({"a": 1}) == [{"a": 1}, "v"]
    assert len(calls) == 1
    with pytest.raises(TypeError, match="JSON-encodable"):
        first(object())


def test_hit_path_writes_nothing_to_sqlite(tmp_path):
    manager = CacheManager(cache_dir=tmp_path)

    @cached(cache_type="sqlite", manager=manager)
    def f(x):
        return x

    f(1)
    with sqlite3.connect(tmp_path / "sqlite.sqlite") as conn:
        before = conn.execute("PRAGMA data_version").fetchone()[0]
        for _ in range(5):
            f(1)
        assert conn.execute("PRAGMA data_version").fetchone()[0] == before


def test_custom_key_invalidate_clear_and_bypass(manager):
    calls = []

    @cached(manager=manager, key=lambda user, request_id: user)
    def profile(user, request_id):
        calls.append(user)
        return f"profile of {user}"

    profile("ada", 1)
    profile("ada", 2)  # same key: request_id is ignored
    assert calls == ["ada"]
    assert profile.cache_invalidate("ada", 0) is True
    profile("ada", 3)
    profile("bob", 3)
    assert profile.cache_clear() == 2
    assert profile.__wrapped__("ada", 4) == "profile of ada"  # bypass: always computes
    assert calls == ["ada", "ada", "bob", "ada"]


def test_async_single_flight_and_no_task_on_hit(manager):
    calls = []
    release = asyncio.Event()

    @cached(manager=manager)
    async def slow(x):
        calls.append(x)
        await release.wait()
        return x * 10

    async def main():
        waiters = [asyncio.create_task(slow(7)) for _ in range(20)]
        await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(*waiters)
        loop = asyncio.get_running_loop()
        created = []
        loop.set_task_factory(
            lambda lp, coro, **kw: created.append(1) or asyncio.Task(coro, loop=lp)
        )
        hit = await slow(7)
        loop.set_task_factory(None)
        return results, hit, created

    results, hit, created = asyncio.run(main())
    assert results == [70] * 20 and hit == 70
    assert calls == [7]
    assert created == []  # the hit path made no task


def test_async_followers_take_over_when_the_leader_is_cancelled(manager):
    calls = []
    gate = asyncio.Event()

    @cached(manager=manager)
    async def slow(x):
        calls.append(x)
        if len(calls) == 1:
            await asyncio.sleep(3600)  # the first leader hangs until cancelled
        await gate.wait()
        return x

    async def main():
        leader = asyncio.create_task(slow(1))
        await asyncio.sleep(0)
        follower = asyncio.create_task(slow(1))
        await asyncio.sleep(0)
        leader.cancel()
        await asyncio.sleep(0)
        gate.set()
        return await follower, leader.cancelled()

    assert asyncio.run(main()) == (1, True)
    assert calls == [1, 1]


def test_async_errors_reach_every_waiter_and_are_not_cached(manager):
    calls = []

    @cached(manager=manager)
    async def boom(x):
        calls.append(x)
        await asyncio.sleep(0)
        raise ValueError("bad upstream")

    async def main():
        return await asyncio.gather(*(boom(1) for _ in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, ValueError) for r in results)
    assert calls == [1]
    asyncio.run(main())
    assert calls == [1, 1]  # not cached


def test_thread_single_flight(manager):
    calls = []
    started = threading.Event()
    release = threading.Event()

    @cached(manager=manager)
    def slow(x):
        calls.append(x)
        started.set()
        release.wait(timeout=10)
        return x + 1

    results = []
    threads = [threading.Thread(target=lambda: results.append(slow(1))) for _ in range(10)]
    threads[0].start()
    started.wait(timeout=10)
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join()
    assert results == [2] * 10
    assert calls == [1]


@pytest.mark.parametrize("ttl", [0, -3, "1h"])
def test_bad_ttl_at_decoration(ttl):
    with pytest.raises(ValueError, match="ttl"):
        cached(ttl=ttl)
