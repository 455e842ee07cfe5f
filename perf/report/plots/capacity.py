"""Capacity: latency against throughput per step, the knee ringed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perf.report.plots.style import COLOURS, TARGET_COLOUR, figure, is_missing, log_axis, whiskers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["capacity_plot"]


def capacity_plot(steps: Any, knees: Any, slos: Mapping[str, tuple[float, float]]) -> Figure:
    """Above: ``/query`` P50 / P95 / P99 (log ms, bars: 95 % intervals) against the achieved
    throughput of each step, one colour per search, the latency targets as lines and each
    search's knee (highest sustained step) ringed. Below: achieved against offered rate, each
    step coloured by its verdict, with the line achieved = offered and the 95 % bound."""
    fig, (top, bottom) = figure(2, height=3.4)
    markers = {"p50": ("v", ":"), "p95": ("o", "-"), "p99": ("^", "--")}
    for n, (search, unsorted) in enumerate(steps.groupby("search", sort=False)):
        rows = unsorted.sort_values("achieved_rate")
        records = rows.to_dict("records")
        for key, (marker, line) in markers.items():
            top.errorbar(rows["achieved_rate"], rows[f"{key}_ms"],
                         yerr=whiskers(records, f"{key}_ms", f"{key}_low", f"{key}_high"),
                         fmt=marker + line, color=f"C{n}", ms=4, lw=1, capsize=2,
                         label=f"{search} {key.upper()}")  # fmt: skip
        knee = knees[knees["search"] == search].to_dict("records")
        best = [r for r in records if knee and r["offered_rate"] == knee[0]["knee_rate"]]
        if best:
            low, high = knee[0]["bracket_low"], knee[0]["bracket_high"]
            bracket = f"{low:.3g} to {high:.3g}" if not is_missing(high) else f">= {low:.3g}"
            top.plot(best[0]["achieved_rate"], best[0]["p95_ms"], "o", ms=13, mfc="none",
                     mec=f"C{n}", mew=2, label=f"{search} knee (offered {bracket} /s)")  # fmt: skip
    for endpoint, (q, limit) in slos.items():
        if endpoint == "/query":
            top.axhline(limit, color=TARGET_COLOUR, lw=1.2,
                        label=f"target P{q * 100:g} < {limit:g} ms")  # fmt: skip
    log_axis(top, "y")
    low, high = top.get_ylim()
    top.set_ylim(low, high * 3)  # room for the legend above the curves
    top.set_ylabel("/query latency (ms)")
    top.set_xlabel("achieved throughput (requests / s, steady state)")
    top.legend(loc="upper left", ncol=3, fontsize=7)
    for verdict, rows in steps.groupby("verdict"):
        colour = COLOURS.get(str(verdict), "#57606a")
        bottom.plot(rows["offered_rate"], rows["achieved_rate"], "o", color=colour,
                    label=f"step: {verdict}")  # fmt: skip
    top_rate = float(max(steps["offered_rate"].max(), steps["achieved_rate"].max(), 1.0)) * 1.1
    bottom.plot([0, top_rate], [0, top_rate], color=TARGET_COLOUR, lw=1, label="achieved = offered")
    bottom.plot([0, top_rate], [0, 0.95 * top_rate], color=TARGET_COLOUR, lw=1, ls=":",
                label="95 % of offered (below: not sustained)")  # fmt: skip
    bottom.set_xlabel("offered rate (requests / s, open model)")
    bottom.set_ylabel("achieved (requests / s)")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    return fig
