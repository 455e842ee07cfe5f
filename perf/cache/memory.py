"""The memory tier: a bounded in-process cache with a per-entry TTL and a pluggable policy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Protocol

from perf.cache._validate import DEFAULT_TTL, check_size, check_ttl
from perf.cache.policy import EvictionPolicy, LRUPolicy
from perf.cache.stats import CacheStats
from perf.cache.trace import KeyTrace, TracedDeadline

__all__ = ["MISSING", "MemoryCache"]


class _Missing:
    """The sentinel for "not in the cache", so that a cached ``None`` is a hit."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Lookup(Protocol):
    """``get(key, default=None)``: the value under ``key``, or ``default``."""

    def __call__(self, key: Hashable, default: Any = None, /) -> Any: ...


class MemoryCache:
    """A thread-safe in-memory cache, bounded to ``max_entries``, LRU by default.

    Lookups are plain sync calls (an in-memory lookup needs no await). Expired entries count
    as misses and are dropped when found. Keys are any hashable; for ``invalidate_prefix`` a
    ``str`` key's namespace is its start, a ``tuple`` key's is its first element.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        *,
        default_ttl: float = DEFAULT_TTL,
        policy: Callable[[], EvictionPolicy] = LRUPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = check_size(max_entries, "max_entries")
        self.default_ttl = check_ttl(default_ttl, "default_ttl")
        self._clock = clock
        self._policy = policy()
        self._on_hit = self._policy.on_hit
        self._data: dict[Hashable, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        self._stats = CacheStats()
        self._trace: KeyTrace | None = None
        self.get: Lookup = self._make_get()

    def __len__(self) -> int:
        return len(self._data)

    def _make_get(self) -> Lookup:
        # The hit path is the point of this class, so it is a closure over locals (cheaper
        # than attribute loads on self) and takes no lock: each dict operation is atomic, and
        # a writer that evicts the key between our read and the policy update only costs the
        # policy update. Counters are plain ints, exact under the GIL.
        data, clock, on_hit, stats, miss = (
            self._data,
            self._clock,
            self._on_hit,
            self._stats,
            self._miss,
        )

        def get(key: Hashable, default: Any = None) -> Any:
            """The value under ``key``, or ``default`` when absent or expired."""
            entry = data.get(key)
            if entry is not None and entry[1] > clock():
                try:
                    on_hit(key)
                except KeyError:
                    pass
                stats.hits += 1
                return entry[0]
            return miss(key, default)

        return get

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The live value under ``key``, or ``default``; counts nothing, moves nothing."""
        entry = self._data.get(key)
        # `not <=`, not `>`: a traced deadline records on `>` (see perf.cache.trace)
        return entry[0] if entry is not None and not entry[1] <= self._clock() else default

    def time_left(self, key: Hashable) -> float:
        """Seconds until ``key`` expires (0.0 when absent or expired); counts nothing."""
        entry = self._data.get(key)
        return max(0.0, entry[1] - self._clock()) if entry is not None else 0.0

    def _miss(self, key: Hashable, default: Any) -> Any:
        with self._lock:
            entry = self._data.get(key)
            trace = self._trace
            if trace is not None and (entry is None or type(entry[1]) is not TracedDeadline):
                trace.lookup(key)  # an expired traced entry was recorded by its deadline
            if entry is not None and entry[1] <= self._clock():
                self._remove(key)
                self._stats.expirations += 1
            self._stats.misses += 1
        return default

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (the default TTL if None)."""
        expires_at = self._clock() + (self.default_ttl if ttl is None else check_ttl(ttl))
        with self._lock:
            if self._trace is not None:
                expires_at = self._trace.deadline(key, expires_at)
            if key in self._data:
                self._on_hit(key)
            else:
                if len(self._data) >= self.max_entries:
                    self._remove(self._policy.victim())
                    self._stats.evictions += 1
                self._policy.on_insert(key)
            self._data[key] = (value, expires_at)
            self._stats.sets += 1

    def delete(self, key: Hashable) -> bool:
        """Drop ``key``; True if it was present."""
        with self._lock:
            if key not in self._data:
                return False
            self._remove(key)
            return True

    def invalidate_prefix(self, prefix: str) -> int:
        """Drop every key in the ``prefix`` namespace; returns how many were dropped."""
        return self.invalidate_if(lambda key: _namespace(key).startswith(prefix))

    def invalidate_if(self, predicate: Callable[[Hashable], bool]) -> int:
        """Drop every key for which ``predicate(key)`` is true (a scan); returns how many."""
        with self._lock:
            doomed = [key for key in self._data if predicate(key)]
            for key in doomed:
                self._remove(key)
            return len(doomed)

    def purge_expired(self) -> int:
        """Drop every expired entry now; returns how many."""
        with self._lock:
            now = self._clock()
            doomed = [k for k, (_, expires_at) in self._data.items() if expires_at <= now]
            for key in doomed:
                self._remove(key)
            self._stats.expirations += len(doomed)
            return len(doomed)

    def clear(self) -> None:
        """Drop every entry (the counters stay; see ``reset_stats``)."""
        with self._lock:
            self._data.clear()
            self._policy.clear()

    def stats(self) -> dict[str, Any]:
        """Hits, misses, hit_rate, sets, evictions, expirations, size and max_size."""
        with self._lock:
            return self._stats.as_dict(size=len(self._data), max_size=self.max_entries)

    def reset_stats(self) -> None:
        with self._lock:
            if self._trace is not None:  # keep counting the trace's lookups across the reset
                self._trace.lookups = (self._trace.lookups or 0) - self._lookups()
            self._stats.reset()

    def _lookups(self) -> int:
        return self._stats.hits + self._stats.misses

    # -- access traces (perf.cache.trace) --------------------------------------------------

    def start_trace(self, rate: float = 0.01, *, limit: int = 1_000_000) -> KeyTrace:
        """Record the lookups of a ``rate`` sample of the keys (by hash) until ``stop_trace``.

        Costs nothing on the hit path of unsampled keys (see ``perf.cache.trace``). A trace
        already running is stopped and replaced.
        """
        trace = KeyTrace(rate, limit=limit)
        with self._lock:
            if self._trace is not None:
                self._stop_trace()
            trace.lookups = self._lookups()  # the count at the start; the difference at the stop
            trace.max_entries = self.max_entries
            for key, (value, expires_at) in list(self._data.items()):
                deadline = trace.deadline(key, expires_at)
                if deadline is not expires_at:
                    self._data[key] = (value, deadline)
            self._trace = trace
        return trace

    def stop_trace(self) -> KeyTrace | None:
        """End the running trace and return it (None if there was none); ``trace.lookups`` is
        then the number of lookups while it ran."""
        with self._lock:
            return self._stop_trace()

    @property
    def trace(self) -> KeyTrace | None:
        """The running trace, if any."""
        return self._trace

    def _stop_trace(self) -> KeyTrace | None:
        trace, self._trace = self._trace, None
        if trace is None:
            return None
        for key, (value, expires_at) in list(self._data.items()):
            if type(expires_at) is TracedDeadline:
                self._data[key] = (value, float(expires_at))
        trace.lookups = self._lookups() - (trace.lookups or 0)
        trace.ended_at = time.time()
        return trace

    def _remove(self, key: Hashable) -> None:
        del self._data[key]
        self._policy.on_remove(key)


def _namespace(key: Hashable) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, tuple) and key and isinstance(key[0], str):
        return key[0]
    return ""
