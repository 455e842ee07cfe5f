"""The latency report's figures: the percentile spectrum per endpoint (exact, Locust-rounded,
coordinated-omission-corrected), P50/P95/P99 and throughput over time with the users, and the
database operations in steady state against their warm-up.

Two sources: our own request log (``requests.jsonl``: exact, with send times) or, for any plain
Locust run, Locust's own ``locust.json`` and ``locust_stats_history.csv`` (rounded, no send
order). ``latency_source`` says which one a run has; every frame here works on both.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf.report.checks import DB_PREFIX, operation_steady
from perf.results import manifest
from perf.results.files import LOCUST_HISTORY, LOCUST_JSON, MONITOR_HISTORY, REQUEST_LOG
from perf.results.locust import (
    AGGREGATED,
    expand_histogram,
    locust_bucket,
    read_locust_endpoints,
    read_locust_history,
)
from perf.results.readers import RunPath, read_manifest, read_monitor_history, read_requests
from perf.results.requests_log import backfill_latencies, percentile

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "CO_CORRECTED",
    "EXACT",
    "ROUNDED",
    "db_steady_vs_warmup",
    "endpoint_table",
    "latency_source",
    "latency_spectrum",
    "load_over_time",
    "spectrum_points",
]

EXACT, ROUNDED, CO_CORRECTED = "exact", "Locust-rounded", "CO-corrected"


def _pandas() -> Any:
    import pandas  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415 - ~0.5 s

    return pandas


def latency_source(run: RunPath) -> str:
    """``requests.jsonl`` (exact) when the run has it, else ``locust.json`` (rounded)."""
    folder = Path(run)
    if (folder / REQUEST_LOG).is_file():
        return REQUEST_LOG
    if (folder / LOCUST_JSON).is_file():
        return LOCUST_JSON
    raise FileNotFoundError(
        f"{folder} has neither {REQUEST_LOG} (perf load) nor {LOCUST_JSON} (locust --json-file)"
    )


def spectrum_points(n: int, per_decade: int = 20) -> list[float]:
    """Percentiles for a spectrum of ``n`` samples: ``p = 1 - 10**-x`` from the median up,
    ``per_decade`` per factor of ten in ``1 / (1 - p)``, up to the last one ``n`` samples
    resolve (``1 - 1/n``)."""
    if n < 2:
        return [0.5] if n else []
    top = math.log10(n)
    steps = int(top * per_decade)
    xs = [math.log10(2) + (top - math.log10(2)) * i / steps for i in range(steps + 1)]
    return [1 - 10**-x for x in xs if x <= top]


def _expected_interval(run: RunPath) -> float | None:
    try:
        return manifest.expected_interval_ms(manifest.workload(read_manifest(run)))
    except FileNotFoundError:
        return None


def _series(run: RunPath) -> dict[tuple[str, str], list[float]]:
    """``{(endpoint, kind): latencies}`` for every curve the run can draw."""
    folder = Path(run)
    curves: dict[tuple[str, str], list[float]] = {}
    locust = {}
    if (folder / LOCUST_JSON).is_file():
        locust = {e.name: e for e in read_locust_endpoints(folder / LOCUST_JSON)}
        locust.pop(AGGREGATED, None)
    if latency_source(run) == REQUEST_LOG:
        interval = _expected_interval(run)
        by_name: dict[str, list[Any]] = defaultdict(list)
        for r in read_requests(run):
            by_name[r.name].append(r)
        for name, rows in sorted(by_name.items()):
            exact = [r.latency_ms for r in rows]
            corrected = [r.latency_from_intended_ms for r in rows]
            if interval:
                corrected = backfill_latencies(corrected, interval)
            rounded = (
                expand_histogram(locust[name].histogram)
                if name in locust and locust[name].histogram
                else [locust_bucket(v) for v in exact]
            )
            curves[(name, EXACT)] = exact
            curves[(name, ROUNDED)] = rounded
            curves[(name, CO_CORRECTED)] = corrected
    else:
        for name, endpoint in sorted(locust.items()):
            if endpoint.histogram:
                curves[(name, ROUNDED)] = expand_histogram(endpoint.histogram)
    return curves


def latency_spectrum(run: RunPath) -> DataFrame:
    """Per endpoint and kind (``exact``, ``Locust-rounded``, ``CO-corrected``): latency (ms)
    at each percentile of ``spectrum_points``, with ``one_over`` = 1 / (1 - p) for the x axis
    and ``n`` samples."""
    pd = _pandas()
    rows = []
    for (name, kind), values in _series(run).items():
        ordered = sorted(values)
        n = len(ordered)
        for p in spectrum_points(n):
            rank = max(1, math.ceil(p * n))
            rows.append({"endpoint": name, "kind": kind, "percentile": p,
                         "one_over": 1 / (1 - p), "latency_ms": ordered[rank - 1],
                         "n": n})  # fmt: skip
    columns = ["endpoint", "kind", "percentile", "one_over", "latency_ms", "n"]
    return pd.DataFrame(rows, columns=columns)


def endpoint_table(run: RunPath) -> DataFrame:
    """Per endpoint: requests, failures, P50/P95/P99 and max (ms) of each kind the run has."""
    pd = _pandas()
    failures: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    if latency_source(run) == REQUEST_LOG:
        for r in read_requests(run):
            counts[r.name] += 1
            failures[r.name] += not r.ok
    else:
        for e in read_locust_endpoints(Path(run) / LOCUST_JSON):
            counts[e.name], failures[e.name] = e.count, e.failures
    rows = []
    for (name, kind), values in _series(run).items():
        rows.append(
            {"endpoint": name, "kind": kind, "requests": counts[name],
             "failures": failures[name], "p50_ms": percentile(values, 0.5),
             "p95_ms": percentile(values, 0.95), "p99_ms": percentile(values, 0.99),
             "max_ms": max(values)}
        )  # fmt: skip
    columns = ["endpoint", "kind", "requests", "failures", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
    return pd.DataFrame(rows, columns=columns)


def _users_by_second(run: RunPath) -> dict[int, int]:
    path = Path(run) / LOCUST_HISTORY
    if not path.is_file():
        return {}
    return {int(r.timestamp): r.users for r in read_locust_history(path) if r.name == AGGREGATED}


def load_over_time(run: RunPath, bucket_seconds: float = 5.0) -> DataFrame:
    """Per time bucket (seconds since the first request) and endpoint: requests per second,
    P50/P95/P99 (ms) and the users Locust ran (its history CSV, when present).

    From ``requests.jsonl`` the percentiles are exact per bucket; a plain Locust run gives
    its ``Aggregated`` row only, with Locust's current percentiles (of the last ~10 s)."""
    pd = _pandas()
    if bucket_seconds <= 0:
        raise ValueError(f"bucket_seconds must be > 0, got {bucket_seconds}")
    users = _users_by_second(run)
    columns = ["endpoint", "start_s", "end_s", "requests_per_s", "p50_ms", "p95_ms", "p99_ms",
               "users"]  # fmt: skip
    rows: list[dict[str, Any]] = []
    if latency_source(run) == REQUEST_LOG:
        records = read_requests(run)
        if not records:
            return pd.DataFrame(columns=columns)
        start = min(r.timestamp for r in records)
        buckets: dict[tuple[str, int], list[float]] = defaultdict(list)
        for r in records:
            buckets[(r.name, int((r.timestamp - start) // bucket_seconds))].append(r.latency_ms)
        for (name, index), values in sorted(buckets.items()):
            t0 = start + index * bucket_seconds
            seen = [u for s, u in users.items() if t0 <= s < t0 + bucket_seconds]
            rows.append(
                {"endpoint": name, "start_s": index * bucket_seconds,
                 "end_s": (index + 1) * bucket_seconds,
                 "requests_per_s": len(values) / bucket_seconds,
                 "p50_ms": percentile(values, 0.5), "p95_ms": percentile(values, 0.95),
                 "p99_ms": percentile(values, 0.99), "users": max(seen) if seen else None}
            )  # fmt: skip
        return pd.DataFrame(rows, columns=columns)
    history = [r for r in read_locust_history(Path(run) / LOCUST_HISTORY) if r.name == AGGREGATED]
    if history:
        start = history[0].timestamp
        for h in history:
            rows.append(
                {"endpoint": AGGREGATED, "start_s": h.timestamp - start,
                 "end_s": h.timestamp - start + 1, "requests_per_s": h.rps,
                 "p50_ms": h.percentiles.get(0.5), "p95_ms": h.percentiles.get(0.95),
                 "p99_ms": h.percentiles.get(0.99), "users": h.users}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def db_steady_vs_warmup(run: RunPath) -> DataFrame:
    """Per ``db.*`` operation of ``monitor_history.jsonl``: the warm-up the MSER-5 rule cut
    (seconds), the P95 (ms) in the warm-up, in steady state (with its 95 % interval) and over
    the whole run: the database reads the ``db_query_p95_ms`` target applies to."""
    pd = _pandas()
    columns = ["operation", "warmup_s", "warmup_p95_ms", "steady_p95_ms", "steady_low_ms",
               "steady_high_ms", "whole_p95_ms", "calls"]  # fmt: skip
    if not (Path(run) / MONITOR_HISTORY).is_file():
        return pd.DataFrame(columns=columns)
    history = read_monitor_history(run)
    names = sorted(n for n in history[-1].get("histograms", {}) if n.startswith(DB_PREFIX))
    rows = []
    for op in names:
        steady = operation_steady(history, op, 0.95)
        if steady is None:
            continue
        iv = steady.interval
        rows.append(
            {"operation": op, "warmup_s": steady.warmup_seconds,
             "warmup_p95_ms": None if steady.warmup is None else steady.warmup * 1000,
             "steady_p95_ms": iv.estimate * 1000, "steady_low_ms": iv.low * 1000,
             "steady_high_ms": iv.high * 1000, "whole_p95_ms": steady.whole * 1000,
             "calls": iv.n}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
