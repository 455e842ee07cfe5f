"""``@cached``: cache a sync or async function's results in a CacheManager cache."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol, cast

from perf.cache._validate import DEFAULT_TTL, check_ttl
from perf.cache.keys import string_key, tuple_key
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
    """What the sync and async wrappers share: the cache, the keys, the counters."""

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
        self.func = func
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
        self.cache_get: Callable[[Hashable, Any], Any] = self._resolve_then_get
        self.make_key: Callable[[tuple[Any, ...], dict[str, Any]], Hashable] = self._resolve_key

    def _resolve(self) -> Cache:
        if self._cache is not None:
            return self._cache
        cache = self._cache = (self.manager or get_cache_manager()).cache(self.cache_type)
        in_process = isinstance(cache, MemoryCache)
        if self.custom_key is not None:
            custom, namespace = self.custom_key, self.namespace
            self.make_key = lambda args, kwargs: (namespace, custom(*args, **kwargs))
        else:
            build = tuple_key if in_process else string_key
            self.make_key = functools.partial(build, self.namespace)
        self.cache_get = cache.get
        return cache

    def _resolve_then_get(self, key: Hashable, default: Any) -> Any:
        return self._resolve().get(key, default)

    def _resolve_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        self._resolve()
        return self.make_key(args, kwargs)

    @property
    def cache(self) -> Cache:
        return self._resolve()

    def lookup(self, key: Hashable) -> Any:
        try:
            return self.cache_get(key, MISSING)
        except TypeError as exc:
            raise TypeError(
                f"@cached {self.namespace}: an argument cannot be part of a cache key ({exc}); "
                "pass hashable arguments (e.g. a tuple instead of a list), or give @cached a "
                "key= function"
            ) from None

    def store(self, key: Hashable, value: Any) -> None:
        self.computations += 1
        self.cache.set(key, value, self.ttl)

    def stats(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": hit_rate(self.hits, self.misses),
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
    """Cache a function's results for ``ttl`` seconds in the manager's cache ``cache_type``.

    Works on sync and async functions (decided here, once). Concurrent misses on one key
    compute once (in threads and in asyncio tasks); exceptions are not cached, ``None`` is.
    Keys come from the arguments: hashable arguments for memory caches, JSON-encodable ones
    for file-backed caches, or whatever ``key(*args, **kwargs)`` returns. The wrapper has
    ``cache_stats()``, ``cache_invalidate(*args, **kwargs)``, ``cache_clear()``, and
    ``__wrapped__`` to bypass the cache. The process-wide manager is used unless ``manager``
    is given.
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
        controls.cache_invalidate = lambda *a, **kw: core.cache.delete(core.make_key(a, kw))
        controls.cache_clear = lambda: core.cache.invalidate_prefix(core.namespace)
        return cast(CachedFunction, wrapper)

    return decorate


def _sync_wrapper(core: _Core, func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = core.make_key(args, kwargs)
        value = core.lookup(key)
        if value is not MISSING:
            core.hits += 1
            return value
        core.misses += 1
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
            value = core.cache_get(key, MISSING)
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

    return wrapper


def _async_wrapper(core: _Core, func: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = core.make_key(args, kwargs)
        value = core.lookup(key)
        if value is not MISSING:
            core.hits += 1
            return value
        core.misses += 1
        return await _compute_once(core, func, key, args, kwargs)

    return wrapper


async def _compute_once(
    core: _Core,
    func: Callable[..., Awaitable[Any]],
    key: Hashable,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Await the computation already running for ``key`` in this loop, or run it."""
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
