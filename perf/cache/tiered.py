"""Two tiers in front of each other: the memory tier, then the SQLite or Redis tier."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from perf.cache._validate import DEFAULT_TTL, check_ttl
from perf.cache.coherence import Coherence
from perf.cache.memory import MISSING, MemoryCache
from perf.cache.policy import EvictionPolicy, LRUPolicy
from perf.cache.redis_tier import RedisCache
from perf.cache.serializers import Serializer
from perf.cache.sqlite import SQLiteCache
from perf.cache.stats import hit_rate
from perf.errors import ConfigurationError

__all__ = ["TwoTierCache"]


class TwoTierCache:
    """A memory tier in front of an optional SQLite or Redis tier, with string keys.

    A lookup tries memory, then disk; a disk hit is promoted to memory with the time it has
    left (not a fresh TTL), and a read never writes to SQLite. ``max_age`` on a lookup also
    rejects entries written longer ago than that, whatever their TTL. Memory entries carry
    their write time, so both tiers share one clock (wall time, since the file outlives the
    process). ``serializer``, ``busy_timeout``, ``on_corrupt`` and ``retry_after`` go to the
    SQLite tier (see SQLiteCache); ``memory_policy`` is the memory tier's eviction policy.

    ``redis_url`` puts a Redis/Valkey server behind the memory tier instead of a file
    (``self.disk`` is then a ``RedisCache`` under ``redis_namespace``; ``serializer``,
    ``retry_after``, ``redis_timeout`` and ``redis_max_connections`` go to it). Its writes and
    deletes are announced to the other processes using the same namespace, whose memory tiers
    drop those keys (``perf.cache.coherence``); ``stats()["coherence"]`` counts the messages.
    """

    def __init__(
        self,
        cache_db_path: str | Path | None = None,
        *,
        memory_entries: int = 10_000,
        memory_policy: Callable[[], EvictionPolicy] = LRUPolicy,
        max_disk_bytes: int = 20 * 1024 * 1024,
        default_ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
        serializer: Serializer | None = None,
        busy_timeout: float = 1.0,
        on_corrupt: str = "rebuild",
        retry_after: float = 5.0,
        redis_url: str | None = None,
        redis_namespace: str = "perf:",
        redis_timeout: float = 0.25,
        redis_max_connections: int = 16,
    ) -> None:
        if cache_db_path is not None and redis_url is not None:
            raise ConfigurationError(
                "TwoTierCache takes one second tier: cache_db_path (SQLite) or redis_url, "
                f"not both (got {str(cache_db_path)!r} and a redis_url)"
            )
        self._clock = clock
        self.memory = MemoryCache(
            memory_entries, default_ttl=default_ttl, policy=memory_policy, clock=clock
        )
        self.coherence: Coherence | None = None
        self.disk: SQLiteCache | RedisCache | None = (
            None
            if cache_db_path is None
            else SQLiteCache(
                cache_db_path,
                max_bytes=max_disk_bytes,
                default_ttl=default_ttl,
                clock=clock,
                serializer=serializer,
                busy_timeout=busy_timeout,
                on_corrupt=on_corrupt,
                retry_after=retry_after,
            )
        )
        if redis_url is not None:
            self.disk = RedisCache(
                redis_url,
                namespace=redis_namespace,
                default_ttl=default_ttl,
                serializer=serializer,
                timeout=redis_timeout,
                retry_after=retry_after,
                max_connections=redis_max_connections,
                notify=True,
                clock=clock,
            )
            self.coherence = Coherence(self.disk, self.memory)
        self.default_ttl = self.memory.default_ttl
        self._memory_hits = self._disk_hits = self._misses = 0

    def get(self, key: str, default: Any = None, *, max_age: float | None = None) -> Any:
        """The value under ``key`` from the nearest tier, or ``default``."""
        entry = self.memory.get(key, MISSING)
        if entry is not MISSING and (max_age is None or entry[1] + max_age > self._clock()):
            self._memory_hits += 1
            return entry[0]
        if self.disk is not None:
            coherence = self.coherence
            since = coherence.generation if coherence is not None else 0
            value, created_at, expires_at = self.disk.get_entry(key, max_age)
            if value is not MISSING:
                left = expires_at - self._clock()
                if left > 0:
                    if coherence is None:
                        self.memory.set(key, (value, created_at), left)
                    else:
                        coherence.store(key, (value, created_at), left, since)
                self._disk_hits += 1
                return value
        self._misses += 1
        return default

    def set(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store in both tiers; False if the disk tier dropped the write (memory still has it,
        unless the disk tier is Redis: see ``set_many``)."""
        return self.set_many([(key, value)], ttl)

    def set_many(self, items: Iterable[tuple[str, Any]], ttl: float | None = None) -> bool:
        """Store every ``(key, value)`` in both tiers, the disk tier in one round trip (one
        SQLite transaction, one Redis script); False if the disk tier dropped the write. With
        Redis a dropped write leaves the keys out of memory too: other processes would hear
        of no change, so this memory tier holds only what the shared tier does."""
        ttl = self.default_ttl if ttl is None else check_ttl(ttl)
        items = list(items)
        coherence = self.coherence
        since = coherence.generation if coherence is not None else 0
        # Disk first: a value the disk tier cannot encode must not reach memory either.
        stored = self.disk.set_many(items, ttl) if self.disk is not None else True
        now = self._clock()
        for key, value in items:
            if coherence is None:
                self.memory.set(key, (value, now), ttl)
            elif stored:
                coherence.store(key, (value, now), ttl, since)
            else:
                self.memory.delete(key)
        return stored

    def delete(self, key: str) -> bool:
        """Drop ``key`` from both tiers; True if either had it."""
        in_memory = self.memory.delete(key)
        on_disk = self.disk is not None and self.disk.delete(key)
        return in_memory or on_disk

    def invalidate_prefix(self, prefix: str) -> int:
        """Drop every key starting with ``prefix`` from both tiers; returns the larger count."""
        dropped = self.memory.invalidate_prefix(prefix)
        if self.disk is not None:
            dropped = max(dropped, self.disk.invalidate_prefix(prefix))
        return dropped

    def clear(self) -> None:
        self.memory.clear()
        if self.disk is not None:
            self.disk.clear()

    def stats(self) -> dict[str, Any]:
        """Overall hits (memory + disk), misses and hit_rate, then each tier's own figures."""
        hits = self._memory_hits + self._disk_hits
        memory_misses = self._disk_hits + self._misses
        memory = self.memory.stats()
        return {
            "hits": hits,
            "misses": self._misses,
            "hit_rate": hit_rate(hits, self._misses),
            "memory_hits": self._memory_hits,
            "disk_hits": self._disk_hits,
            "memory_hit_rate": hit_rate(self._memory_hits, memory_misses),
            "disk_hit_rate": hit_rate(self._disk_hits, self._misses),
            "size": memory["size"],
            "evictions": memory["evictions"],
            "expirations": memory["expirations"],
            "memory": memory,
            "disk": None if self.disk is None else self.disk.stats(),
            "second_tier": _tier_name(self.disk),
            **({} if self.coherence is None else {"coherence": self.coherence.stats()}),
        }

    def reset_stats(self) -> None:
        self._memory_hits = self._disk_hits = self._misses = 0
        self.memory.reset_stats()
        if self.disk is not None:
            self.disk.reset_stats()

    def close(self) -> None:
        if self.coherence is not None:
            self.coherence.close()
        if self.disk is not None:
            self.disk.close()


def _tier_name(disk: object) -> str | None:
    if disk is None:
        return None
    return "sqlite" if isinstance(disk, SQLiteCache) else "redis"
