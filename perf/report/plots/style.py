"""The reports' shared look: colours per verdict, the target's colour, SVG set-up, axis helpers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "COLOURS",
    "KIND_STYLES",
    "TARGET_COLOUR",
    "WARMUP_SHADE",
    "figure",
    "is_missing",
    "is_nan",
    "log_axis",
    "percent_axis",
    "percentile_axis",
    "setup",
    "shorten",
    "verdict_of",
    "verdict_title",
    "whiskers",
]

COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700", "no data": "#6e7781"}


TARGET_COLOUR = "#1f2328"


KIND_STYLES: dict[str, dict[str, Any]] = {
    "exact": {"color": "#0969da", "linestyle": "-"},
    "Locust-rounded": {"color": "#8250df", "linestyle": "--"},
    "CO-corrected": {"color": "#bc4c00", "linestyle": ":"},
}


WARMUP_SHADE: dict[str, Any] = {"color": "#afb8c1", "alpha": 0.35}


def setup() -> None:
    """SVG figures with text kept as text (small and sharp), and a plain style."""
    import matplotlib as mpl  # noqa: PLC0415 - only the notebooks draw

    mpl.rcParams.update(
        {
            "svg.fonttype": "none",
            "figure.dpi": 96,
            "figure.figsize": (9, 4),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 10,
            "legend.fontsize": 8,
            "legend.frameon": False,
            "svg.hashsalt": "perf",  # stable ids: the same run renders the same page
        }
    )
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats  # noqa: PLC0415

        set_matplotlib_formats("svg")  # type: ignore[no-untyped-call]
    except ImportError:  # not inside IPython: nothing to configure
        pass


def figure(rows: int, height: float = 2.6, width: float = 9.0) -> tuple[Figure, list[Axes]]:
    import matplotlib.pyplot as plt  # noqa: PLC0415 - only the notebooks draw

    fig, axes = plt.subplots(rows, 1, figsize=(width, max(2.2, height * rows)), squeeze=False)
    return fig, [row[0] for row in axes]


def verdict_title(ax: Axes, text: str, verdict: str | None) -> None:
    verdict = verdict if isinstance(verdict, str) else None  # pandas gives NaN for none
    ax.set_title(
        text + (f": {verdict}" if verdict else ""),
        loc="left",
        color=COLOURS.get(verdict or "", TARGET_COLOUR),
        fontsize=10,
        fontweight="bold",
    )


def percent_axis(ax: Axes) -> None:
    from matplotlib.ticker import PercentFormatter  # noqa: PLC0415

    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def is_missing(value: Any) -> bool:
    return value is None or is_nan(value)


def whiskers(rows: Sequence[Mapping[str, Any]], mid: str, low: str, high: str) -> list[list[float]]:
    """``[below, above]`` distances for ``errorbar``; 0 where a row has no interval."""
    return [[0.0 if is_missing(r[low]) else r[mid] - r[low] for r in rows],
            [0.0 if is_missing(r[high]) else r[high] - r[mid] for r in rows]]  # fmt: skip


def log_axis(ax: Axes, axis: str = "x", fmt: Callable[[float], str] | None = None) -> None:
    """A log axis labelled at 1, 2 and 5 of every decade, plainly (``20``, ``500``, or ``fmt``:
    e.g. ``2.0 µs``), never ``3x10^0``."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: PLC0415

    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    shown = fmt or (lambda v: f"{v:,.10g}")
    target.set_major_formatter(FuncFormatter(lambda v, _: shown(v)))
    target.set_minor_formatter(NullFormatter())


def percentile_axis(ax: Axes, top: float) -> None:
    from matplotlib.ticker import NullFormatter  # noqa: PLC0415

    ticks = [t for t in (2, 10, 100, 1000, 10000, 100000) if t <= max(top, 10)]
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(ticks, [f"{100 - 100 / t:g}%" for t in ticks])
    ax.set_xlim(1.8, max(top, 10) * 1.2)
    ax.set_xlabel("percentile (log 1 / (1 - p))")


def verdict_of(low: float, high: float, limit: float | None) -> str:
    if limit is None:
        return ""
    return "pass" if high < limit else "fail" if low >= limit else "inconclusive"


def shorten(label: str, width: int = 70) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
