from __future__ import annotations

import sqlite3

import pytest

from perf.cache import CorrelationCache, TwoTierCache
from perf.cache.correlation import pair_key


def data_version(path):
    """SQLite's data_version seen from an outside connection: it moves on every commit."""
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA data_version").fetchone()[0], conn.execute(
            "SELECT COUNT(*) FROM perf_cache"
        ).fetchone()[0]


def test_disk_hit_is_promoted_with_its_remaining_ttl(tmp_path, clock):
    path = tmp_path / "c.sqlite"
    TwoTierCache(path, clock=clock).set("k", "v", ttl=100)
    clock.advance(60)
    fresh = TwoTierCache(path, clock=clock)  # a restart: empty memory tier
    assert fresh.get("k") == "v"
    assert fresh.stats()["disk_hits"] == 1
    assert fresh.memory.time_left("k") == pytest.approx(40)
    assert fresh.get("k") == "v"
    assert fresh.stats()["memory_hits"] == 1
    clock.advance(41)  # past the original expiry: gone from both tiers
    assert fresh.get("k") is None


def test_a_read_never_writes_to_sqlite(tmp_path, clock):
    path = tmp_path / "c.sqlite"
    TwoTierCache(path, clock=clock).set("k", "v", ttl=100)
    clock.advance(200)
    TwoTierCache(path, clock=clock).set("other", 1)
    reader = TwoTierCache(path, clock=clock)
    before = data_version(path)
    for key in ("k", "other", "absent", "other"):
        reader.get(key)  # an expired row, a promotion, a miss, a memory hit
    assert data_version(path) == before


def test_stats_per_tier(tmp_path, clock):
    cache = TwoTierCache(tmp_path / "c.sqlite", clock=clock)
    cache.set("a", 1)
    cache.get("a")  # memory hit
    cache.memory.clear()
    cache.get("a")  # disk hit
    cache.get("zzz")  # miss
    stats = cache.stats()
    assert (stats["memory_hits"], stats["disk_hits"], stats["misses"]) == (1, 1, 1)
    assert stats["hit_rate"] == pytest.approx(2 / 3)
    assert stats["memory_hit_rate"] == pytest.approx(1 / 3)
    assert stats["disk_hit_rate"] == pytest.approx(1 / 2)
    assert stats["disk"]["size"] == 1


def test_max_age_rejects_entries_older_than_asked(tmp_path, clock):
    cache = TwoTierCache(tmp_path / "c.sqlite", clock=clock)
    cache.set("k", "v", ttl=7200)
    clock.advance(1800)
    assert cache.get("k", max_age=3600) == "v"
    assert cache.get("k", max_age=600) is None


def test_value_the_disk_cannot_store_reaches_neither_tier(tmp_path):
    cache = TwoTierCache(tmp_path / "c.sqlite")
    with pytest.raises(TypeError):
        cache.set("k", object())
    assert cache.get("k") is None


def test_correlation_pair_is_unordered(tmp_path, clock):
    cache = CorrelationCache(cache_db_path=tmp_path / "corr.sqlite", clock=clock)
    cache.set("light.kitchen", "sensor.motion", 0.82)
    assert cache.get("sensor.motion", "light.kitchen") == 0.82
    reopened = CorrelationCache(cache_db_path=tmp_path / "corr.sqlite", clock=clock)
    assert reopened.get("sensor.motion", "light.kitchen") == 0.82


def test_correlation_pairs_stored_at_once(tmp_path, clock):
    cache = CorrelationCache(cache_db_path=tmp_path / "corr.sqlite", clock=clock)
    assert cache.set_many({("sensor.motion", "light.kitchen"): 0.8, ("a", "b"): 0.1}, 600)
    assert cache.store.memory.peek(pair_key("a", "b")) is not None
    reopened = CorrelationCache(cache_db_path=tmp_path / "corr.sqlite", clock=clock)
    assert reopened.get("light.kitchen", "sensor.motion") == 0.8
    clock.advance(601)
    assert cache.get("a", "b", ttl_seconds=7200) is None  # the TTL given to set_many
    with pytest.raises(TypeError):  # a bad value: neither tier gets any of them
        cache.set_many({("c", "d"): 1, ("e", "f"): object()})
    assert cache.get("c", "d") is None


def test_correlation_ttl_seconds_on_get_is_max_age(clock):
    cache = CorrelationCache(clock=clock)  # memory only
    cache.set("a", "b", 0.5, ttl_seconds=7200)
    clock.advance(4000)
    assert cache.get("a", "b") is None  # default: accept at most an hour old
    assert cache.get("a", "b", ttl_seconds=7200) == 0.5


def test_invalidate_entity_drops_all_its_pairs_in_both_tiers(tmp_path, clock):
    path = tmp_path / "corr.sqlite"
    cache = CorrelationCache(cache_db_path=path, clock=clock)
    cache.set("a", "b", 1)
    cache.set("c", "a", 2)
    cache.set("b", "c", 3)
    cache.set("aa", "c", 4)  # shares a prefix with "a" but is another entity
    assert cache.invalidate("a") == 2
    assert cache.get("a", "b") is None and cache.get("a", "c") is None
    assert cache.get("b", "c") == 3 and cache.get("aa", "c") == 4
    reopened = CorrelationCache(cache_db_path=path, clock=clock)
    assert reopened.get("a", "b") is None and reopened.get("b", "c") == 3


@pytest.mark.parametrize(
    ("e1", "e2", "error"), [(1, "b", TypeError), ("", "b", TypeError), ("a\x1fb", "c", ValueError)]
)
def test_bad_entity_ids(e1, e2, error):
    with pytest.raises(error):
        CorrelationCache().set(e1, e2, 1)
