"""CacheManager: named caches of several types behind one API, and the process-wide manager."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Protocol

from perf._cache_reports import report_cache
from perf.cache._validate import DEFAULT_TTL
from perf.cache.correlation import CorrelationCache
from perf.cache.memory import MemoryCache
from perf.cache.policy import EvictionPolicy, LRUPolicy
from perf.cache.redis_tier import RedisCache
from perf.cache.sqlite import SQLiteCache
from perf.cache.tiered import TwoTierCache
from perf.errors import ConfigurationError

__all__ = ["Cache", "CacheManager", "configure_cache_manager", "get_cache_manager"]


class Cache(Protocol):
    """What the manager asks of a cache; a Redis-backed one only has to provide these."""

    def get(self, key: Any, default: Any = None) -> Any: ...

    def set(self, key: Any, value: Any, ttl: float | None = None) -> Any: ...

    def delete(self, key: Any) -> bool: ...

    def invalidate_prefix(self, prefix: str) -> int: ...

    def clear(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


CacheFactory = Callable[["CacheManager", str], Cache]


def _memory(manager: CacheManager, name: str) -> Cache:
    return MemoryCache(manager.memory_entries, policy=manager.memory_policy)


def _sqlite(manager: CacheManager, name: str) -> Cache:
    return SQLiteCache(manager.file_for(name))


def _two_tier(manager: CacheManager, name: str) -> Cache:
    return TwoTierCache(
        manager.file_for(name),
        memory_entries=manager.memory_entries,
        memory_policy=manager.memory_policy,
    )


def _redis(manager: CacheManager, name: str) -> Cache:
    return RedisCache(manager.url_for(name), namespace=f"perf:{name}:")


def _two_tier_redis(manager: CacheManager, name: str) -> Cache:
    return TwoTierCache(
        redis_url=manager.url_for(name),
        redis_namespace=f"perf:{name}:",
        memory_entries=manager.memory_entries,
        memory_policy=manager.memory_policy,
    )


class CacheManager:
    """Named caches, created on first use from their type.

    The names ``memory``, ``sqlite`` and ``correlation`` are also types, so
    ``get_from_cache(key, cache_type="sqlite")`` works with no set-up beyond ``cache_dir``
    (where file-backed caches live). ``create(name, type)`` makes more named caches (e.g. an
    ``entity_context`` memory cache), ``register_type`` adds a type, and ``register`` adds a
    cache built elsewhere. With ``redis_url``, the types ``redis`` (a ``RedisCache`` under
    ``perf:<name>:``) and ``two_tier_redis`` (memory in front of Redis, kept coherent across
    processes) work too; ``redis`` is then also a cache name, as ``sqlite`` is.
    ``memory_policy`` is the eviction policy of the memory caches and memory tiers it creates
    (``LRUPolicy``, ``SievePolicy``, ...).
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        *,
        memory_entries: int = 10_000,
        memory_policy: Callable[[], EvictionPolicy] = LRUPolicy,
        redis_url: str | None = None,
    ) -> None:
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.memory_entries = memory_entries
        self.memory_policy = memory_policy
        self.redis_url = redis_url
        self._types: dict[str, CacheFactory] = {
            "memory": _memory,
            "sqlite": _sqlite,
            "correlation": _two_tier,
            "two_tier": _two_tier,
            "redis": _redis,
            "two_tier_redis": _two_tier_redis,
        }
        self._caches: dict[str, Cache] = {}
        self._lock = threading.RLock()

    # -- set-up ----------------------------------------------------------------------------

    def register_type(self, type_name: str, factory: CacheFactory) -> None:
        """Make ``type_name`` available to ``create``; ``factory(manager, name)`` builds one."""
        self._types[type_name] = factory

    def register(self, name: str, cache: Cache) -> Cache:
        """Add a cache built elsewhere under ``name`` (replacing none: names are unique).

        Every cache of a manager (registered or created) appears in the process-wide
        monitor's ``cache_stats`` under its name, for as long as it lives.
        """
        with self._lock:
            if name in self._caches:
                raise ConfigurationError(f"a cache named {name!r} already exists")
            self._caches[name] = cache
        report_cache(name, cache)
        return cache

    def create(self, name: str, cache_type: str = "memory") -> Cache:
        """Create the cache ``name`` of type ``cache_type``."""
        factory = self._types.get(cache_type)
        if factory is None:
            raise ConfigurationError(
                f"unknown cache type {cache_type!r}; known types: {', '.join(sorted(self._types))}"
                " (add one with register_type)"
            )
        return self.register(name, factory(self, name))

    def cache(self, name: str) -> Cache:
        """The cache called ``name``; a type name on its own creates a cache of that type."""
        found = self._caches.get(name)
        if found is not None:
            return found
        with self._lock:  # re-entrant: create() registers under it too
            found = self._caches.get(name)
            if found is not None:
                return found
            if name not in self._types:
                raise ConfigurationError(
                    f"no cache named {name!r}; existing: "
                    f"{', '.join(sorted(self._caches)) or 'none'}; create it with "
                    f"create({name!r}, cache_type=...) (types: {', '.join(sorted(self._types))})"
                )
            return self.create(name, name)

    def correlation_cache(self, name: str = "correlation") -> CorrelationCache:
        """The entity-pair view of the two-tier cache called ``name``."""
        store = self.cache(name)
        if not isinstance(store, TwoTierCache):
            raise ConfigurationError(f"cache {name!r} is not a two-tier cache")
        return CorrelationCache(store=store, name=name)

    def file_for(self, name: str) -> Path:
        """The SQLite file of the file-backed cache ``name``, inside ``cache_dir``."""
        if self.cache_dir is None:
            raise ConfigurationError(
                f"cache {name!r} is file-backed and the manager has no cache_dir; create it "
                "with CacheManager(cache_dir=...) or call configure_cache_manager(cache_dir=...)"
            )
        return self.cache_dir / f"{name}.sqlite"

    def url_for(self, name: str) -> str:
        """The Redis URL of the Redis-backed cache ``name``."""
        if self.redis_url is None:
            raise ConfigurationError(
                f"cache {name!r} lives in Redis and the manager has no redis_url; create it "
                "with CacheManager(redis_url=...) or call configure_cache_manager(redis_url=...)"
            )
        return self.redis_url

    # -- the spec's API --------------------------------------------------------------------

    def get_from_cache(self, key: Hashable, cache_type: str = "memory", default: Any = None) -> Any:
        """The value under ``key`` in the cache ``cache_type``, or ``default``."""
        cache = self._caches.get(cache_type)  # not `or`: an empty cache is falsy
        if cache is None:
            cache = self.cache(cache_type)
        return cache.get(key, default)

    def set_in_cache(
        self, key: Hashable, value: Any, ttl: float = DEFAULT_TTL, cache_type: str = "memory"
    ) -> Any:
        """Store ``value`` under ``key`` for ``ttl`` seconds in the cache ``cache_type``."""
        return self.cache(cache_type).set(key, value, ttl)

    def delete_from_cache(self, key: Hashable, cache_type: str = "memory") -> bool:
        return self.cache(cache_type).delete(key)

    def invalidate(self, prefix: str, cache_type: str | None = None) -> int:
        """Drop keys starting with ``prefix`` from one cache, or from every cache."""
        caches = list(self._caches.values()) if cache_type is None else [self.cache(cache_type)]
        return sum(cache.invalidate_prefix(prefix) for cache in caches)

    def clear(self, cache_type: str | None = None) -> None:
        """Empty one cache, or every cache."""
        caches = list(self._caches.values()) if cache_type is None else [self.cache(cache_type)]
        for cache in caches:
            cache.clear()

    def get_cache_stats(self) -> dict[str, dict[str, Any]]:
        """Per cache: hits, misses, hit_rate, size, evictions, expirations, ..."""
        return {name: cache.stats() for name, cache in list(self._caches.items())}

    def names(self) -> list[str]:
        return sorted(self._caches)


_manager = CacheManager()


def get_cache_manager() -> CacheManager:
    """The process-wide manager (memory caches only until ``configure_cache_manager``)."""
    return _manager


def configure_cache_manager(
    cache_dir: str | Path | None = None,
    *,
    memory_entries: int = 10_000,
    redis_url: str | None = None,
) -> CacheManager:
    """Give the process-wide manager its settings; call at start-up, before first use."""
    if _manager.names():
        raise ConfigurationError(
            f"configure_cache_manager must run before any cache is used (in use: "
            f"{', '.join(_manager.names())})"
        )
    _manager.cache_dir = None if cache_dir is None else Path(cache_dir)
    _manager.memory_entries = memory_entries
    _manager.redis_url = redis_url
    return _manager
