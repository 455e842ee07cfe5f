"""PerformanceMonitor: per-operation latency figures, cache statistics, snapshots that merge.

Durations come from ``clock`` (default ``time.perf_counter``); the recent window is cut into
slots on the same clock, so the hot path reads no second clock. ``wall_clock`` (default
``time.time``) is read only by ``snapshot``/``merge`` to place slots in wall time, so snapshots
from different processes line up. Inject both in tests; nothing here sleeps.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from perf._cache_reports import HitRate, live_cache_providers
from perf.errors import ConfigurationError
from perf.monitor.operation import OperationRecorder, parse_recorder_dict
from perf.monitor.sketch import DEFAULT_RELATIVE_ACCURACY, check_relative_accuracy

__all__ = ["SNAPSHOT_FORMAT", "PerformanceMonitor", "Tracking", "get_performance_monitor"]

SNAPSHOT_FORMAT = "perf.monitor/1"
CacheStatsProvider = Callable[[], Mapping[str, Any]]
GaugeProvider = Callable[[], Mapping[str, Any]]  # current levels, e.g. a pool's checked_out


class Tracking:
    """What ``monitor.track(name)`` returns: a ``with`` and ``async with`` timer for one call."""

    __slots__ = ("_clock", "_recorder", "_start")

    def __init__(self, recorder: OperationRecorder, clock: Callable[[], float]) -> None:
        self._recorder = recorder
        self._clock = clock
        self._start = 0.0

    def __enter__(self) -> Tracking:
        self._start = self._clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end = self._clock()
        if exc_type is None:
            self._recorder.add(end - self._start, end)
        else:
            self._recorder.add_error(end - self._start, end)

    async def __aenter__(self) -> Tracking:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class PerformanceMonitor:
    """Latency figures per named operation, plus the stats of registered caches.

    With ``live_caches=True`` (the process-wide monitor of ``get_performance_monitor()``),
    the caches that report themselves are listed too, with no ``register_cache``: every
    ``CorrelationCache`` (as ``correlation``, or its ``name``) and every cache a
    ``CacheManager`` makes, under its name, for as long as it lives. A name registered by
    hand wins over a live cache of the same name.

    Every ``hit_rate`` in ``cache_stats`` is a fraction in [0, 1] (compare it with 0.8, not
    80) whose text is the percentage: ``f"{rate}%"`` prints ``80.0%`` (see ``HitRate`` in
    ``perf._cache_reports``). A provider must give fractions too.

    The recent window is the last ``round(recent_window / slot_seconds)`` slots, the current
    one partly filled: it covers between ``recent_window - slot_seconds`` and ``recent_window``
    seconds.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.perf_counter,
        wall_clock: Callable[[], float] = time.time,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
        recent_window: float = 60.0,
        slot_seconds: float = 10.0,
        live_caches: bool = False,
    ) -> None:
        if not (
            _is_number(slot_seconds)
            and _is_number(recent_window)
            and 0 < slot_seconds <= recent_window < math.inf
        ):
            raise ConfigurationError(
                f"need finite recent_window >= slot_seconds > 0 (seconds), got "
                f"recent_window={recent_window!r}, slot_seconds={slot_seconds!r}; "
                "e.g. recent_window=60, slot_seconds=10"
            )
        self.clock = clock
        self.wall_clock = wall_clock
        self.relative_accuracy = check_relative_accuracy(relative_accuracy)
        self.slot_seconds = float(slot_seconds)
        self.window_slots = max(1, round(recent_window / slot_seconds))
        self._operations: dict[str, OperationRecorder] = {}
        self._caches: dict[str, CacheStatsProvider] = {}
        self._merged_caches: dict[str, dict[str, int]] = {}
        self._gauges: dict[str, GaugeProvider] = {}
        self._lock = threading.Lock()
        self.live_caches = live_caches

    # -- recording ----------------------------------------------------------------------------

    def operation(self, name: str) -> OperationRecorder:
        """The recorder for ``name``, created on first use (decorators bind it once).

        Memory is bounded per operation, so keep names few and fixed ("db.query", not one per
        request or id): every name keeps its own recorder for the life of the monitor.
        """
        if isinstance(name, str):
            recorder = self._operations.get(name)
            if recorder is not None:
                return recorder
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(
                f"operation name must be a non-empty string such as 'db.query', got {name!r}; "
                'as a decorator, call it: @track_performance("name")'
            )
        with self._lock:
            return self._operations.setdefault(
                name,
                OperationRecorder(
                    name, self.relative_accuracy, self.slot_seconds, self.window_slots
                ),
            )

    def record(self, name: str, seconds: float, error: bool = False) -> None:
        """Record one call of ``name`` that took ``seconds`` (and failed, if ``error``)."""
        if not (_is_number(seconds) and 0.0 <= seconds < math.inf):
            raise ConfigurationError(
                f"duration of {name!r} must be a finite number of seconds >= 0, got {seconds!r}"
            )
        recorder = self.operation(name)
        now = self.clock()
        if error:
            recorder.add_error(seconds, now)
        else:
            recorder.add(seconds, now)

    def track(self, name: str) -> Tracking:
        """Time a block: ``with monitor.track("db.query"):`` or ``async with ...``."""
        return Tracking(self.operation(name), self.clock)

    def reset(self) -> None:
        """Forget every recorded duration and merged cache figure (registrations stay)."""
        with self._lock:
            recorders = list(self._operations.values())
            self._merged_caches.clear()
        for recorder in recorders:
            recorder.clear()

    # -- caches -------------------------------------------------------------------------------

    def register_cache(self, name: str, stats_provider: CacheStatsProvider) -> None:
        """Report ``stats_provider()`` (a mapping with hits and misses) under ``name``."""
        _check_provider("cache name", name, stats_provider, "such as cache.stats")
        with self._lock:
            self._caches[name] = stats_provider  # re-registering a name replaces it

    def unregister_cache(self, name: str) -> None:
        with self._lock:
            self._caches.pop(name, None)

    def cache_stats(self) -> dict[str, dict[str, Any]]:
        """Each cache's stats with ``hits``, ``misses`` and ``hit_rate`` (merged ones added).

        A provider that raises does not break the rest: its entry carries ``error`` (the
        exception) and only merged figures. One that returns no hits/misses is a programming
        error and raises ConfigurationError.
        """
        providers: dict[str, CacheStatsProvider] = {}
        if self.live_caches:
            providers.update(live_cache_providers())
        with self._lock:
            providers.update(self._caches)
            merged = {name: dict(counts) for name, counts in self._merged_caches.items()}
        result: dict[str, dict[str, Any]] = {}
        for name in sorted(providers.keys() | merged.keys()):
            stats = _read_provider(name, providers[name]) if name in providers else {}
            extra = merged.get(name, {})
            hits = stats.get("hits", 0) + extra.get("hits", 0)
            misses = stats.get("misses", 0) + extra.get("misses", 0)
            rate = stats.get("hit_rate")
            if extra or not isinstance(rate, int | float) or isinstance(rate, bool):
                rate = hits / (hits + misses) if hits + misses else 0.0  # merged, or not given
            stats["hit_rate"] = HitRate(rate)
            stats.update(hits=hits, misses=misses)
            result[name] = stats
        return result

    # -- gauges -------------------------------------------------------------------------------

    def register_gauges(self, group: str, provider: GaugeProvider) -> None:
        """Report the numbers in ``provider()`` (current levels, e.g. a connection pool's
        size, checked_out, overflow, waits, timeouts) under ``group``."""
        _check_provider("gauge group", group, provider, "returning a mapping of numbers")
        with self._lock:
            self._gauges[group] = provider  # re-registering a group replaces it

    def gauges(self) -> dict[str, dict[str, Any]]:
        """Each group's numeric values (other values are left out); a provider that raises
        shows ``error`` instead of breaking the rest."""
        with self._lock:
            providers = sorted(self._gauges.items())
        result: dict[str, dict[str, Any]] = {}
        for group, provider in providers:
            try:
                raw = provider()
            except Exception as exc:  # one failing provider must not take the stats down
                result[group] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            result[group] = {
                key: value
                for key, value in raw.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            }
        return result

    # -- reading ------------------------------------------------------------------------------

    def get_stats(self) -> dict[str, Any]:
        """``{"operations": {name: {count, errors, ..., recent: {...}}}, "cache_stats": ...,
        "gauges": {group: {name: value}}}``."""
        now = self.clock()
        with self._lock:
            recorders = sorted(self._operations.items())
        operations: dict[str, Any] = {}
        for name, recorder in recorders:
            whole, recent = recorder.summaries(now)
            if whole.sketch.count:
                operations[name] = {**whole.stats(), "recent": recent.stats()}
        return {
            "operations": operations,
            "cache_stats": self.cache_stats(),
            "gauges": self.gauges(),
        }

    def histograms(self) -> dict[str, dict[str, Any]]:
        """Each operation's whole-run sketch as ``QuantileSketch.to_dict()``: cumulative bucket
        counts, so the distribution of any time window is the difference of two readings
        (``QuantileSketch.difference``)."""
        now = self.clock()
        with self._lock:
            recorders = sorted(self._operations.items())
        return {name: recorder.summaries(now)[0].sketch.to_dict() for name, recorder in recorders}

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state of this monitor; ``merge`` it into another (e.g. across workers)."""
        wall_offset = self.wall_clock() - self.clock()
        with self._lock:
            recorders = sorted(self._operations.items())
        return {
            "format": SNAPSHOT_FORMAT,
            "relative_accuracy": self.relative_accuracy,
            "slot_seconds": self.slot_seconds,
            "operations": {name: r.to_dict(wall_offset) for name, r in recorders},
            "cache_stats": {
                name: {"hits": s["hits"], "misses": s["misses"]}
                for name, s in self.cache_stats().items()
            },
        }

    def merge(self, snapshot: Mapping[str, Any]) -> None:
        """Add another monitor's ``snapshot()`` into this one: all of it, or nothing."""
        self._check_compatible(snapshot)
        now = self.clock()
        wall_offset = self.wall_clock() - now
        try:  # read everything first, so a damaged snapshot changes nothing
            operations = [
                (name, parse_recorder_dict(data, wall_offset, self.slot_seconds))
                for name, data in snapshot["operations"].items()
            ]
            caches = [
                (str(name), int(counts["hits"]), int(counts["misses"]))
                for name, counts in snapshot["cache_stats"].items()
            ]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigurationError(
                f"damaged monitor snapshot ({exc}); pass PerformanceMonitor.snapshot() output"
            ) from exc
        for name, (retired, slots) in operations:
            self.operation(name).merge_parsed(retired, slots, now)
        with self._lock:
            for name, hits, misses in caches:
                into = self._merged_caches.setdefault(name, {"hits": 0, "misses": 0})
                into["hits"] += hits
                into["misses"] += misses

    def _check_compatible(self, snapshot: Mapping[str, Any]) -> None:
        if not isinstance(snapshot, Mapping) or snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ConfigurationError(
                f"not a monitor snapshot (format {SNAPSHOT_FORMAT!r} expected); "
                "pass the dict returned by PerformanceMonitor.snapshot()"
            )
        theirs = (snapshot.get("relative_accuracy"), snapshot.get("slot_seconds"))
        if theirs != (self.relative_accuracy, self.slot_seconds):
            raise ConfigurationError(
                f"snapshot has relative_accuracy, slot_seconds = {theirs}, this monitor "
                f"{(self.relative_accuracy, self.slot_seconds)}; configure both monitors alike"
            )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_provider(kind: str, name: object, provider: object, expected: str) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{kind} must be a non-empty string, got {name!r}")
    if not callable(provider):
        raise ConfigurationError(
            f"the provider for {kind} {name!r} must be a zero-argument callable {expected}, "
            f"got {provider!r}"
        )


def _read_provider(name: str, provider: CacheStatsProvider) -> dict[str, Any]:
    try:
        raw = provider()
    except Exception as exc:  # one failing cache must not take the stats down
        return {"error": f"{type(exc).__name__}: {exc}"}
    if not isinstance(raw, Mapping) or "hits" not in raw or "misses" not in raw:
        raise ConfigurationError(
            f"stats provider of cache {name!r} returned {raw!r}; it must return a mapping "
            "with at least 'hits' and 'misses'"
        )
    return dict(raw)


_default_monitor: PerformanceMonitor | None = None
_default_lock = threading.Lock()


def get_performance_monitor() -> PerformanceMonitor:
    """The process-wide monitor (created on first call); tests can build their own.

    It lists the live caches unasked (``live_caches=True``), as the guide reads
    ``get_stats()["cache_stats"]["correlation"]`` without registering anything.
    """
    global _default_monitor  # noqa: PLW0603 - one process-wide instance by design
    if _default_monitor is None:
        with _default_lock:
            if _default_monitor is None:
                _default_monitor = PerformanceMonitor(live_caches=True)
    return _default_monitor
