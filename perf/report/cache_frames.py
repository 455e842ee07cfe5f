"""The hit-rate report's figures: each cache's hit rate per 5 s window and cumulative, the warm-up
the MSER-5 rule cuts, the steady-state value with its interval against the target, and the
cold-miss ceiling at the level each cache is keyed on.

A cache cannot hit a key the first time it sees it: with a share ``s`` of first-time keys, the
hit rate is at most ``1 - s``. That ceiling depends on what the cache is keyed on: the
correlation cache on entity pairs, the entity-context and enrichment (``memory``) caches on
single entities, the LLM response cache on the query text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from perf.errors import MissingRunFileError
from perf.report.checks import HIT_RATE_SUFFIX, hit_rate_steady
from perf.report.intervals import decide
from perf.report.windows import cache_windows
from perf.results.files import BENCHMARKS, REQUEST_LOG
from perf.results.readers import (
    RunPath,
    read_benchmarks,
    read_monitor,
    read_monitor_history,
    read_requests,
)

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "KEY_LEVELS",
    "cache_names",
    "cold_miss_ceilings",
    "duplicate_caches",
    "hit_rate_summary",
    "hit_rates_over_time",
    "worker_hit_rates",
]

# what each of the reference service's caches is keyed on, and where that level's share of
# first-time keys is measured: (level, benchmarks.json extra_info key or None for the log)
KEY_LEVELS: dict[str, tuple[str, str | None]] = {
    "correlation": ("entity pair", "pair_cold_miss_share"),
    "entity_context": ("entity", "entity_cold_miss_share"),
    "memory": ("entity", "entity_cold_miss_share"),
    "llm_response": ("query text", None),
}
COLD_BENCHMARK = "bench_start[cold]"  # benchmarks/bench_service.py: counts keys per level


def _pandas() -> Any:
    import pandas  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415 - ~0.5 s

    return pandas


def cache_names(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every cache that saw at least one lookup by the last reading."""
    last = history[-1].get("cache_stats", {}) if history else {}
    return sorted(n for n, s in last.items() if int(s.get("hits", 0)) + int(s.get("misses", 0)))


def duplicate_caches(history: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``{cache: the cache it duplicates}`` for caches whose hits and misses equal another's at
    every reading (one cache reported under two names; shown and judged once each, but said)."""

    def trace(name: str) -> tuple[tuple[int, int], ...]:
        return tuple(
            (int((r.get("cache_stats", {}).get(name) or {}).get("hits", 0)),
             int((r.get("cache_stats", {}).get(name) or {}).get("misses", 0)))
            for r in history
        )  # fmt: skip

    seen: dict[tuple[tuple[int, int], ...], str] = {}
    same = {}
    for name in cache_names(history):
        key = trace(name)
        if key in seen:
            same[name] = seen[key]
        else:
            seen[key] = name
    return same


def hit_rates_over_time(run: RunPath) -> DataFrame:
    """Per cache and window (seconds since the first reading): lookups, hits, the window's hit
    rate and the cumulative hit rate up to the window's end."""
    pd = _pandas()
    history = read_monitor_history(run)
    columns = ["cache", "start_s", "end_s", "lookups", "hits", "window_hit_rate",
               "cumulative_hit_rate"]  # fmt: skip
    rows = []
    if len(history) >= 2:
        t0 = float(history[0]["t"])
        for cache in cache_names(history):
            hits = lookups = 0
            for w in cache_windows(history, cache):
                hits, lookups = hits + w.hits, lookups + w.lookups
                rows.append(
                    {"cache": cache, "start_s": w.start - t0, "end_s": w.end - t0,
                     "lookups": w.lookups, "hits": w.hits, "window_hit_rate": w.hit_rate,
                     "cumulative_hit_rate": hits / lookups if lookups else None}
                )  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def hit_rate_summary(run: RunPath, targets: Mapping[str, float]) -> DataFrame:
    """Per cache: its target (``None`` without one), the warm-up cut (s), the steady-state hit
    rate with its 95 % interval, the warm-up's and the whole run's, the verdict, and the cache
    it duplicates (if any)."""
    pd = _pandas()
    history = read_monitor_history(run)
    same = duplicate_caches(history)
    rows = []
    for cache in cache_names(history) if len(history) >= 2 else []:
        steady = hit_rate_steady(history, cache)
        if steady is None:
            continue
        target = targets.get(f"{cache}{HIT_RATE_SUFFIX}")
        iv = steady.interval
        verdict = decide(iv, ">", target) if target is not None else None
        if verdict == "fail" and not steady.truncation.settled:
            verdict = "inconclusive"  # as the gate: still warming up when the run ended
        rows.append(
            {"cache": cache, "target": target, "warmup_s": steady.warmup_seconds,
             "steady": iv.estimate, "low": iv.low, "high": iv.high, "windows": iv.n,
             "warmup": steady.warmup, "whole_run": steady.whole, "verdict": verdict,
             "same_as": same.get(cache)}
        )  # fmt: skip
    columns = ["cache", "target", "warmup_s", "steady", "low", "high", "windows", "warmup",
               "whole_run", "verdict", "same_as"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def worker_hit_rates(run: RunPath) -> DataFrame:
    """Per cache and service worker (``perf load --service-workers N``): its own hits, misses
    and hit rate over the whole run, from ``monitor.json`` (``cache_stats[name]["workers"]``),
    after a row for all workers together. Empty for a single-worker run or without the file."""
    pd = _pandas()
    try:
        caches = read_monitor(run).get("cache_stats", {})
    except MissingRunFileError:
        caches = {}
    rows = []
    for cache, stats in sorted(caches.items()):
        workers = stats.get("workers") or {}
        if len(workers) < 2:
            continue
        for worker, counts in [("all", stats), *sorted(workers.items())]:
            hits, misses = int(counts.get("hits", 0)), int(counts.get("misses", 0))
            rows.append(
                {"cache": cache, "worker": worker, "hits": hits, "misses": misses,
                 "lookups": hits + misses,
                 "hit_rate": hits / (hits + misses) if hits + misses else None}
            )  # fmt: skip
    columns = ["cache", "worker", "hits", "misses", "lookups", "hit_rate"]
    return pd.DataFrame(rows, columns=columns)


def _benchmark_cold_shares(run: RunPath) -> dict[str, float]:
    try:
        entries = read_benchmarks(run)
    except MissingRunFileError:
        return {}
    for entry in entries:
        if entry.get("name") == COLD_BENCHMARK:
            info = entry.get("extra_info") or {}
            return {k: float(v) for k, v in info.items() if k.endswith("_cold_miss_share")}
    return {}


def _query_cold_share(run: RunPath) -> float | None:
    try:
        flags = [r.new_query for r in read_requests(run) if r.new_query is not None]
    except MissingRunFileError:
        return None
    return sum(flags) / len(flags) if flags else None


def cold_miss_ceilings(run: RunPath, caches: Sequence[str] | None = None) -> DataFrame:
    """Per cache: the level it is keyed on, the share of first-time keys at that level, the
    ceiling ``1 - share`` and where the share was measured (``requests.jsonl`` for query
    texts; the ``bench_start[cold]`` benchmark for entities and pairs)."""
    pd = _pandas()
    shares = _benchmark_cold_shares(run)
    query_share = _query_cold_share(run)
    rows = []
    for cache in caches if caches is not None else sorted(KEY_LEVELS):
        level, key = KEY_LEVELS.get(cache, ("unknown", None))
        if key is None:
            share, source = (query_share, REQUEST_LOG) if level == "query text" else (None, "")
        else:
            share, source = shares.get(key), f"{BENCHMARKS} {COLD_BENCHMARK}"
        rows.append(
            {"cache": cache, "keyed_on": level, "cold_share": share,
             "ceiling": None if share is None else 1 - share,
             "source": source if share is not None else ""}
        )  # fmt: skip
    columns = ["cache", "keyed_on", "cold_share", "ceiling", "source"]
    return pd.DataFrame(rows, columns=columns)
