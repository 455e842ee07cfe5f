"""Tokens: per component against its cap, per query against the targets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from perf.report.plots.style import COLOURS, TARGET_COLOUR, figure, is_nan, log_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["token_components_plot", "tokens_per_query_plot"]


def token_components_plot(caps: Any) -> Figure:
    """Per prompt component: mean and max tokens per call after the budget (and before it,
    where the budget trimmed anything), the component's cap as a tick."""
    fig, (ax,) = figure(1, height=max(2.4, 0.55 * len(caps) + 1.2))
    rows = caps.to_dict("records")
    ys = list(range(len(rows)))
    for y, row in zip(ys, rows, strict=True):
        ax.barh(y, row["mean_after"], height=0.5, color="#0969da")
        ax.plot([row["max_after"]], [y], "D", color="#0969da", ms=5)
        if row["trimmed"]:
            ax.barh(y + 0.3, row["mean_before"], height=0.2, color="#afb8c1")
            ax.plot([row["max_before"]], [y + 0.3], "D", color="#afb8c1", ms=4)
        if row["cap"] is not None and not is_nan(row["cap"]):
            colour = COLOURS["fail" if row["max_after"] > row["cap"] else "pass"]
            ax.plot([row["cap"]], [y], "|", color=colour, ms=22, mew=2.5)
    ax.barh([], [], color="#0969da", label="mean after the budget (diamond: max)")
    ax.barh([], [], color="#afb8c1", label="before the budget (only where it cut)")
    ax.plot([], [], "|", color=COLOURS["pass"], ms=12, mew=2.5, label="target: the component's cap")
    ax.set_yticks(ys, [r["component"] for r in rows])
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("tokens per call (symlog)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def tokens_per_query_plot(per_query: Any, summary: Any) -> Figure:
    """Prompt tokens per query after the budget (histogram), the steady-state mean with its
    interval and the maximum, against both targets."""
    fig, (ax,) = figure(1, height=3.0)
    ax.hist(per_query["tokens_after"], bins=40, color="#afb8c1")
    for row in summary.to_dict("records"):
        colour = COLOURS.get(row["verdict"] or "", "#0969da")
        ax.axvline(row["tokens"], color=colour, lw=2, label=f"{row['figure']} {row['tokens']:,.0f}")
        if row["low"] is not None and not is_nan(row["low"]):
            ax.axvspan(row["low"], row["high"], color=colour, alpha=0.2)
        if row["target"] is not None and not is_nan(row["target"]):
            ax.axvline(
                row["target"],
                color=TARGET_COLOUR,
                ls="--",
                lw=1.2,
                label=f"target {row['figure'].split(' (')[0]} < {row['target']:,.0f}",
            )
    log_axis(ax)
    ax.set_xlabel("prompt tokens per query after the budget (log)")
    ax.set_ylabel("queries")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig
