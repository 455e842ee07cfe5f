"""Every documented target as a check over one run folder.

``run_checks(run, targets)`` returns one ``Check`` per measurable thing. Statistical checks
judge the steady state: each applies the MSER-5 rule (``perf.report.steady``) to its own time
series to cut the warm-up, and decides by a 95 % confidence interval (``perf.report.intervals``):

- ``query_latency_p95_ms`` / ``health_p95_ms``: exact P95 of ``/query`` and ``/health`` from
  ``requests.jsonl`` (series: latency per request in send order; interval: order statistics);
  for a plain Locust run (``perf import-locust``), from ``locust.json``'s rounded histograms,
  with no warm-up cut (Locust keeps no send order).
- ``db_query_p95_ms[<op>]``: each ``db.*`` operation's P95 from the service's histograms in
  ``monitor_history.jsonl`` (series: mean time per window; interval: order statistics read
  from the histogram of the steady window).
- ``<cache>_cache_hit_rate``: the hit rate of cache ``<cache>`` (``correlation``,
  ``entity_context``, ``memory``) from ``monitor_history.jsonl`` (series: hit rate per window;
  interval: batch means over windows), with the share of first-time queries beside it.
- ``tokens_per_query_mean``: prompt tokens after the budget per query (``tokens.jsonl``;
  series: tokens per query in time order; interval: t).

Exact checks hold for every query, warm-up included: ``tokens_per_query_max``,
``token_budget_enforced``, ``tokens_log_matches_monitor`` (``perf.report.token_checks``). Every
speed bar of ``benchmarks.json`` is a check too. A check whose input is missing has verdict
``no data`` and says which command writes it; a target key no check knows is reported as
``no data`` too, so a new target cannot go unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from perf.errors import MissingRunFileError
from perf.report.intervals import (
    Interval,
    batch_ratio_interval,
    percentile_interval,
    sketch_percentile_interval,
)
from perf.report.steady import Truncation, mser_truncation
from perf.report.token_checks import token_checks
from perf.report.verdicts import (
    FAIL,
    INCONCLUSIVE,
    NO_DATA,
    PASS,
    Check,
    Steady,
    no_data,
    steady_check,
)
from perf.report.windows import cache_windows, operation_between, operation_windows
from perf.results.bars import check_bars
from perf.results.files import BENCHMARKS, LOCUST_JSON, MONITOR_HISTORY, REQUEST_LOG
from perf.results.locust import LocustEndpoint, expand_histogram, read_locust_endpoints
from perf.results.readers import read_benchmarks, read_monitor_history, read_requests
from perf.results.requests_log import RequestRecord
from perf.results.targets import LATENCY_SLOS, LatencySlo

__all__ = ["FAIL", "INCONCLUSIVE", "NO_DATA", "PASS", "Check", "run_checks"]

HIT_RATE_SUFFIX = "_cache_hit_rate"
DB_PREFIX = "db."


# -- latency of the service's endpoints (requests.jsonl) --------------------------------------


def request_steady(rows: Sequence[RequestRecord], q: float, series: str) -> Steady:
    """MSER-5 on the latencies in send order, the ``q`` percentile of what follows the cut."""
    rows = sorted(rows, key=lambda r: r.timestamp)
    latencies = [r.latency_ms for r in rows]
    cut = mser_truncation(latencies)
    steady = percentile_interval(latencies[cut.cut :], q)
    warmup = percentile_interval(latencies[: cut.cut], q).estimate if cut.cut else None
    return Steady(
        steady, percentile_interval(latencies, q).estimate, warmup, cut,
        warmup_seconds=rows[cut.cut].timestamp - rows[0].timestamp,
        steady_seconds=rows[-1].timestamp - rows[cut.cut].timestamp, series=series,
        samples="requests",
    )  # fmt: skip


def _latency_checks(run: Path, targets: Mapping[str, float]) -> list[Check]:
    slos = [slo for slo in LATENCY_SLOS if slo.target_key in targets]
    if not slos:
        return []
    try:
        records = read_requests(run)
    except MissingRunFileError as exc:
        if (run / LOCUST_JSON).is_file():
            return _locust_latency_checks(run, slos, targets)
        return [no_data(s.target_key, f"< {targets[s.target_key]:g}", "ms", exc.name, str(exc))
                for s in slos]  # fmt: skip
    checks = []
    for slo in slos:
        rows = [r for r in records if r.name == slo.endpoint]
        label = f"P{round(slo.quantile * 100)} of {slo.endpoint}"
        if not rows:
            why = f"{REQUEST_LOG} has no {slo.endpoint} requests"
            checks.append(
                no_data(slo.target_key, f"< {targets[slo.target_key]:g}", "ms", REQUEST_LOG, why)
            )
            continue
        steady = request_steady(rows, slo.quantile, f"{slo.endpoint} latency per request")
        checks.append(
            steady_check(slo.target_key, "<", targets[slo.target_key], steady, unit="ms",
                         source=REQUEST_LOG, what=label,
                         details={"endpoint": slo.endpoint, "count": len(rows)})
        )  # fmt: skip
    return checks


def locust_steady(endpoint: LocustEndpoint, q: float) -> Steady:
    """The ``q`` percentile of a Locust histogram (rounded) with its order-statistic interval;
    Locust keeps no send order, so nothing is cut as warm-up."""
    latencies = expand_histogram(endpoint.histogram)
    iv = percentile_interval(latencies, q)
    iv = Interval(iv.estimate, iv.low, iv.high, iv.n, f"{iv.method}, {endpoint.rounding}")
    seconds = float(endpoint.last_request or endpoint.start_time) - endpoint.start_time
    return Steady(
        iv, iv.estimate, None, Truncation(0, len(latencies), settled=True), 0.0, seconds,
        series=f"{endpoint.name} latency (Locust histogram: no send order, no warm-up cut)",
        samples="requests",
    )  # fmt: skip


def _locust_latency_checks(
    run: Path, slos: Sequence[LatencySlo], targets: Mapping[str, float]
) -> list[Check]:
    """The latency SLOs of a run without our request log: Locust's own ``locust.json``."""
    endpoints = {e.name: e for e in read_locust_endpoints(run / LOCUST_JSON)}
    checks = []
    for slo in slos:
        limit = targets[slo.target_key]
        endpoint = endpoints.get(slo.endpoint)
        if endpoint is None or not endpoint.histogram:
            why = f"{LOCUST_JSON} has no timed {slo.endpoint} requests"
            checks.append(no_data(slo.target_key, f"< {limit:g}", "ms", LOCUST_JSON, why))
            continue
        steady = locust_steady(endpoint, slo.quantile)
        note = (f"{endpoint.rounding} percentiles (Locust keeps ~2 significant digits) and no "
                "warm-up cut: record requests.jsonl (perf load) for exact ones")  # fmt: skip
        checks.append(
            steady_check(slo.target_key, "<", limit, steady, unit="ms", source=LOCUST_JSON,
                         what=f"P{round(slo.quantile * 100)} of {slo.endpoint}",
                         details={"endpoint": slo.endpoint, "count": endpoint.count,
                                  "rounding": endpoint.rounding}, note=note)
        )  # fmt: skip
    return checks


# -- the service's own figures over time (monitor_history.jsonl) ------------------------------


def operation_steady(history: Sequence[Mapping[str, Any]], op: str, q: float) -> Steady | None:
    """MSER on the mean time per window, the ``q`` quantile of the steady window's histogram
    (seconds); ``None`` when ``op`` never ran."""
    windows = operation_windows(history, op)
    if not windows:
        return None
    cut = mser_truncation([s.total / s.count for _, s in windows], batch=1)
    first = windows[cut.cut][0]
    last = len(history) - 1
    steady = operation_between(history, op, first, last)
    whole = operation_between(history, op, 0, last)
    warmup = operation_between(history, op, 0, first) if first else None
    assert steady is not None and whole is not None
    t = [float(r["t"]) for r in history]
    return Steady(
        sketch_percentile_interval(steady, q), float(whole.quantile(q) or 0.0),
        None if warmup is None or not warmup.count else warmup.quantile(q), cut,
        warmup_seconds=t[first] - t[0], steady_seconds=t[last] - t[first],
        series=f"{op} mean time per window", samples="calls",
    )  # fmt: skip


def _db_checks(history: Sequence[Mapping[str, Any]], limit: float) -> list[Check]:
    names = sorted(n for n in history[-1].get("histograms", {}) if n.startswith(DB_PREFIX))
    if not names:
        why = f"{MONITOR_HISTORY} has no {DB_PREFIX}* histograms (no database reads recorded)"
        return [no_data("db_query_p95_ms", f"< {limit:g}", "ms", MONITOR_HISTORY, why)]
    checks = []
    for op in names:
        steady = operation_steady(history, op, 0.95)
        if steady is None:
            continue
        in_ms = _scaled(steady, 1000.0)
        checks.append(
            steady_check(f"db_query_p95_ms[{op}]", "<", limit, in_ms, unit="ms",
                         source=MONITOR_HISTORY, what=f"P95 of {op}",
                         details={"operation": op})
        )  # fmt: skip
    return checks


def _scaled(steady: Steady, factor: float) -> Steady:
    iv = steady.interval
    scaled = Interval(iv.estimate * factor, iv.low * factor, iv.high * factor, iv.n, iv.method)
    warmup = None if steady.warmup is None else steady.warmup * factor
    return Steady(
        scaled, steady.whole * factor, warmup, steady.truncation,
        steady.warmup_seconds, steady.steady_seconds, steady.series, steady.samples,
    )  # fmt: skip


def hit_rate_steady(history: Sequence[Mapping[str, Any]], cache: str) -> Steady | None:
    """MSER on the hit rate per window, the batch-means interval of the steady windows;
    ``None`` when the cache saw no lookups."""
    windows = [w for w in cache_windows(history, cache) if w.lookups]
    if not windows:
        return None
    cut = mser_truncation([w.hits / w.lookups for w in windows], batch=1)
    steady, early = windows[cut.cut :], windows[: cut.cut]
    whole = sum(w.hits for w in windows) / sum(w.lookups for w in windows)
    warmup = sum(w.hits for w in early) / sum(w.lookups for w in early) if early else None
    interval = batch_ratio_interval([w.hits for w in steady], [w.lookups for w in steady])
    return Steady(
        interval, whole, warmup, cut,
        warmup_seconds=steady[0].start - windows[0].start,
        steady_seconds=steady[-1].end - steady[0].start,
        series=f"{cache} hit rate per window", samples="windows",
    )  # fmt: skip


def _cold_share(run: Path, since: float) -> float | None:
    """The share of ``/query`` requests sent at or after ``since`` whose text was new."""
    try:
        flags = [
            r.new_query
            for r in read_requests(run)
            if r.name == "/query" and r.timestamp >= since and r.new_query is not None
        ]
    except MissingRunFileError:  # fmt: skip
        return None
    return sum(flags) / len(flags) if flags else None


def _hit_rate_check(
    run: Path, key: str, limit: float, history: Sequence[Mapping[str, Any]]
) -> Check:
    cache = key.removesuffix(HIT_RATE_SUFFIX)
    steady = hit_rate_steady(history, cache)
    if steady is None:
        known = sorted(history[-1].get("cache_stats", {}))
        why = f"cache {cache!r} saw no lookups in {MONITOR_HISTORY} (caches: {known})"
        return no_data(key, f"> {limit:g}", "ratio", MONITOR_HISTORY, why)
    since = float(history[0]["t"]) + steady.warmup_seconds
    cold = _cold_share(run, since)
    note = "" if cold is None else f"{cold:.0%} of steady-state queries were first-time"
    return steady_check(
        key, ">", limit, steady, unit="ratio", source=MONITOR_HISTORY,
        what=f"hit rate of {cache!r}", details={"cache": cache, "cold_miss_share": cold},
        note=note,
    )  # fmt: skip


def _monitor_checks(run: Path, targets: Mapping[str, float]) -> list[Check]:
    keys = [k for k in targets if k == "db_query_p95_ms" or k.endswith(HIT_RATE_SUFFIX)]
    if not keys:
        return []

    def missing(why: str, source: str) -> list[Check]:
        op = {"db_query_p95_ms": ("<", "ms")}
        return [no_data(k, f"{op.get(k, ('>',))[0]} {targets[k]:g}",
                        op.get(k, ("", "ratio"))[1], source, why) for k in keys]  # fmt: skip

    try:
        history = read_monitor_history(run)
    except MissingRunFileError as exc:
        return missing(str(exc), exc.name)
    if len(history) < 2:
        why = f"{MONITOR_HISTORY} has fewer than two readings: the load run was too short"
        return missing(why, MONITOR_HISTORY)
    checks = []
    for key in keys:
        if key == "db_query_p95_ms":
            checks.extend(_db_checks(history, targets[key]))
        else:
            checks.append(_hit_rate_check(run, key, targets[key], history))
    return checks


# -- speed bars (benchmarks.json) -------------------------------------------------------------


def _bar_checks(run: Path) -> list[Check]:
    try:
        bars = check_bars(read_benchmarks(run))
    except MissingRunFileError as exc:
        return [no_data("bars", "<= bar", "x", exc.name, str(exc))]
    if not bars:
        why = f"{BENCHMARKS} declares no speed bars (was the suite run with -k?)"
        return [no_data("bars", "<= bar", "x", BENCHMARKS, why)]
    checks = []
    for bar in bars:
        name = f"bar[{bar.name} / {bar.peer}]"
        target = f"<= {bar.max_ratio:g}"
        if bar.ratio is None:
            why = f"the peer {bar.peer} did not run in this {BENCHMARKS}"
            checks.append(no_data(name, target, "x", BENCHMARKS, why))
            continue
        word = {PASS: "ok", FAIL: "FAIL", INCONCLUSIVE: "INCONCLUSIVE"}[bar.verdict]
        interval = None
        if bar.low is not None and bar.high is not None:
            shown = f" [{bar.confidence:.0%} CI {bar.low:.3f}x .. {bar.high:.3f}x]"
            interval = {"estimate": bar.ratio, "low": bar.low, "high": bar.high, "n": bar.pairs,
                        "confidence": bar.confidence, "method": bar.method}  # fmt: skip
            what = f"median of {bar.pairs} interleaved per-pair ratios"
        else:
            shown, what = "", "ratio of medians (benchmarks timed apart: no interval)"
        message = f"{word} {name}: {what} {bar.ratio:.3f}x{shown}, bar <= {bar.max_ratio:g}x"
        checks.append(Check(name, target, bar.ratio, "x", bar.verdict, BENCHMARKS, message,
                            interval=interval))  # fmt: skip
    return checks


KNOWN_TARGETS = frozenset(
    {"query_latency_p95_ms", "health_p95_ms", "db_query_p95_ms", "tokens_per_query_mean",
     "tokens_per_query_max"}
)  # fmt: skip

CheckGroup = Callable[[Path, Mapping[str, float]], list[Check]]


def run_checks(run: str | Path, targets: Mapping[str, float]) -> list[Check]:
    """Every target of ``targets`` (``load_targets``) and every speed bar, checked on ``run``."""
    folder = Path(run)
    checks: list[Check] = []
    groups: list[CheckGroup] = [_latency_checks, _monitor_checks, token_checks]
    for group in groups:
        checks.extend(group(folder, targets))
    checks.extend(_bar_checks(folder))
    for key in sorted(targets):
        if key not in KNOWN_TARGETS and not key.endswith(HIT_RATE_SUFFIX):
            why = f"no check knows target {key!r}: add one to perf/report/checks.py"
            checks.append(no_data(key, f"{targets[key]:g}", "", "pyproject.toml", why))
    return checks
