"""``@cached``: cache a sync or async function's results through a CacheManager.

With ``cache_type="memory"`` (the default) each function gets its own MemoryCache, registered
in the manager under the function's namespace (``"<prefix>:<module>.<qualname>"``), so its
hit rate shows in ``get_cache_stats()`` and its keys need no namespace. Any other cache type
names a shared cache of the manager, whose keys carry the namespace (as strings of JSON for
file-backed caches, which outlive the process).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol, cast

from perf.cache._validate import DEFAULT_TTL, check_ttl
from perf.cache.keys import KWARGS_MARK, call_key, split_call_key, string_key
from perf.cache.manager import Cache, CacheManager, get_cache_manager
from perf.cache.memory import MISSING, MemoryCache
from perf.cache.stats import hit_rate

__all__ = ["CachedFunction", "cached"]

KeyFunction = Callable[..., Hashable]


class CachedFunction(Protocol):
    """A function wrapped by ``@cached``: callable as before, plus cache controls."""

    __wrapped__: Callable[..., Any]  # the original function: call it to bypass the cache

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def cache_invalidate(self, *args: Any, **kwargs: Any) -> bool: ...

    def cache_clear(self) -> int: ...

    def cache_stats(self) -> dict[str, Any]: ...


class _Flight:
    """One computation in progress, awaited by the threads that missed the same key."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _Core:
    """What the sync and async wrappers share: the cache, its keys, the counters.

    The wrappers build the call key inline (see ``keys.call_key``) and look it up with the
    getter from ``resolve``: the private cache's own ``get`` on the fast path, or a closure
    that first translates the call key (custom ``key=`` function, shared cache) and counts.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        ttl: float,
        prefix: str,
        cache_type: str,
        manager: CacheManager | None,
        key: KeyFunction | None,
    ) -> None:
        self.ttl = ttl
        self.namespace = f"{prefix}:{func.__module__}.{func.__qualname__}"
        self.cache_type = cache_type
        self.manager = manager
        self.custom_key = key
        self.hits = self.misses = self.computations = self.errors = 0
        self.lock = threading.Lock()
        self.flights: dict[Hashable, _Flight] = {}
        self.async_flights: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Hashable, asyncio.Future[Any]]
        ] = weakref.WeakKeyDictionary()
        # Resolved on the first call, so decorating at import time creates no cache.
        self._cache: Cache | None = None
        self.private = cache_type == "memory"

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = self._find_cache()
        return self._cache

    def resolve(self) -> Callable[[Hashable, Any], Any]:
        """The getter the wrappers call with a call key."""
        if self.private and self.custom_key is None:
            return self.cache.get
        return self._counting_get(self.cache.get)

    def _find_cache(self) -> Cache:
        manager = self.manager or get_cache_manager()
        if not self.private:
            return manager.cache(self.cache_type)
        if self.namespace in manager.names():  # decorated again: share the entries
            return manager.cache(self.namespace)
        return manager.register(self.namespace, MemoryCache(manager.memory_entries))

    def _counting_get(self, get: Callable[[Hashable, Any], Any]) -> Callable[[Hashable, Any], Any]:
        to_cache_key = self.to_cache_key

        def counting_get(key: Hashable, default: Any) -> Any:
            value = get(to_cache_key(key), MISSING)
            if value is MISSING:
                self.misses += 1
                return default
            self.hits += 1
            return value

        return counting_get

    def to_cache_key(self, key: Hashable) -> Hashable:
        """The key the cache stores for a call key."""
        if self.private and self.custom_key is None:
            return key
        args, kwargs = split_call_key(key)
        if self.custom_key is not None:
            custom = self.custom_key(*args, **kwargs)
            return custom if self.private else (self.namespace, custom)
        if isinstance(self.cache, MemoryCache):
            return (self.namespace, key)
        return string_key(self.namespace, args, kwargs)

    def unkeyable(self, exc: TypeError) -> TypeError:
        return TypeError(
            f"@cached {self.namespace}: an argument cannot be part of a cache key ({exc}); "
            "pass hashable arguments (e.g. a tuple instead of a list), or give @cached a "
            "key= function"
        )

    def peek(self, cache_key: Hashable) -> Any:
        """The cached value or MISSING, without counting a lookup where the cache allows."""
        cache = self.cache
        if isinstance(cache, MemoryCache):
            return cache.peek(cache_key, MISSING)
        return cache.get(cache_key, MISSING)

    def store(self, cache_key: Hashable, value: Any) -> None:
        self.computations += 1
        self.cache.set(cache_key, value, self.ttl)

    def invalidate(self, key: Hashable) -> bool:
        return self.cache.delete(self.to_cache_key(key))

    def clear(self) -> int:
        if self.private:
            dropped = len(cast(MemoryCache, self.cache))
            self.cache.clear()
            return dropped
        return self.cache.invalidate_prefix(self.namespace)

    def stats(self) -> dict[str, Any]:
        if self.private and self.custom_key is None:
            own = self.cache.stats()
            hits, misses = own["hits"], own["misses"]
        else:
            hits, misses = self.hits, self.misses
        return {
            "hits": hits,
            "misses": misses,
            "hit_rate": hit_rate(hits, misses),
            "computations": self.computations,
            "errors": self.errors,
        }


def cached(
    ttl: float = DEFAULT_TTL,
    cache_key_prefix: str = "query",
    *,
    cache_type: str = "memory",
    manager: CacheManager | None = None,
    key: KeyFunction | None = None,
) -> Callable[[Callable[..., Any]], CachedFunction]:
    """Cache a function's results for ``ttl`` seconds.

    Works on sync and async functions (decided here, once). Concurrent misses on one key
    compute once (in threads and in asyncio tasks); exceptions are not cached, ``None`` is.
    Keys come from the arguments (``f(1)`` and ``f(x=1)`` differ, as in functools): hashable
    arguments for memory caches, JSON-encodable ones for file-backed caches, or whatever
    ``key(*args, **kwargs)`` returns. The wrapper has ``cache_stats()``,
    ``cache_invalidate(*args, **kwargs)``, ``cache_clear()``, and ``__wrapped__`` to bypass
    the cache. The process-wide manager is used unless ``manager`` is given.
    """
    ttl = check_ttl(ttl)

    def decorate(func: Callable[..., Any]) -> CachedFunction:
        core = _Core(
            func, ttl=ttl, prefix=cache_key_prefix, cache_type=cache_type, manager=manager, key=key
        )
        if inspect.iscoroutinefunction(func):
            wrapper = _async_wrapper(core, func)
        else:
            wrapper = _sync_wrapper(core, func)
        functools.update_wrapper(wrapper, func)
        controls = cast(Any, wrapper)
        controls.cache_stats = core.stats
        controls.cache_invalidate = lambda *a, **kw: core.invalidate(call_key(a, kw))
        controls.cache_clear = core.clear
        return cast(CachedFunction, wrapper)

    return decorate


# The wrappers inline keys.call_key and keep the getter in a closure cell: a hit's cost is
# the point of this module (first_get resolves the cache on the first call, then steps aside).


def _sync_wrapper(core: _Core, func: Callable[..., Any]) -> Callable[..., Any]:
    missing = MISSING
    cache_get: Callable[[Hashable, Any], Any]

    def first_get(key: Hashable, default: Any) -> Any:
        nonlocal cache_get
        cache_get = core.resolve()
        return cache_get(key, default)

    cache_get = first_get

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = (args, KWARGS_MARK, tuple(sorted(kwargs.items()))) if kwargs else args
        try:
            value = cache_get(key, missing)
        except TypeError as exc:
            raise core.unkeyable(exc) from None
        if value is not missing:
            return value
        return _compute_once_in_threads(core, func, core.to_cache_key(key), args, kwargs)

    return wrapper


def _async_wrapper(core: _Core, func: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    missing = MISSING
    cache_get: Callable[[Hashable, Any], Any]

    def first_get(key: Hashable, default: Any) -> Any:
        nonlocal cache_get
        cache_get = core.resolve()
        return cache_get(key, default)

    cache_get = first_get

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = (args, KWARGS_MARK, tuple(sorted(kwargs.items()))) if kwargs else args
        try:
            value = cache_get(key, missing)
        except TypeError as exc:
            raise core.unkeyable(exc) from None
        if value is not missing:
            return value
        return await _compute_once(core, func, core.to_cache_key(key), args, kwargs)

    return wrapper


def _compute_once_in_threads(
    core: _Core, func: Callable[..., Any], key: Hashable, args: tuple[Any, ...], kwargs: Any
) -> Any:
    """Wait for the thread already computing ``key`` (a cache key), or compute it."""
    with core.lock:
        flight = core.flights.get(key)
        leader = flight is None
        if flight is None:
            flight = core.flights[key] = _Flight()
    if not leader:
        flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return flight.value
    try:
        # Another thread may have stored it between our lookup and taking the lead.
        value = core.peek(key)
        if value is MISSING:
            value = func(*args, **kwargs)
            core.store(key, value)
        flight.value = value
        return value
    except BaseException as exc:
        core.errors += 1
        flight.error = exc
        raise
    finally:
        with core.lock:
            del core.flights[key]
        flight.done.set()


async def _compute_once(
    core: _Core,
    func: Callable[..., Awaitable[Any]],
    key: Hashable,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Await the computation running for ``key`` (a cache key) in this loop, or run it."""
    loop = asyncio.get_running_loop()
    flights = core.async_flights.setdefault(loop, {})
    while (flight := flights.get(key)) is not None:
        try:
            return await asyncio.shield(flight)
        except asyncio.CancelledError:
            if not flight.cancelled():
                raise  # we were cancelled ourselves
            # the leader was cancelled: take over
    flight = flights[key] = loop.create_future()
    try:
        value = await func(*args, **kwargs)
        core.store(key, value)
    except BaseException as exc:
        core.errors += 1
        if isinstance(exc, asyncio.CancelledError):
            flight.cancel()
        else:
            flight.set_exception(exc)
            flight.exception()  # retrieved: no "never retrieved" warning when nobody waits
        raise
    else:
        flight.set_result(value)
        return value
    finally:
        del flights[key]
