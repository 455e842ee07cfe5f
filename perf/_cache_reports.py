"""What the caches and the monitor share, so that neither imports the other.

``perf.cache`` and ``perf.monitor`` are peers: a cache announces itself here with
``report_cache(name, cache)`` and the process-wide monitor (``get_performance_monitor()``)
reads ``live_cache_providers()``. That is how the guide's

    cache = CorrelationCache(cache_db_path="cache.db")
    ...
    get_performance_monitor().get_stats()["cache_stats"]["correlation"]["hit_rate"]

works with no registration by hand. Only weak references are kept: a cache nobody holds any
more drops out of the stats. Standard library only, as ``import perf`` must stay light.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["HitRate", "StatsSource", "live_cache_providers", "report_cache"]


class HitRate(float):
    """A hit rate, hits / lookups: a fraction in [0, 1] wherever it is used as a number.

    Comparisons, arithmetic, ``repr``, JSON (``json.dumps`` writes ``0.8``), Prometheus and
    the report's targets (``> 0.80``) all see the fraction. Its text, ``str(rate)`` or
    ``f"{rate}"``, is the same figure in percent, one decimal (``"80.0"``), so the guide's
    ``print(f"Cache hit rate: {rate}%")`` prints ``Cache hit rate: 80.0%``, which is true.
    An explicit format spec formats the fraction as a float does: ``f"{rate:.1%}"`` gives
    ``"80.0%"``, ``f"{rate:.2f}"`` gives ``"0.80"``.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return f"{float(self) * 100:.1f}"

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else format(float(self), spec)

    def __repr__(self) -> str:
        return float.__repr__(self)


def as_hit_rate(hits: int, misses: int) -> HitRate:
    """Hits over lookups; 0.0 before the first lookup."""
    lookups = hits + misses
    return HitRate(hits / lookups if lookups else 0.0)


class StatsSource(Protocol):
    """A cache as seen here: anything with ``stats()`` returning at least hits and misses."""

    def stats(self) -> Mapping[str, Any]: ...


_lock = threading.Lock()
_live: dict[str, weakref.WeakSet[Any]] = {}


def report_cache(name: str, cache: StatsSource) -> None:
    """Report ``cache.stats()`` to the process-wide monitor under ``name`` while it lives.

    Reporting the same cache twice (e.g. a CorrelationCache over a manager's cache) counts it
    once. Several live caches under one name are summed (see ``live_cache_providers``).
    """
    with _lock:
        _live.setdefault(name, weakref.WeakSet()).add(cache)


def live_cache_providers() -> dict[str, Callable[[], dict[str, Any]]]:
    """A stats provider for each name with at least one live cache.

    One cache under a name: its own ``stats()``. Several: the sum of each integer figure
    (hits, misses, sets, errors, ...), ``hit_rate`` over the sums and ``instances``, the
    number of caches summed; per-tier rates and nested figures are left out, as they do not
    add up.
    """
    with _lock:
        groups = {name: list(caches) for name, caches in _live.items()}
    return {name: _provider(caches) for name, caches in sorted(groups.items()) if caches}


def _provider(caches: list[Any]) -> Callable[[], dict[str, Any]]:
    refs = [weakref.ref(cache) for cache in caches]  # the provider must not keep them alive

    def stats() -> dict[str, Any]:
        alive = [cache for cache in (ref() for ref in refs) if cache is not None]
        if len(alive) == 1:
            return dict(alive[0].stats())
        total: dict[str, Any] = {"hits": 0, "misses": 0}
        for cache in alive:
            for key, value in cache.stats().items():
                if isinstance(value, int) and not isinstance(value, bool):
                    total[key] = total.get(key, 0) + value
        total["hit_rate"] = as_hit_rate(total["hits"], total["misses"])
        total["instances"] = len(alive)
        return total

    return stats
