"""Benchmarks: speed bars, medians with spread, trends, two runs compared."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from perf.report.display import fmt_duration
from perf.report.plots.style import (
    COLOURS,
    TARGET_COLOUR,
    figure,
    is_missing,
    is_nan,
    log_axis,
    shorten,
    whiskers,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["bars_plot", "compare_bars_plot", "medians_plot", "trend_plot"]


def bars_plot(bars: Any) -> Figure:
    """Every speed bar: the ratio ours / peer (log axis) with its interval, coloured by the
    verdict, and the bar as a tick: the most ``ours / peer`` may be."""
    rows = bars.to_dict("records")
    fig, (ax,) = figure(1, height=max(2.4, 0.32 * len(rows) + 1.2), width=10)
    ys = list(range(len(rows)))[::-1]
    for verdict in sorted({r["verdict"] for r in rows}):  # one call per colour: a lean SVG
        mine = [(y, r) for y, r in zip(ys, rows, strict=True)
                if r["verdict"] == verdict and not is_missing(r["ratio"])]  # fmt: skip
        if not mine:
            continue
        ax.errorbar([r["ratio"] for _, r in mine], [y for y, _ in mine],
                    xerr=whiskers([r for _, r in mine], "ratio", "low", "high"), fmt="o",
                    color=COLOURS.get(verdict, "#57606a"), ms=5, capsize=2)  # fmt: skip
    ax.plot([r["bar"] for r in rows], ys, "|", color=TARGET_COLOUR, ms=14, mew=2)
    ax.plot([], [], "|", color=TARGET_COLOUR, ms=10, mew=2, label="target: the bar (at most)")
    for verdict in ("pass", "fail"):
        ax.plot([], [], "o", color=COLOURS[verdict], label=f"ours / peer: {verdict}")
    ax.axvline(1.0, color="#afb8c1", lw=1)
    log_axis(ax)
    ax.set_yticks(ys, [shorten(r["label"]) for r in rows], fontsize=8)
    ax.set_xlabel("ours / peer (ratio of medians, log; < 1: ours is faster)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def medians_plot(spread: Any, groups: Sequence[str] | None = None) -> Figure:
    """Median time per operation (log) with the interquartile range, per benchmark, grouped;
    benchmarks have no targets of their own: the bars are their targets (see above)."""
    data = spread if groups is None else spread[spread["group"].isin(groups)]
    rows = data.sort_values(["group", "name"]).to_dict("records")
    fig, (ax,) = figure(1, height=max(2.4, 0.22 * len(rows) + 1.0), width=10)
    ys = list(range(len(rows)))[::-1]
    if rows:  # one call for every row: one path in the SVG, not one per benchmark
        ax.errorbar([r["median_s"] for r in rows], ys,
                    xerr=whiskers(rows, "median_s", "q1_s", "q3_s"), fmt="o", ms=3,
                    color="#0969da", capsize=0)  # fmt: skip
    ax.set_yticks(ys, [shorten(f"{r['group']}: {r['name']}", 60) for r in rows], fontsize=7)
    log_axis(ax, fmt=fmt_duration)
    ax.set_xlabel("median time per operation (log; whiskers: quartiles)")
    fig.tight_layout()
    return fig


def trend_plot(trend: Any, columns: int = 3) -> Figure | None:
    """One small panel per speed bar: its ratio ours / peer in each run (x: the runs in order,
    labelled by commit), the interval as whiskers, the bar as the target line; a red x where
    a run went over its bar, an amber triangle where its interval lies wholly above the run
    before's (a regression). ``None`` when no run has bars."""
    import matplotlib.pyplot as plt  # noqa: PLC0415 - only the notebooks draw

    labels = list(dict.fromkeys(trend["label"]))
    if not labels:
        return None
    rows = math.ceil(len(labels) / columns)
    fig, grid = plt.subplots(rows, columns, figsize=(11, 2.3 * rows), squeeze=False)
    runs = trend.drop_duplicates("order").sort_values("order")
    ticks = list(runs["order"])
    names = [
        f"{c}{'*' if d else ''}{' (base)' if b else ''}"
        for c, d, b in zip(runs["commit"], runs["dirty"], runs["baseline"], strict=True)
    ]
    axes = [ax for row in grid for ax in row]
    for ax, label in zip(axes, labels, strict=False):
        data = trend[trend["label"] == label].sort_values("order")
        err = None
        if data["low"].notna().all():
            err = [data["ratio"] - data["low"], data["high"] - data["ratio"]]
        ax.errorbar(data["order"], data["ratio"], yerr=err, fmt="o-", ms=3, lw=1,
                    color="#0969da", capsize=2)  # fmt: skip
        ax.axhline(
            float(data["bar"].iloc[-1]), color=TARGET_COLOUR, lw=1.2, label="target: the bar"
        )
        over, worse = data[data["over_bar"]], data[data["regressed"]]
        ax.plot(over["order"], over["ratio"], "x", color=COLOURS["fail"], ms=8, mew=2,
                label="over the bar")  # fmt: skip
        ax.plot(worse["order"], worse["ratio"], "^", color=COLOURS["inconclusive"], ms=7,
                label="regressed (interval above the run before's)")  # fmt: skip
        log_axis(ax, "y")
        ax.set_xticks(ticks, names, rotation=30, fontsize=7, ha="right")
        ax.set_title(shorten(label, 48), loc="left", fontsize=8)
    for ax in axes[len(labels) :]:
        ax.axis("off")
    axes[0].set_ylabel("ours / peer (log)")
    axes[0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig


def compare_bars_plot(comparison: Any) -> Figure:
    """Every bar in both runs: base (grey) and head (coloured by its change: red slower,
    green faster, blue the same) with their intervals, ours / peer on a log axis, the bar as
    the target tick."""
    rows = comparison.to_dict("records")
    fig, (ax,) = figure(1, height=max(2.4, 0.34 * len(rows) + 1.2), width=10)
    change_colour = {"slower": COLOURS["fail"], "faster": COLOURS["pass"]}
    ys = list(range(len(rows)))[::-1]
    for y, row in zip(ys, rows, strict=True):
        head_colour = change_colour.get(row["change"], "#0969da")
        for side, dy, colour in (("base", 0.15, "#8c959f"), ("head", -0.15, head_colour)):
            value, low, high = row[f"{side}_ratio"], row[f"{side}_low"], row[f"{side}_high"]
            if value is None or is_nan(value):
                continue
            err = None if low is None or is_nan(low) else [[value - low], [high - value]]
            ax.errorbar([value], [y + dy], xerr=err, fmt="o", ms=4, color=colour, capsize=2)
        ax.plot([row["bar"]], [y], "|", color=TARGET_COLOUR, ms=14, mew=2)
    ax.plot([], [], "|", color=TARGET_COLOUR, ms=10, mew=2, label="target: the bar (at most)")
    ax.plot([], [], "o", color="#8c959f", label="base")
    for change, colour in (("slower", COLOURS["fail"]), ("faster", COLOURS["pass"]),
                           ("same", "#0969da")):  # fmt: skip
        ax.plot([], [], "o", color=colour, label=f"head: {change}")
    log_axis(ax)
    ax.set_yticks(ys, [shorten(r["label"]) for r in rows], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("ours / peer (ratio of medians, log)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
