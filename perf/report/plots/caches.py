"""Hit rates over time, per cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from perf.report.plots.style import (
    COLOURS,
    TARGET_COLOUR,
    WARMUP_SHADE,
    figure,
    is_nan,
    percent_axis,
    verdict_title,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["hit_rates_plot"]


def hit_rates_plot(over_time: Any, summary: Any, ceilings: Any) -> Figure:
    """One panel per cache: the hit rate per window (dots) and cumulative (line) against the
    seconds of the run, the warm-up shaded, the steady-state interval as a band coloured by its
    verdict, the target and the cold-miss ceiling as lines."""
    caches = list(summary["cache"])
    fig, axes = figure(len(caches) or 1)
    ceiling = {r["cache"]: r for r in ceilings.to_dict("records")}
    for ax, row in zip(axes, summary.to_dict("records"), strict=False):
        cache = row["cache"]
        data = over_time[over_time["cache"] == cache]
        verdict = row["verdict"]
        colour = COLOURS.get(verdict or "", "#0969da")
        ax.axvspan(
            0, row["warmup_s"], **WARMUP_SHADE, label=f"warm-up cut ({row['warmup_s']:.0f} s)"
        )
        ax.plot(
            data["end_s"],
            data["window_hit_rate"],
            "o",
            ms=3,
            color="#57606a",
            label="per 5 s window",
        )
        ax.plot(
            data["end_s"], data["cumulative_hit_rate"], "-", color="#0969da", label="cumulative"
        )
        end = float(data["end_s"].max()) if len(data) else 1.0
        ax.fill_between(
            [row["warmup_s"], end],
            row["low"],
            row["high"],
            color=colour,
            alpha=0.18,
            label=f"steady state {row['steady']:.1%} [{row['low']:.1%}, {row['high']:.1%}]",
        )
        if row["target"] is not None and not is_nan(row["target"]):
            ax.axhline(
                row["target"], color=TARGET_COLOUR, lw=1.2, label=f"target > {row['target']:.0%}"
            )
        else:
            ax.plot([], [], " ", label="target: none documented")
        limit = ceiling.get(cache, {}).get("ceiling")
        if limit is not None and not is_nan(limit):
            level = ceiling[cache]["keyed_on"]
            ax.axhline(
                limit,
                color="#8250df",
                ls="--",
                lw=1,
                label=f"cold-miss ceiling ({level}) {limit:.0%}",
            )
        same = f" (same counts as {row['same_as']})" if row.get("same_as") else ""
        verdict_title(ax, f"{cache}{same}", verdict)
        ax.set_ylim(0, 1.02)
        percent_axis(ax)
        ax.set_ylabel("hit rate")
        ax.legend(loc="lower right", ncol=2)
    axes[-1].set_xlabel("seconds into the load run")
    fig.tight_layout()
    return fig
