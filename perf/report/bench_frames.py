"""The benchmark report's figures: every speed bar as the ratio ours / peer with an interval,
medians per operation with their spread, and each benchmark's ``extra_info``.

A bar's ratio is of two medians measured in the same run (drift on a shared machine hits both
alike). Its interval comes from the two medians' 95 % order-statistic intervals over the raw
samples (``stats.data``): ``[low_ours / high_peer, high_ours / low_peer]``, so it holds with at
least 90 % confidence. Without raw samples (e.g. a committed baseline) there is no interval.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perf.report.intervals import percentile_interval
from perf.results.bars import check_bars
from perf.results.readers import RunPath, read_benchmarks

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "BATCH_KEYS",
    "bar_intervals",
    "benchmark_spread",
    "extra_info_table",
    "median_interval",
    "per_operation",
]

# extra_info keys that say how many operations one measured round performs
BATCH_KEYS = ("calls_per_round", "ops_per_round", "operations_per_round")
_NOT_INFO = {"bars", "bar_peer", "bar_max_ratio", "bar_results", *BATCH_KEYS}


def _pandas() -> Any:
    import pandas  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415 - ~0.5 s

    return pandas


def per_operation(entry: Mapping[str, Any]) -> int:
    """How many operations one round of the benchmark ran (its ``extra_info`` says; else 1)."""
    info = entry.get("extra_info") or {}
    for key in BATCH_KEYS:
        if info.get(key):
            return int(info[key])
    return 1


def median_interval(entry: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """``(median, low, high)`` in seconds per round from the raw samples; ``None`` without."""
    data = (entry.get("stats") or {}).get("data")
    if not data:
        return None
    iv = percentile_interval([float(x) for x in data], 0.5)
    return iv.estimate, iv.low, iv.high


def bar_intervals(run: RunPath) -> DataFrame:
    """Per declared bar: ``label`` (``ours / peer``), the ratio and its interval as the gate
    checks them (the median of interleaved per-pair ratios; an old file without pairs: the
    ratio of medians, its interval from the two medians' intervals, ``None`` without raw
    samples), the bar, and the gate's verdict (pass / fail / inconclusive / no data)."""
    pd = _pandas()
    entries = read_benchmarks(run)
    by_name = {e["name"]: e for e in entries}
    rows = []
    for bar in check_bars(entries):
        low, high = bar.low, bar.high
        if low is None and bar.peer in by_name:  # not paired: from the two medians
            ours, peer = median_interval(by_name[bar.name]), median_interval(by_name[bar.peer])
            if ours and peer and peer[1] > 0:
                low, high = ours[1] / peer[2], ours[2] / peer[1]
        rows.append(
            {"label": f"{bar.name} / {bar.peer}", "ours": bar.name, "peer": bar.peer,
             "ratio": bar.ratio, "low": low, "high": high, "bar": bar.max_ratio,
             "verdict": "no data" if bar.ratio is None else bar.verdict}
        )  # fmt: skip
    columns = ["label", "ours", "peer", "ratio", "low", "high", "bar", "verdict"]
    return pd.DataFrame(rows, columns=columns)


def benchmark_spread(run: RunPath) -> DataFrame:
    """Per benchmark: its group, operations per round, and per operation (seconds) the median,
    the quartiles and the min; rounds. Medians, never means (design.md)."""
    pd = _pandas()
    rows = []
    for entry in read_benchmarks(run):
        stats = entry.get("stats")
        if not stats:
            continue
        ops = per_operation(entry)
        rows.append(
            {"name": entry["name"], "group": entry.get("group") or "", "ops_per_round": ops,
             "median_s": stats["median"] / ops,
             "q1_s": stats["q1"] / ops if stats.get("q1") is not None else None,
             "q3_s": stats["q3"] / ops if stats.get("q3") is not None else None,
             "min_s": stats["min"] / ops, "rounds": stats.get("rounds")}
        )  # fmt: skip
    columns = ["name", "group", "ops_per_round", "median_s", "q1_s", "q3_s", "min_s", "rounds"]
    return pd.DataFrame(rows, columns=columns)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)[:120]
    return str(value)


def extra_info_table(run: RunPath) -> DataFrame:
    """Per benchmark with any: its ``extra_info`` (hit rates, cold-miss shares, counts...) as
    ``key=value`` text, the speed-bar declarations left out (the bars table has them)."""
    pd = _pandas()
    rows = []
    for entry in read_benchmarks(run):
        info = {k: v for k, v in (entry.get("extra_info") or {}).items() if k not in _NOT_INFO}
        if info:
            text = ", ".join(f"{k}={_shown(v)}" for k, v in sorted(info.items()))
            rows.append({"name": entry["name"], "extra_info": text})
    return pd.DataFrame(rows, columns=["name", "extra_info"])
