"""The notebooks' DataFrames, built from a run folder's files (pandas is imported when called).

Every number a notebook shows comes from one of these tested functions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from fnmatch import fnmatchcase
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf.report.checks import Check, run_checks
from perf.report.display import Html, Table, fmt_interval, fmt_value
from perf.results import manifest
from perf.results.bars import check_bars
from perf.results.readers import (
    RunPath,
    cache_counts,
    query_id,
    read_benchmarks,
    read_manifest,
    read_monitor,
    read_requests,
    read_token_log,
)
from perf.results.requests_log import percentile, summarize_requests
from perf.results.targets import LATENCY_SLOS, find_pyproject, load_targets

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "bar_ratios",
    "benchmark_medians",
    "cache_hit_rates",
    "check_verdicts",
    "checks_frame",
    "checks_table",
    "compare_banner",
    "endpoint_percentiles",
    "latency_over_time",
    "latency_slos",
    "load_model_sentence",
    "operation_latencies",
    "requests_frame",
    "run_banner",
    "run_targets",
    "token_components",
    "tokens_frame",
    "tokens_per_query",
]


def _pandas() -> Any:
    # pandas takes ~0.5 s to import: building a frame pays it, never the gate
    import pandas  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415 - see above

    return pandas


def requests_frame(run: RunPath) -> DataFrame:
    """``requests.jsonl`` as a DataFrame, plus ``elapsed_s`` (since the first request) and
    ``latency_from_intended_ms``."""
    pd = _pandas()

    records = read_requests(run)
    frame = pd.DataFrame(
        [
            {
                "timestamp": r.timestamp,
                "intended_start": r.intended_start,
                "name": r.name,
                "method": r.method,
                "latency_ms": r.latency_ms,
                "latency_from_intended_ms": r.latency_from_intended_ms,
                "status": r.status,
                "ok": r.ok,
                "new_query": r.new_query,
            }
            for r in records
        ]
    )
    if not frame.empty:
        frame["elapsed_s"] = frame["timestamp"] - frame["timestamp"].min()
    return frame


def endpoint_percentiles(run: RunPath) -> DataFrame:
    """Exact per-endpoint percentiles (nearest rank, ms), the numbers the SLO checks use."""
    pd = _pandas()

    interval = manifest.expected_interval_ms(manifest.workload(read_manifest(run)))
    records = read_requests(run)
    summaries = summarize_requests(records, expected_interval_ms=interval)
    return pd.DataFrame([s.as_dict() for s in summaries.values()]).set_index("name")


def latency_over_time(run: RunPath, bucket_seconds: float = 5.0) -> DataFrame:
    """Per endpoint and time bucket (seconds since the first request): count, exact P50/P95,
    max (ms)."""
    pd = _pandas()

    if bucket_seconds <= 0:
        raise ValueError(f"bucket_seconds must be > 0, got {bucket_seconds}")
    records = read_requests(run)
    if not records:
        return pd.DataFrame(columns=["name", "bucket_s", "count", "p50_ms", "p95_ms", "max_ms"])
    start = min(r.timestamp for r in records)
    buckets: dict[tuple[str, float], list[float]] = defaultdict(list)
    for r in records:
        bucket = (r.timestamp - start) // bucket_seconds * bucket_seconds
        buckets[(r.name, bucket)].append(r.latency_ms)
    rows = [
        {
            "name": name,
            "bucket_s": bucket,
            "count": len(values),
            "p50_ms": percentile(values, 0.50),
            "p95_ms": percentile(values, 0.95),
            "max_ms": max(values),
        }
        for (name, bucket), values in sorted(buckets.items())
    ]
    return pd.DataFrame(rows)


def cache_hit_rates(run: RunPath) -> DataFrame:
    """``monitor.json`` ``cache_stats``: hits, misses, lookups, hit rate (and per tier for
    two-tier caches), one row per cache."""
    pd = _pandas()

    rows = []
    for name, stats in sorted(read_monitor(run).get("cache_stats", {}).items()):
        hits, misses, rate = cache_counts(stats)
        rows.append(
            {
                "cache": name,
                "hits": hits,
                "misses": misses,
                "lookups": hits + misses,
                "hit_rate": rate,
                "memory_hit_rate": stats.get("memory_hit_rate"),
                "disk_hit_rate": stats.get("disk_hit_rate"),
            }
        )
    columns = ["hits", "misses", "lookups", "hit_rate", "memory_hit_rate", "disk_hit_rate"]
    return pd.DataFrame(rows, columns=["cache", *columns]).set_index("cache")


def operation_latencies(run: RunPath, prefix: str = "") -> DataFrame:
    """``monitor.json`` ``operations`` whose name starts with ``prefix``: count, errors and
    the monitor's whole-run percentiles in ms."""
    pd = _pandas()

    rows = []
    for name, stats in sorted(read_monitor(run).get("operations", {}).items()):
        if name.startswith(prefix):
            row: dict[str, Any] = {"operation": name, "count": stats.get("count", 0)}
            row["errors"] = stats.get("errors", 0)
            for key in ("p50", "p95", "p99", "max_time"):
                value = stats.get(key)
                row[f"{key.removesuffix('_time')}_ms"] = None if value is None else value * 1000
            rows.append(row)
    columns = ["count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
    return pd.DataFrame(rows, columns=["operation", *columns]).set_index("operation")


def tokens_frame(run: RunPath) -> DataFrame:
    """``tokens.jsonl`` flattened: one row per LLM call, ``before_<part>``/``after_<part>``
    token columns, totals, billed usage."""
    pd = _pandas()

    rows = []
    for number, record in enumerate(read_token_log(run), 1):
        usage = record.get("usage") or {}
        row: dict[str, Any] = {
            key: record.get(key)
            for key in ("ts", "request_id", "purpose", "model", "cached", "error")
        }
        row["query"] = query_id(record, number)
        row["total_tokens_before"] = record.get("total_tokens_before")
        row["total_tokens_after"] = record.get("total_tokens_after")
        row["cut"] = bool(record.get("cut"))
        row["prompt_tokens"] = usage.get("prompt_tokens")
        row["completion_tokens"] = usage.get("completion_tokens")
        for side in ("before", "after"):
            for part, count in (record.get(f"tokens_{side}") or {}).items():
                row[f"{side}_{part}"] = count
        rows.append(row)
    return pd.DataFrame(rows)


def tokens_per_query(run: RunPath) -> DataFrame:
    """Per query (``perf.results.readers.query_id``, as the gate counts them): LLM calls,
    prompt tokens before and after the budget, completion tokens, whether every call was
    cached, whether any was cut."""
    frame = tokens_frame(run)
    if frame.empty:
        return frame
    return frame.groupby("query").agg(
        calls=("purpose", "size"),
        tokens_before=("total_tokens_before", "sum"),
        tokens_after=("total_tokens_after", "sum"),
        completion_tokens=("completion_tokens", "sum"),
        cached=("cached", "all"),
        cut=("cut", "any"),
    )


def benchmark_medians(run: RunPath) -> DataFrame:
    """Per benchmark: group, median and min (µs), rounds. Medians, never means: the mean is
    not stable enough on a shared machine to compare."""
    pd = _pandas()

    rows = [
        {
            "name": b["name"],
            "group": b.get("group"),
            "median_us": b["stats"]["median"] * 1e6,
            "min_us": b["stats"]["min"] * 1e6,
            "rounds": b["stats"].get("rounds"),
        }
        for b in read_benchmarks(run)
        if b.get("stats")
    ]
    columns = ["name", "group", "median_us", "min_us", "rounds"]
    return pd.DataFrame(rows, columns=columns).set_index("name")


def bar_ratios(run: RunPath) -> DataFrame:
    """Every declared speed bar: benchmark, peer, ratio of medians, bar, passed."""
    pd = _pandas()

    rows = [c.as_dict() for c in check_bars(read_benchmarks(run))]
    return pd.DataFrame(rows, columns=["name", "peer", "ratio", "max_ratio", "passed"])


def token_components(run: RunPath) -> DataFrame:
    """Per prompt component: mean and max tokens before and after the budget, calls cut."""
    pd = _pandas()
    rows = []
    records = read_token_log(run)
    parts = sorted({p for r in records for p in (r.get("tokens_before") or {})})
    for part in parts:
        before = [int((r.get("tokens_before") or {}).get(part, 0)) for r in records]
        after = [int((r.get("tokens_after") or {}).get(part, 0)) for r in records]
        rows.append(
            {
                "component": part,
                "mean_before": sum(before) / len(before),
                "mean_after": sum(after) / len(after),
                "max_before": max(before),
                "max_after": max(after),
                "calls_cut": sum(b > a for b, a in zip(before, after, strict=True)),
            }
        )
    columns = ["mean_before", "mean_after", "max_before", "max_after", "calls_cut"]
    return pd.DataFrame(rows, columns=["component", *columns]).set_index("component")


def checks_frame(
    run: RunPath, targets: RunPath | None = None, *, names: tuple[str, ...] = ("*",)
) -> DataFrame:
    """``run_checks`` as a table (name, target, measured, unit, verdict, message), only the
    checks whose name matches one of the fnmatch patterns ``names``. ``targets`` defaults to
    the nearest ``pyproject.toml`` above the working directory."""
    pd = _pandas()
    if targets is None:
        targets = find_pyproject(Path.cwd().resolve())
        if targets is None:
            raise FileNotFoundError("no pyproject.toml above the working directory: pass targets")
    checks = run_checks(run, load_targets(Path(targets)))
    rows = [c.as_dict() for c in checks if any(fnmatchcase(c.name, p) for p in names)]
    columns = ["name", "target", "measured", "unit", "verdict", "message"]
    return pd.DataFrame(rows, columns=[*columns, "source", "details"])[columns]


# -- what every notebook shows first and last ---------------------------------------------------


def run_targets(targets: RunPath | None = None) -> dict[str, float]:
    """The targets of ``targets`` (a TOML file), default the nearest ``pyproject.toml``."""
    if targets is None:
        targets = find_pyproject(Path.cwd().resolve())
        if targets is None:
            raise FileNotFoundError("no pyproject.toml above the working directory: pass targets")
    return load_targets(Path(targets))


def run_banner(run: RunPath) -> Html:
    """One line: the run, its commit, and the load model it ran (closed, with think time, or
    open; or a plain Locust run's)."""
    data = read_manifest(run)
    workload = manifest.workload(data)
    dirty = ", uncommitted changes" if data.get("dirty") else ""
    text = f"Run <code>{escape(str(data.get('run_id')))}</code> at commit "
    text += f"<code>{escape(str(data.get('commit')))}</code>{dirty}."
    if workload:
        text += " " + escape(load_model_sentence(workload))
    return Html(f"<p>{text}</p>")


def compare_banner(base: RunPath, head: RunPath) -> Html:
    """Which two runs a comparison shows: base and head, each with its commit."""
    parts = []
    for role, run in (("base", base), ("head", head)):
        data = read_manifest(run)
        dirty = "*" if data.get("dirty") else ""
        parts.append(f"<b>{role}</b> <code>{escape(Path(run).name)}</code> "
                     f"(commit <code>{escape(str(data.get('commit')))}{dirty}</code>)")  # fmt: skip
    return Html(f"<p>{' vs '.join(parts)}</p>")


def load_model_sentence(workload: Mapping[str, Any]) -> str:
    """How the load was offered, in words: what the latency figures mean depends on it."""
    users = workload.get("users", "?")
    if workload.get("source") == "locust":
        return (f"A plain Locust run ({users} users, imported): Locust's default closed model, "
                "its percentiles rounded to ~2 significant digits.")  # fmt: skip
    if workload.get("model") == "open":
        return (f"Open model: requests left on a fixed schedule ({workload.get('open_rate')} "
                "requests/s in all), latency counted from the intended start.")  # fmt: skip
    think = ""
    if "think_min_s" in workload:
        think = f", thinking {workload['think_min_s']:g} to {workload['think_max_s']:g} s"
    return (f"Closed model: {users} users, each waiting for its response before the next"
            f"{think}; a stalled server sends fewer requests (coordinated omission), which the "
            "CO-corrected curves add back.")  # fmt: skip


def checks_table(
    run: RunPath, targets: RunPath | None = None, *, names: tuple[str, ...] = ("*",)
) -> Table:
    """The checks matching ``names`` as the gate judges them: verdict coloured, the steady
    state with its 95 % interval and the warm-up cut, in the check's unit."""
    checks = _checks(run, run_targets(targets))
    rows = []
    for c in checks:
        if not any(fnmatchcase(c.name, p) for p in names):
            continue
        window = c.window or {}
        rows.append({
            "verdict": c.verdict, "name": c.name,
            "measured": fmt_value(c.measured, c.unit) if c.measured is not None else "n/a",
            "interval": fmt_interval(c.interval, c.unit),
            "target": c.target if c.unit in {"", "calls"} else _target_text(c.target, c.unit),
            "warmup": f"{window['warmup_seconds']:.0f} s" if window else "",
            "message": c.message,
        })  # fmt: skip
    columns = {"verdict": "verdict", "name": "check", "measured": "steady state",
               "interval": "95 % interval", "target": "target", "warmup": "warm-up cut",
               "message": "message"}  # fmt: skip
    return Table(rows, columns, numeric=frozenset({"measured", "interval"}))


def _checks(run: RunPath, targets: Mapping[str, float]) -> list[Check]:
    """``run_checks``, once per notebook for the same run files and targets (a report shows
    the checks twice: as verdict colours in its plots and as its last table)."""
    folder = Path(run).resolve()
    stamp = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()))
    return list(_cached_checks(str(folder), tuple(sorted(targets.items())), stamp))


@lru_cache(maxsize=8)
def _cached_checks(
    run: str, targets: tuple[tuple[str, float], ...], stamp: tuple[tuple[str, int], ...]
) -> tuple[Check, ...]:
    return tuple(run_checks(run, dict(targets)))


def _target_text(target: str, unit: str) -> str:
    op, _, limit = target.partition(" ")
    try:
        return f"{op} {fmt_value(float(limit), unit)}"
    except ValueError:
        return target


def check_verdicts(run: RunPath, targets: RunPath | None = None) -> dict[str, str]:
    """``{check name: verdict}``, and ``{endpoint: verdict}`` for the latency SLOs."""
    found: dict[str, str] = {}
    for c in _checks(run, run_targets(targets)):
        found[c.name] = c.verdict
        endpoint = c.details.get("endpoint")
        if endpoint:
            found[str(endpoint)] = c.verdict
    return found


def latency_slos(targets: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """``{endpoint: (quantile, limit ms)}`` of the latency targets that are set."""
    return {s.endpoint: (s.quantile, targets[s.target_key])
            for s in LATENCY_SLOS if s.target_key in targets}  # fmt: skip
