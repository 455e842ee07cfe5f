"""The reports' tables: the frames of ``perf.report`` as lean HTML tables with rounded numbers and
their units, verdicts coloured. The notebooks show these after the plots."""

from __future__ import annotations

import math
from typing import Any

from perf.report.display import (
    Formatter,
    Table,
    fmt_count,
    fmt_duration,
    fmt_ms,
    fmt_percent,
    fmt_ratio,
    fmt_tokens,
)

__all__ = [
    "bars_table",
    "benchmarks_table",
    "billed_table",
    "ceilings_table",
    "compare_bars_table",
    "compare_table",
    "db_table",
    "endpoints_table",
    "extra_info_table",
    "hit_rates_table",
    "token_components_table",
    "token_targets_table",
    "trend_table",
    "worker_hit_rates_table",
]


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _seconds(value: Any) -> str:
    return "n/a" if _absent(value) else f"{value:,.0f} s"


def _cap(value: Any) -> str:
    return "none" if _absent(value) else fmt_tokens(value)


def _interval(low: Any, high: Any, fmt: Any) -> str:
    if _absent(low) or _absent(high):
        return ""
    return f"[{fmt(low)}, {fmt(high)}]"


def hit_rates_table(summary: Any) -> Table:
    rows = [
        {**r, "interval": _interval(r["low"], r["high"], fmt_percent),
         "same_as": r["same_as"] or ""}
        for r in summary.to_dict("records")
    ]  # fmt: skip
    columns = {"verdict": "verdict", "cache": "cache", "target": "target (>)",
               "steady": "steady state", "interval": "95 % interval", "warmup_s": "warm-up cut",
               "warmup": "warm-up", "whole_run": "whole run", "windows": "windows",
               "same_as": "same counts as"}  # fmt: skip
    formats = {"target": fmt_percent, "steady": fmt_percent, "warmup": fmt_percent,
               "whole_run": fmt_percent, "warmup_s": _seconds, "windows": fmt_count}  # fmt: skip
    numeric = frozenset({"target", "steady", "interval", "warmup_s", "warmup", "whole_run"})
    return Table(rows, columns, formats, numeric)


def ceilings_table(ceilings: Any) -> Table:
    columns = {"cache": "cache", "keyed_on": "keyed on", "cold_share": "first-time keys",
               "ceiling": "hit-rate ceiling", "source": "measured in"}  # fmt: skip
    formats = {"cold_share": fmt_percent, "ceiling": fmt_percent}
    return Table.from_frame(ceilings, columns, formats=formats,
                            numeric=frozenset({"cold_share", "ceiling"}))  # fmt: skip


def worker_hit_rates_table(workers: Any) -> Table:
    columns = {"cache": "cache", "worker": "worker (pid)", "hits": "hits", "misses": "misses",
               "lookups": "lookups", "hit_rate": "hit rate"}  # fmt: skip
    formats = {"hits": fmt_count, "misses": fmt_count, "lookups": fmt_count,
               "hit_rate": fmt_percent}  # fmt: skip
    numeric = frozenset({"hits", "misses", "lookups", "hit_rate"})
    caption = "" if len(workers) else "one service worker: no per-worker figures"
    return Table.from_frame(workers, columns, formats=formats, numeric=numeric, caption=caption)


def endpoints_table(table: Any) -> Table:
    columns = {"endpoint": "endpoint", "kind": "percentiles", "requests": "requests",
               "failures": "failures", "p50_ms": "P50", "p95_ms": "P95", "p99_ms": "P99",
               "max_ms": "max"}  # fmt: skip
    formats = {"requests": fmt_count, "failures": fmt_count, "p50_ms": fmt_ms, "p95_ms": fmt_ms,
               "p99_ms": fmt_ms, "max_ms": fmt_ms}  # fmt: skip
    return Table.from_frame(table, columns, formats=formats, numeric=frozenset(formats))


def db_table(db: Any) -> Table:
    rows = [
        {**r, "interval": _interval(r["steady_low_ms"], r["steady_high_ms"], fmt_ms)}
        for r in db.to_dict("records")
    ]
    columns = {"operation": "operation", "warmup_s": "warm-up cut", "warmup_p95_ms": "warm-up P95",
               "steady_p95_ms": "steady-state P95", "interval": "95 % interval",
               "whole_p95_ms": "whole-run P95", "calls": "calls (steady)"}  # fmt: skip
    formats = {"warmup_s": _seconds, "warmup_p95_ms": fmt_ms, "steady_p95_ms": fmt_ms,
               "whole_p95_ms": fmt_ms, "calls": fmt_count}  # fmt: skip
    return Table(rows, columns, formats, frozenset({*formats, "interval"}))


def token_components_table(caps: Any) -> Table:
    rows = [{**r, "trimmed": "yes" if r["trimmed"] else "no (before = after)"}
            for r in caps.to_dict("records")]  # fmt: skip
    columns = {"component": "component", "mean_before": "mean before", "mean_after": "mean after",
               "max_before": "max before", "max_after": "max after", "cap": "cap",
               "calls_cut": "calls cut", "trimmed": "budget cut anything"}  # fmt: skip
    formats: dict[str, Formatter] = {
        k: fmt_tokens for k in ("mean_before", "mean_after", "max_before", "max_after")
    }
    formats.update(cap=_cap, calls_cut=fmt_count)
    return Table(rows, columns, formats, frozenset(formats))


def token_targets_table(summary: Any) -> Table:
    rows = [{**r, "interval": _interval(r["low"], r["high"], fmt_tokens)}
            for r in summary.to_dict("records")]  # fmt: skip
    columns = {"verdict": "verdict", "figure": "prompt tokens", "tokens": "measured",
               "interval": "95 % interval", "target": "target (<)",
               "queries": "queries"}  # fmt: skip
    formats = {"tokens": fmt_tokens, "target": fmt_tokens, "queries": fmt_count}
    return Table(rows, columns, formats, frozenset({*formats, "interval"}))


def bars_table(bars: Any) -> Table:
    rows = [{**r, "interval": _interval(r["low"], r["high"], fmt_ratio)}
            for r in bars.to_dict("records")]  # fmt: skip
    rows.sort(key=lambda r: (r["verdict"] == "pass", r["label"]))  # failures first
    columns = {"verdict": "verdict", "label": "ours / peer", "ratio": "ratio of medians",
               "interval": "interval", "bar": "bar (at most)"}  # fmt: skip
    formats = {"ratio": fmt_ratio, "bar": fmt_ratio}
    return Table(rows, columns, formats, frozenset({"ratio", "interval", "bar"}))


def benchmarks_table(spread: Any) -> Table:
    columns = {"group": "group", "name": "benchmark", "median_s": "median per op",
               "q1_s": "Q1", "q3_s": "Q3", "min_s": "min", "ops_per_round": "ops / round",
               "rounds": "rounds"}  # fmt: skip
    formats = {"median_s": fmt_duration, "q1_s": fmt_duration, "q3_s": fmt_duration,
               "min_s": fmt_duration, "ops_per_round": fmt_count, "rounds": fmt_count}  # fmt: skip
    return Table.from_frame(spread.sort_values(["group", "name"]), columns, formats=formats,
                            numeric=frozenset(formats))  # fmt: skip


def billed_table(billed: Any) -> Table:
    """The calls the API answered: prompt tokens counted by the budget and billed, on average,
    and the difference per call (mean, least, most)."""
    rows = []
    if len(billed):
        diff = billed["difference"]
        rows.append({"calls": len(billed), "counted": billed["counted"].mean(),
                     "billed": billed["billed"].mean(), "mean": diff.mean(),
                     "least": diff.min(), "most": diff.max()})  # fmt: skip
    columns = {"calls": "calls", "counted": "counted (mean)", "billed": "billed (mean)",
               "mean": "billed - counted (mean)", "least": "least", "most": "most"}  # fmt: skip
    formats = {"calls": fmt_count, "counted": fmt_tokens, "billed": fmt_tokens,
               "mean": fmt_tokens, "least": fmt_tokens, "most": fmt_tokens}  # fmt: skip
    return Table(rows, columns, formats, frozenset(formats))


def compare_table(frame: Any, key: str, fmt: Formatter) -> Table:
    """Two runs side by side (``trend_frames.compare_hit_rates`` / ``compare_tokens``)."""
    rows = [{**r, "base_iv": _interval(r["base_low"], r["base_high"], fmt),
             "head_iv": _interval(r["head_low"], r["head_high"], fmt)}
            for r in frame.to_dict("records")]  # fmt: skip
    columns = {"verdict": "head's verdict", key: key, "base": "base", "base_iv": "interval",
               "head": "head", "head_iv": "interval", "target": "target",
               "change": "change (intervals apart?)"}  # fmt: skip
    formats = {"base": fmt, "head": fmt, "target": fmt}
    return Table(rows, columns, formats, frozenset({*formats, "base_iv", "head_iv"}))


def compare_bars_table(frame: Any) -> Table:
    rows = [{**r, "base_iv": _interval(r["base_low"], r["base_high"], fmt_ratio),
             "head_iv": _interval(r["head_low"], r["head_high"], fmt_ratio)}
            for r in frame.to_dict("records")]  # fmt: skip
    rows.sort(key=lambda r: ({"slower": 0, "unknown": 1, "same": 2, "faster": 3}[r["change"]],
                             r["label"]))  # fmt: skip
    columns = {"verdict": "head's verdict", "label": "ours / peer", "base_ratio": "base",
               "base_iv": "interval", "head_ratio": "head", "head_iv": "interval",
               "head_over_base": "head / base", "bar": "bar", "change": "change"}  # fmt: skip
    formats = {"base_ratio": fmt_ratio, "head_ratio": fmt_ratio, "head_over_base": fmt_ratio,
               "bar": fmt_ratio}  # fmt: skip
    return Table(rows, columns, formats, frozenset({*formats, "base_iv", "head_iv"}))


def trend_table(trend: Any) -> Table:
    """The runs where a bar went over its bar or regressed; the last run's bars if none."""
    flagged = trend[trend["over_bar"] | trend["regressed"]]
    data = flagged if len(flagged) else trend[trend["order"] == trend["order"].max()]
    rows = [{**r, "iv": _interval(r["low"], r["high"], fmt_ratio),
             "flag": ", ".join(f for f, on in (("over the bar", r["over_bar"]),
                                               ("regressed", r["regressed"])) if on) or "ok"}
            for r in data.to_dict("records")]  # fmt: skip
    columns = {"verdict": "verdict", "run": "run", "commit": "commit", "label": "ours / peer",
               "ratio": "ratio", "iv": "interval", "bar": "bar", "flag": "flag"}  # fmt: skip
    formats = {"ratio": fmt_ratio, "bar": fmt_ratio}
    return Table(rows, columns, formats, frozenset({"ratio", "iv", "bar"}))


def extra_info_table(info: Any) -> Table:
    return Table.from_frame(info, {"name": "benchmark", "extra_info": "extra_info"})
