"""The capacity notebook's frames and tables, from a run's ``capacity.json`` (pandas is
imported when a frame is built)."""

from __future__ import annotations

import json
import math
from html import escape
from typing import TYPE_CHECKING, Any

from perf.report.capacity import PRIMARY, QUANTILES
from perf.report.display import Html, Table, fmt_ms, fmt_percent
from perf.results.files import CAPACITY
from perf.results.readers import RunPath, run_file

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "capacity_banner",
    "capacity_knees",
    "capacity_steps",
    "knees_table",
    "read_capacity",
    "steps_table",
]


def read_capacity(run: RunPath) -> dict[str, Any]:
    """``capacity.json`` of ``run`` (``MissingRunFileError`` saying how to make one)."""
    data: dict[str, Any] = json.loads(run_file(run, CAPACITY).read_text(encoding="utf-8"))
    return data


def _pandas() -> Any:
    import pandas  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415 - ~0.5 s

    return pandas


def capacity_steps(run: RunPath) -> DataFrame:
    """One row per step of every search: offered and achieved rate, ``/query`` P50 / P95 / P99
    with their intervals (``p95_ms``, ``p95_low``, ``p95_high``...), errors, verdict and reason,
    CPU cores of the service, the stub and the generator, service CPU ms per request."""
    rows = []
    for search in read_capacity(run)["searches"]:
        for step in search["steps"]:
            row: dict[str, Any] = {
                "search": search["name"], "label": search["label"], "step": step["index"],
                "offered_rate": step["offered_rate"], "achieved_rate": step.get("achieved_rate"),
                "errors": step.get("errors"), "error_rate": step.get("error_rate"),
                "verdict": step["verdict"], "reason": step.get("reason", ""),
                "service_cpu_ms_per_request": step.get("service_cpu_ms_per_request"),
            }  # fmt: skip
            primary = (step.get("endpoints") or {}).get(PRIMARY) or {}
            for q in QUANTILES:
                key = f"p{round(q * 100)}"
                iv = primary.get(f"{key}_ms") or {}
                row |= {f"{key}_ms": iv.get("estimate"), f"{key}_low": iv.get("low"),
                        f"{key}_high": iv.get("high")}  # fmt: skip
            for role in ("service", "stub", "generator"):
                row[f"{role}_cores"] = ((step.get("cpu") or {}).get(role) or {}).get("cores")
            rows.append(row)
    return _pandas().DataFrame(rows)


def capacity_knees(run: RunPath) -> DataFrame:
    """One row per search: the knee (highest sustained offered rate), its bracket, the rate
    achieved there, service CPU per request there, and the search's status and message."""
    data = read_capacity(run)
    rows = []
    for search in data["searches"]:
        knee = search.get("knee") or {}
        low, high = knee.get("bracket") or (None, None)
        rows.append({
            "search": search["name"], "label": search["label"], "status": search["status"],
            "knee_rate": knee.get("rate"), "bracket_low": low, "bracket_high": high,
            "achieved_rate": knee.get("achieved_rate"), "steps": len(search["steps"]),
            "service_cpu_ms_per_request": knee.get("service_cpu_ms_per_request"),
            "message": knee.get("message", search.get("error", "")),
        })  # fmt: skip
    return _pandas().DataFrame(rows)


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _rate(value: Any) -> str:
    return "n/a" if _absent(value) else f"{value:,.3g} /s"


def _cores(value: Any) -> str:
    return "" if _absent(value) else f"{value:.2f}"


def steps_table(steps: DataFrame) -> Table:
    rows = [
        {**r, "p95": f"{fmt_ms(r['p95_ms'])} [{fmt_ms(r['p95_low'])}, {fmt_ms(r['p95_high'])}]"
         if not _absent(r["p95_ms"]) else "n/a"}
        for r in steps.to_dict("records")
    ]  # fmt: skip
    columns = {"label": "search", "step": "step", "offered_rate": "offered",
               "achieved_rate": "achieved", "p50_ms": "P50", "p95": "P95 [95 % interval]",
               "p99_ms": "P99", "error_rate": "errors", "service_cores": "service cores",
               "stub_cores": "stub cores", "generator_cores": "generator cores",
               "service_cpu_ms_per_request": "service CPU / request", "verdict": "verdict",
               "reason": "reason"}  # fmt: skip
    formats = {"offered_rate": _rate, "achieved_rate": _rate, "p50_ms": fmt_ms, "p99_ms": fmt_ms,
               "error_rate": fmt_percent, "service_cores": _cores, "stub_cores": _cores,
               "generator_cores": _cores, "service_cpu_ms_per_request": fmt_ms}  # fmt: skip
    return Table(rows, columns, formats, frozenset({*formats, "p95"} - {"reason"}))


def knees_table(knees: DataFrame) -> Table:
    columns = {"label": "search", "status": "status", "knee_rate": "capacity (sustained)",
               "bracket_low": "bracket low", "bracket_high": "bracket high",
               "achieved_rate": "achieved there", "service_cpu_ms_per_request":
               "service CPU / request", "steps": "steps", "message": "message"}  # fmt: skip
    formats = {"knee_rate": _rate, "bracket_low": _rate, "bracket_high": _rate,
               "achieved_rate": _rate, "service_cpu_ms_per_request": fmt_ms}  # fmt: skip
    return Table.from_frame(knees, columns, formats=formats, numeric=frozenset(formats))


def capacity_banner(run: RunPath) -> Html:
    """How the search ran, each search's knee in words, and the ratio of two searches' knees."""
    data = read_capacity(run)
    o, w = data["options"], data.get("workload") or {}
    mix = "/query only" if not (w.get("health_weight") or w.get("stats_weight")) else (
        f"actions query:health:stats = {w.get('query_weight')}:{w.get('health_weight')}:"
        f"{w.get('stats_weight')}")  # fmt: skip
    parts = [
        f"Open model, stepped: from {o['start_rate']:g} requests/s, x{o['factor']:g} per step "
        f"until a step is not sustained, then bisected to within {o['resolution']:.0%}; "
        f"{o['step_seconds']:g} s per step, at most {o['max_steps']} steps per search; {mix}; "
        f"{w.get('users', '?')} Locust users, a fresh workload seed per step."
    ]
    for search in data["searches"]:
        knee = search.get("knee") or {}
        said = knee.get("message") or search.get("error") or "no step finished"
        parts.append(f"<b>{escape(search['label'])}</b> ({escape(search['status'])}): "
                     f"{escape(said)}.")  # fmt: skip
    if ratio := data.get("ratio"):
        low, high = ratio["bracket"]
        bracket = f" [{_times(low)}, {_times(high)}]"
        names = [s["label"] for s in data["searches"][:2]]
        parts.append(f"Ratio {escape(names[1])} / {escape(names[0])}: "
                     f"<b>{ratio['rate']:.2f}x</b>{bracket} (the brackets' bounds).")  # fmt: skip
    return Html("".join(f"<p>{p}</p>" for p in parts))


def _times(value: float | None) -> str:
    return "open" if value is None else f"{value:.2f}x"
