"""Cache sizing: per cache of a run, hit rate against size and policy, and the size that meets
its target, or why none can.

From the run's ``cache_traces.json`` (sampled key traces, ``perf.cache.trace``) and the
documented targets (``<cache>_cache_hit_rate``), ``cache_sizing(run, targets)`` gives one
``CacheSizing`` per traced cache: the miss-ratio curve of each policy over a grid of sizes
(``perf.cache.miss_ratio_curve``, with the cold-miss floor and Belády's bound), the current
size, the smallest size that meets the target under each policy, and what that size costs in
memory. When the target asks for more hits than there are repeat lookups, the answer is "no
size can: X % of lookups are first-time" (for a cache filled on demand: one that prefetches
can beat that floor). A run without traces gives no rows and
``NO_TRACES`` says why. TTLs are not modelled (see ``perf.cache.mrc``).

A run of a service with several workers has one trace per worker per cache (each worker has
its own memory caches: ``perf.results.cache_traces``): sizes are then per worker, each
worker's curve is computed from its own trace, and the curves are averaged weighted by each
worker's lookups; the memory a size costs is per worker, times ``workers`` in all.
"""

from __future__ import annotations

import functools
import math
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf.cache.memory import MemoryCache
from perf.cache.mrc import POLICIES, MissRatioCurve, miss_ratio_curve
from perf.errors import MissingRunFileError
from perf.report.checks import HIT_RATE_SUFFIX
from perf.results.files import CACHE_TRACES, PRODUCERS
from perf.results.readers import RunPath, read_cache_traces
from perf.results.targets import find_pyproject, load_targets

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "MIN_SAMPLED_KEYS",
    "NO_TRACES",
    "CacheSizing",
    "cache_sizing",
    "entry_overhead_bytes",
    "size_grid",
    "sizing_curves_frame",
    "sizing_frame",
]

NO_TRACES = (
    f"no traces in this run ({CACHE_TRACES} is written by `{PRODUCERS[CACHE_TRACES]}`, "
    "the default, and not by a run with --host or --trace-rate 0): nothing to size"
)
DEFAULT_POLICIES = ("lru", "sieve")
# Fewer distinct keys than this in a sampled trace: a few keys' luck decides the curve (on the
# service's caches, 8-46 keys at rate 0.05 put sizes off by up to 80x against rate 1).
MIN_SAMPLED_KEYS = 100


@dataclass(frozen=True, slots=True)
class CacheSizing:
    cache: str
    target: float | None  # the hit rate to reach (None: no documented target)
    current_size: int | None  # the cache's max_entries while traced
    lookups: int  # in the whole stream while traced
    sampled: int  # lookups in the trace
    sample_rate: float
    curves: dict[str, MissRatioCurve] = field(default_factory=dict)
    smallest: dict[str, int | None] = field(default_factory=dict)  # per policy
    bytes_per_entry: dict[str, int] = field(default_factory=dict)  # cache structures only
    workers: int = 1  # service workers, each with its own cache of the size (per_worker)
    sampled_keys: int = 0  # distinct keys in the trace(s)

    @property
    def cold_miss_ratio(self) -> float:
        return next(iter(self.curves.values())).cold_miss_ratio

    @property
    def verdict(self) -> str:
        """What size meets the target, per policy, or why none can; flagged when the sample
        is too small to say."""
        if self.sample_rate < 1.0 and self.sampled_keys < MIN_SAMPLED_KEYS:
            return (
                f"{self._verdict()} (rough: only {self.sampled_keys} sampled keys at rate "
                f"{self.sample_rate:g}; a higher trace rate or a longer run makes it firm)"
            )
        return self._verdict()

    def _verdict(self) -> str:
        if self.target is None:
            return "no documented target"
        if self.target > 1.0 - self.cold_miss_ratio:
            return (
                f"no size can: {self.cold_miss_ratio:.1%} of lookups are first-time "
                f"(at most {1.0 - self.cold_miss_ratio:.1%} can hit, target {self.target:.0%})"
            )
        each = f" per worker, {self.workers} workers" if self.workers > 1 else ""
        found = [
            f"{policy.upper()} {size:,} entries ({self.memory_bytes(policy, size) / 1e6:.2f} MB"
            f"{each})"
            for policy, size in self.smallest.items()
            if size is not None
        ]
        if not found:
            return f"no size up to {max(next(iter(self.curves.values())).sizes):,} entries"
        return "meets the target at " + "; ".join(found)

    def memory_bytes(self, policy: str, size: int) -> int:
        """The cache's own structures at ``size`` entries (keys and values not included)."""
        return size * self.bytes_per_entry.get(policy, 0)


def size_grid(current: int | None, distinct: int, per_decade: int = 8) -> list[int]:
    """Sizes from 1 % of the distinct keys to all of them or the current size, whichever is
    larger (and the current size itself), ``per_decade`` a factor of ten, spaced
    geometrically: a curve's interesting part spans orders of magnitude, and a cache sized far
    above its keys still gets the small sizes that would do."""
    top = max(distinct, current or 0, 1)
    low = max(1, min(distinct, top) // 100)
    points = max(2, math.ceil(per_decade * math.log10(top / low)) + 1)
    ratio = (top / low) ** (1 / (points - 1))
    sizes = {round(low * ratio**i) for i in range(points)} | {top}
    if current:
        sizes.add(current)
    return sorted(s for s in sizes if s >= 1)


@functools.cache
def entry_overhead_bytes(policy: str = "lru", entries: int = 20_000) -> int:
    """Measured bytes per entry of a ``MemoryCache`` with ``policy``: its dict, entry tuples,
    expiry floats and the policy's own structures, for small int keys and a shared value."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache = MemoryCache(entries, policy=POLICIES[policy])
        value = object()
        for key in range(entries):
            cache.set(key, value)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del cache
    return round(used / entries)


def _targets(targets: RunPath | Mapping[str, float] | None) -> Mapping[str, float]:
    if isinstance(targets, Mapping):
        return targets
    if targets is None:
        targets = find_pyproject(Path.cwd().resolve())
        if targets is None:
            return {}
    return load_targets(Path(targets))


def cache_sizing(
    run: RunPath,
    targets: RunPath | Mapping[str, float] | None = None,
    *,
    policies: Sequence[str] = DEFAULT_POLICIES,
    sizes: Sequence[int] | None = None,
) -> list[CacheSizing]:
    """One ``CacheSizing`` per traced cache of ``run`` (none if the run has no traces)."""
    try:
        traces = read_cache_traces(run)
    except MissingRunFileError:
        return []
    goals = _targets(targets)
    out = []
    for name, trace in sorted(traces.items()):
        workers: list[dict[str, Any]] = trace.get("per_worker") or [trace]
        parts = [part for part in workers if part["keys"]]
        if not parts:
            continue
        rate = float(trace["rate"])
        current = trace.get("max_entries")
        sampled = sum(len(part["keys"]) for part in parts)
        sampled_keys = sum(len(set(part["keys"])) for part in parts)
        distinct = max(round(len(set(part["keys"])) / rate) for part in parts)
        grid = list(sizes) if sizes else size_grid(current, distinct)
        curves = {
            policy: _service_curve(parts, grid, policy, rate, optimal=index == 0)
            for index, policy in enumerate(policies)
        }
        target = goals.get(f"{name}{HIT_RATE_SUFFIX}")
        smallest = {
            p: (c.smallest_size(target) if target is not None else None) for p, c in curves.items()
        }
        out.append(
            CacheSizing(
                name, target, current, int(trace.get("lookups") or sampled), sampled, rate,
                curves, smallest, {p: entry_overhead_bytes(p) for p in policies}, len(workers),
                sampled_keys,
            )
        )  # fmt: skip
    return out


def _service_curve(
    parts: Sequence[Mapping[str, Any]], sizes: Sequence[int], policy: str, rate: float,
    *, optimal: bool,
) -> MissRatioCurve:  # fmt: skip
    """One policy's curve over the workers' traces (one trace: its curve): each worker's cache
    sees its own lookups, so at a size per worker the service misses the workers' miss ratios
    weighted by their lookups."""
    curves = [
        miss_ratio_curve(
            part["keys"], sizes, policy, sample_rate=rate, lookups=part.get("lookups"),
            optimal=optimal,
        )
        for part in parts
    ]  # fmt: skip
    if len(curves) == 1:
        return curves[0]
    weights = [float(part.get("lookups") or len(part["keys"]) / rate) for part in parts]

    def mean(rows: Sequence[Sequence[float]]) -> tuple[float, ...]:
        return tuple(
            sum(w * v for w, v in zip(weights, column, strict=True)) / sum(weights)
            for column in zip(*rows, strict=True)
        )

    bounds = [c.optimal for c in curves if c.optimal is not None]
    return MissRatioCurve(
        curves[0].policy, curves[0].sizes, mean([c.miss_ratios for c in curves]),
        mean([[c.cold_miss_ratio] for c in curves])[0],
        mean(bounds) if len(bounds) == len(curves) else None,
        sum(c.accesses for c in curves), sum(c.distinct for c in curves), rate,
    )  # fmt: skip


def _pandas() -> Any:
    import pandas  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415 - heavy

    return pandas


def sizing_frame(sizings: Sequence[CacheSizing]) -> DataFrame:
    """One row per cache: target, current size and its hit rate, the cold-miss share, the
    smallest size meeting the target per policy and its memory, and the verdict."""
    pd = _pandas()
    rows = []
    for s in sizings:
        row: dict[str, Any] = {
            "cache": s.cache,
            "target": s.target,
            "current_size": s.current_size,
            "workers": s.workers,
            "lookups": s.lookups,
            "sample_rate": s.sample_rate,
            "sampled_keys": s.sampled_keys,
            "first_time_share": s.cold_miss_ratio,
        }
        for policy, curve in s.curves.items():
            if s.current_size in curve.sizes:
                row[f"{policy}_hit_rate_now"] = curve.hit_rates[curve.sizes.index(s.current_size)]
            size = s.smallest[policy]
            row[f"{policy}_size_for_target"] = size
            row[f"{policy}_bytes"] = None if size is None else s.memory_bytes(policy, size)
        row["verdict"] = s.verdict
        rows.append(row)
    return pd.DataFrame(rows)


def sizing_curves_frame(sizing: CacheSizing) -> DataFrame:
    """The curves of one cache as rows (size, policy, hit_rate), with ``optimal`` (Belády) and
    ``max_hit_rate`` (every lookup but the first of each key) as policies too."""
    pd = _pandas()
    rows = []
    for policy, curve in sizing.curves.items():
        rows += [
            {"size": size, "policy": policy, "hit_rate": rate}
            for size, rate in zip(curve.sizes, curve.hit_rates, strict=True)
        ]
        if curve.optimal is not None:
            rows += [
                {"size": size, "policy": "optimal (Belády)", "hit_rate": 1.0 - miss}
                for size, miss in zip(curve.sizes, curve.optimal, strict=True)
            ]
    any_curve = next(iter(sizing.curves.values()))
    rows += [
        {"size": size, "policy": "no size beats (first-time lookups)", "hit_rate": 1.0 - m}
        for size, m in ((s, any_curve.cold_miss_ratio) for s in any_curve.sizes)
    ]
    return pd.DataFrame(rows)
