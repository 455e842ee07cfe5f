"""A load run's figures per time window, from ``monitor_history.jsonl``'s cumulative readings.

Two consecutive readings bound a window: a cache's hits and misses in it are differences of
counters, an operation's durations in it the difference of two cumulative sketches. Any span
``[t0, t1)`` between readings works the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perf.monitor.sketch import QuantileSketch

__all__ = [
    "CacheWindow",
    "cache_windows",
    "operation_between",
    "operation_names",
    "operation_windows",
]

Reading = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CacheWindow:
    start: float  # Unix seconds
    end: float
    hits: int
    lookups: int

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.lookups if self.lookups else None


def _counts(reading: Reading, cache: str) -> tuple[int, int]:
    stats = reading.get("cache_stats", {}).get(cache) or {}
    return int(stats.get("hits", 0)), int(stats.get("misses", 0))


def cache_windows(history: Sequence[Reading], cache: str) -> list[CacheWindow]:
    """One window per pair of consecutive readings: the lookups of ``cache`` in it."""
    windows = []
    for before, after in itertools.pairwise(history):
        (h0, m0), (h1, m1) = _counts(before, cache), _counts(after, cache)
        if h1 < h0 or m1 < m0:  # counters went back: the service was reset in between
            continue
        windows.append(
            CacheWindow(float(before["t"]), float(after["t"]), h1 - h0, (h1 + m1) - (h0 + m0))
        )
    return windows


def _sketch(reading: Reading, operation: str) -> QuantileSketch | None:
    data = reading.get("histograms", {}).get(operation)
    return None if data is None else QuantileSketch.from_dict(data)


def operation_between(
    history: Sequence[Reading], operation: str, first: int, last: int
) -> QuantileSketch | None:
    """The durations of ``operation`` between readings ``first`` and ``last`` (indices):
    ``None`` when the operation was never recorded by ``last``."""
    later = _sketch(history[last], operation)
    if later is None:
        return None
    earlier = _sketch(history[first], operation)
    if earlier is None:  # not yet recorded at ``first``: everything ``last`` holds is new
        return later
    return QuantileSketch.difference(later, earlier)


def operation_windows(
    history: Sequence[Reading], operation: str
) -> list[tuple[int, QuantileSketch]]:
    """``(index of the window's first reading, durations in it)`` for every window in which
    ``operation`` ran at least once."""
    windows = []
    for index in range(len(history) - 1):
        sketch = operation_between(history, operation, index, index + 1)
        if sketch is not None and sketch.count:
            windows.append((index, sketch))
    return windows


def operation_names(history: Sequence[Reading]) -> list[str]:
    """Every operation the last reading has a histogram for."""
    return sorted(history[-1].get("histograms", {})) if history else []
