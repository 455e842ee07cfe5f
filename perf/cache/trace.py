"""Access traces at a bounded cost: a cache's lookups, spatially sampled by key hash (SHARDS).

``cache.start_trace(rate=0.01)`` makes a ``MemoryCache`` (or the memory tier of a
``TwoTierCache`` / ``CorrelationCache``, through ``start_trace(cache)``) record the lookups of
the keys whose hash falls under ``rate`` of the hash space (Waldspurger et al., FAST 2015):
every lookup of a sampled key and none of the others, so the sample keeps each sampled key's
whole reuse pattern and ``miss_ratio_curve(trace.keys, sizes, sample_rate=trace.rate,
lookups=trace.lookups)`` estimates the curve of the whole stream.

Cost: nothing when off (the hit path is the same closure). When on, a sampled key's expiry
time is stored as a ``TracedDeadline``: a float whose ``>`` also records the key, so the hit
path's own expiry check records it and unsampled keys pay nothing; a sampled hit pays one
Python call (~0.1 µs), so ``rate`` x that on average (measured in
``benchmarks/bench_policy.py``). Misses are recorded on the miss path, under the lock.

Key ids are Python's ``hash`` mixed by a multiplicative hash, so the sample is the same for
the same keys within a process (``str`` hashes differ between processes unless
``PYTHONHASHSEED`` is set); written traces renumber the keys 0, 1, ... in order of first
lookup, so no key leaves the process.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import random
import time
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "KeyTrace",
    "TracedDeadline",
    "start_trace",
    "stop_trace",
    "write_traces",
    "zipf_trace",
]

_MIX = 0x9E3779B97F4A7C15  # 2^64 / golden ratio: spreads small ints over the high bits
_MASK = (1 << 64) - 1
_SCALE = 1 << 24  # the sampling threshold's resolution: rates down to 6e-8


class KeyTrace:
    """The sampled lookups of one cache: ``keys`` (key ids in lookup order), ``rate``, and
    ``lookups``, the whole stream's length while recording (set by the cache at stop)."""

    def __init__(self, rate: float = 0.01, *, limit: int = 1_000_000) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"rate must be in (0, 1], got {rate!r}")
        self.rate = rate
        self.limit = limit
        self.keys: list[int] = []
        self.dropped = 0  # sampled lookups past ``limit``
        self.lookups: int | None = None
        self.max_entries: int | None = None
        self.started_at = time.time()
        self.ended_at: float | None = None
        self._threshold = round(rate * _SCALE)

    def key_id(self, key: Hashable) -> int | None:
        """The key's id if it is sampled, else None."""
        mixed = (hash(key) * _MIX) & _MASK
        return mixed if mixed >> 40 < self._threshold else None

    def record(self, key_id: int) -> None:
        if len(self.keys) < self.limit:
            self.keys.append(key_id)
        else:
            self.dropped += 1

    def lookup(self, key: Hashable) -> None:
        """Record a lookup of ``key`` if it is sampled (the miss path's call)."""
        key_id = self.key_id(key)
        if key_id is not None:
            self.record(key_id)

    def deadline(self, key: Hashable, expires_at: float) -> float:
        """What the cache stores as ``key``'s expiry: a ``TracedDeadline`` if sampled."""
        key_id = self.key_id(key)
        return expires_at if key_id is None else TracedDeadline(expires_at, self, key_id)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; key ids renumbered 0, 1, ... by first lookup."""
        dense: dict[int, int] = {}
        keys = [dense.setdefault(k, len(dense)) for k in self.keys]
        return {
            "rate": self.rate,
            "lookups": self.lookups,
            "max_entries": self.max_entries,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "sampled": len(keys),
            "dropped": self.dropped,
            "keys": keys,
        }


class TracedDeadline(float):
    """A sampled key's expiry time: compares as the float it is, and ``>`` (the hit path's
    ``deadline > now``) also records the key in its trace."""

    __slots__ = ("key_id", "trace")

    key_id: int
    trace: KeyTrace

    def __new__(cls, value: float, trace: KeyTrace, key_id: int) -> TracedDeadline:
        self = super().__new__(cls, value)
        self.trace, self.key_id = trace, key_id
        return self

    def __gt__(self, other: object) -> bool:
        self.trace.record(self.key_id)
        return float(self) > other  # type: ignore[operator]

    def __reduce__(self) -> tuple[type[float], tuple[float]]:
        return float, (float(self),)  # pickles (and copies) as the plain float


def start_trace(cache: object, rate: float = 0.01, *, limit: int = 1_000_000) -> KeyTrace:
    """Start a trace on ``cache``: a ``MemoryCache``, or the memory tier of a ``TwoTierCache``
    or ``CorrelationCache``, which sees every lookup; ``stop_trace(cache)`` ends it."""
    target = _memory_tier(cache)
    trace: KeyTrace = target.start_trace(rate, limit=limit)
    return trace


def stop_trace(cache: object) -> KeyTrace | None:
    """End the trace ``start_trace(cache)`` started and return it (None if none ran)."""
    trace: KeyTrace | None = _memory_tier(cache).stop_trace()
    return trace


def _memory_tier(cache: object) -> Any:
    cache = getattr(cache, "store", cache)  # CorrelationCache -> its TwoTierCache
    cache = getattr(cache, "memory", cache)  # TwoTierCache -> its MemoryCache
    if not hasattr(cache, "start_trace"):
        raise TypeError(f"{type(cache).__name__} has no memory tier to trace")
    return cache


def write_traces(path: str | Path, traces: Mapping[str, KeyTrace | None]) -> Path:
    """Write ``traces`` (cache name -> trace; None entries skipped) as a run folder's
    ``cache_traces.json`` (``perf.results.files.CACHE_TRACES``), atomically."""
    path = Path(path)
    data = {"caches": {name: t.as_dict() for name, t in traces.items() if t is not None}}
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    partial.replace(path)
    return path


def zipf_trace(keys: int, alpha: float, length: int, *, seed: int = 0) -> list[int]:
    """``length`` lookups of ``keys`` keys, key rank r drawn with weight 1 / r^alpha; ranks are
    shuffled over the key ids so popularity does not follow the ids."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) ** alpha for rank in range(keys)))
    ids = list(range(keys))
    rng.shuffle(ids)
    total = cumulative[-1]
    return [ids[bisect.bisect(cumulative, rng.random() * total)] for _ in range(length)]
