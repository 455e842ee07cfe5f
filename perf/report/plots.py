"""The reports' figures (matplotlib, drawn from the frames of ``perf.report``): every figure
draws its target (a line labelled ``target ...``), colours pass / fail / inconclusive, and
states its units. ``setup()`` makes the notebooks emit compact SVG (text as text).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from perf.report.display import fmt_duration

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "COLOURS",
    "TARGET_COLOUR",
    "bars_plot",
    "capacity_plot",
    "compare_bars_plot",
    "compare_spectra_plot",
    "db_plot",
    "hit_rates_plot",
    "load_plot",
    "medians_plot",
    "setup",
    "spectrum_plot",
    "token_components_plot",
    "tokens_per_query_plot",
    "trend_plot",
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


def _figure(rows: int, height: float = 2.6, width: float = 9.0) -> tuple[Figure, list[Axes]]:
    import matplotlib.pyplot as plt  # noqa: PLC0415 - only the notebooks draw

    fig, axes = plt.subplots(rows, 1, figsize=(width, max(2.2, height * rows)), squeeze=False)
    return fig, [row[0] for row in axes]


def _verdict_title(ax: Axes, text: str, verdict: str | None) -> None:
    verdict = verdict if isinstance(verdict, str) else None  # pandas gives NaN for none
    ax.set_title(
        text + (f": {verdict}" if verdict else ""),
        loc="left",
        color=COLOURS.get(verdict or "", TARGET_COLOUR),
        fontsize=10,
        fontweight="bold",
    )


def _percent_axis(ax: Axes) -> None:
    from matplotlib.ticker import PercentFormatter  # noqa: PLC0415

    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def hit_rates_plot(over_time: Any, summary: Any, ceilings: Any) -> Figure:
    """One panel per cache: the hit rate per window (dots) and cumulative (line) against the
    seconds of the run, the warm-up shaded, the steady-state interval as a band coloured by its
    verdict, the target and the cold-miss ceiling as lines."""
    caches = list(summary["cache"])
    fig, axes = _figure(len(caches) or 1)
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
        if row["target"] is not None and not _nan(row["target"]):
            ax.axhline(
                row["target"], color=TARGET_COLOUR, lw=1.2, label=f"target > {row['target']:.0%}"
            )
        else:
            ax.plot([], [], " ", label="target: none documented")
        limit = ceiling.get(cache, {}).get("ceiling")
        if limit is not None and not _nan(limit):
            level = ceiling[cache]["keyed_on"]
            ax.axhline(
                limit,
                color="#8250df",
                ls="--",
                lw=1,
                label=f"cold-miss ceiling ({level}) {limit:.0%}",
            )
        same = f" (same counts as {row['same_as']})" if row.get("same_as") else ""
        _verdict_title(ax, f"{cache}{same}", verdict)
        ax.set_ylim(0, 1.02)
        _percent_axis(ax)
        ax.set_ylabel("hit rate")
        ax.legend(loc="lower right", ncol=2)
    axes[-1].set_xlabel("seconds into the load run")
    fig.tight_layout()
    return fig


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _missing(value: Any) -> bool:
    return value is None or _nan(value)


def _whiskers(
    rows: Sequence[Mapping[str, Any]], mid: str, low: str, high: str
) -> list[list[float]]:
    """``[below, above]`` distances for ``errorbar``; 0 where a row has no interval."""
    return [[0.0 if _missing(r[low]) else r[mid] - r[low] for r in rows],
            [0.0 if _missing(r[high]) else r[high] - r[mid] for r in rows]]  # fmt: skip


def _log(ax: Axes, axis: str = "x", fmt: Callable[[float], str] | None = None) -> None:
    """A log axis labelled at 1, 2 and 5 of every decade, plainly (``20``, ``500``, or ``fmt``:
    e.g. ``2.0 µs``), never ``3x10^0``."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: PLC0415

    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    shown = fmt or (lambda v: f"{v:,.10g}")
    target.set_major_formatter(FuncFormatter(lambda v, _: shown(v)))
    target.set_minor_formatter(NullFormatter())


def _percentile_axis(ax: Axes, top: float) -> None:
    from matplotlib.ticker import NullFormatter  # noqa: PLC0415

    ticks = [t for t in (2, 10, 100, 1000, 10000, 100000) if t <= max(top, 10)]
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(ticks, [f"{100 - 100 / t:g}%" for t in ticks])
    ax.set_xlim(1.8, max(top, 10) * 1.2)
    ax.set_xlabel("percentile (log 1 / (1 - p))")


def spectrum_plot(
    spectrum: Any, slos: Mapping[str, tuple[float, float]], verdicts: Mapping[str, str]
) -> Figure:
    """One panel per endpoint: latency (ms, log) at each percentile, exact vs Locust-rounded vs
    CO-corrected, and the target as a step: at most ``limit`` ms up to its percentile.
    ``slos`` maps an endpoint to ``(quantile, limit_ms)``; ``verdicts`` to the gate's verdict."""
    endpoints = sorted(spectrum["endpoint"].unique(), key=lambda e: (e not in slos, e))
    fig, axes = _figure(len(endpoints) or 1, height=2.8)
    for ax, endpoint in zip(axes, endpoints, strict=False):
        data = spectrum[spectrum["endpoint"] == endpoint]
        for kind, rows in data.groupby("kind", sort=False):
            style: dict[str, Any] = KIND_STYLES.get(str(kind), {})
            ax.plot(
                rows["one_over"],
                rows["latency_ms"],
                lw=1.4,
                drawstyle="steps-post",
                label=f"{kind} ({int(rows['n'].iloc[0]):,} samples)",
                **style,
            )
        top = float(data["one_over"].max()) if len(data) else 10.0
        if endpoint in slos:
            q, limit = slos[endpoint]
            edge = 1 / (1 - q)
            ax.plot(
                [1.8, edge, edge],
                [limit, limit, limit * 100],
                color=TARGET_COLOUR,
                lw=1.2,
                label=f"target P{q * 100:g} < {limit:g} ms",
            )
        else:
            ax.plot([], [], " ", label="target: none documented")
        _percentile_axis(ax, top)
        ax.set_yscale("log")
        ax.set_ylabel("latency (ms)")
        _verdict_title(ax, endpoint, verdicts.get(endpoint))
        ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def load_plot(over_time: Any, slos: Mapping[str, tuple[float, float]], bucket_s: float) -> Figure:
    """P50 / P95 / P99 per time bucket of the endpoints with a target (their P95 targets as
    lines), and below it the requests per second per endpoint with the users."""
    fig, (top, bottom) = _figure(2, height=3.0)
    shown = [e for e in over_time["endpoint"].unique() if e in slos] or list(
        over_time["endpoint"].unique()[:1]
    )
    for n, endpoint in enumerate(shown):
        rows = over_time[over_time["endpoint"] == endpoint]
        for column, style in (("p50_ms", ":"), ("p95_ms", "-"), ("p99_ms", "--")):
            top.plot(
                rows["start_s"],
                rows[column],
                style,
                color=f"C{n}",
                lw=1.3,
                label=f"{endpoint} {column[:3].upper()}",
            )
        if endpoint in slos:
            q, limit = slos[endpoint]
            top.axhline(
                limit,
                color=f"C{n}",
                lw=1,
                alpha=0.8,
                label=f"target {endpoint} P{q * 100:g} < {limit:g} ms",
            )
    _log(top, "y")
    top.set_ylabel("latency (ms)")
    top.set_title(f"percentiles per {bucket_s:g} s", loc="left", fontsize=10)
    top.legend(loc="upper right", ncol=3)
    for endpoint, rows in over_time.groupby("endpoint"):
        bottom.plot(rows["start_s"], rows["requests_per_s"], lw=1.2, label=f"{endpoint}")
    bottom.set_ylabel("requests / s")
    bottom.set_xlabel("seconds into the load run")
    users = over_time.dropna(subset=["users"]) if "users" in over_time else over_time.iloc[0:0]
    if len(users):
        twin = bottom.twinx()
        twin.step(
            users["start_s"], users["users"], where="post", color="#57606a", lw=1, label="users"
        )
        twin.set_ylabel("users")
        twin.set_ylim(0, float(users["users"].max()) * 1.2)
        twin.legend(loc="upper left")
    bottom.legend(loc="upper right", ncol=3)
    bottom.set_title("throughput", loc="left", fontsize=10)
    fig.tight_layout()
    return fig


def db_plot(db: Any, limit: float | None) -> Figure | None:
    """Per database operation: P95 in the warm-up and in steady state (with its interval), the
    target as a vertical line; bars coloured by the steady state's verdict. ``None`` (nothing
    drawn) when the run recorded no database reads."""
    if not len(db):
        return None
    fig, (ax,) = _figure(1, height=max(2.4, 0.45 * len(db) + 1.2))
    ys = list(range(len(db)))
    rows = db.to_dict("records")
    for y, row in zip(ys, rows, strict=True):
        verdict = _verdict(row["steady_low_ms"], row["steady_high_ms"], limit)
        ax.barh(
            y + 0.2,
            row["steady_p95_ms"],
            height=0.38,
            color=COLOURS.get(verdict, "#0969da"),
            xerr=[
                [row["steady_p95_ms"] - row["steady_low_ms"]],
                [row["steady_high_ms"] - row["steady_p95_ms"]],
            ],
            capsize=3,
        )
        if row["warmup_p95_ms"] is not None and not _nan(row["warmup_p95_ms"]):
            ax.barh(y - 0.2, row["warmup_p95_ms"], height=0.38, color="#afb8c1")
    ax.barh([], [], color="#afb8c1", label="warm-up P95")
    ax.barh([], [], color="#57606a", label="steady-state P95 (95 % interval)")
    if limit is not None:
        ax.axvline(limit, color=TARGET_COLOUR, lw=1.2, label=f"target P95 < {limit:g} ms")
    ax.set_yticks(ys, [r["operation"] for r in rows])
    _log(ax)
    ax.set_xlabel("P95 (ms, log)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _verdict(low: float, high: float, limit: float | None) -> str:
    if limit is None:
        return ""
    return "pass" if high < limit else "fail" if low >= limit else "inconclusive"


def token_components_plot(caps: Any) -> Figure:
    """Per prompt component: mean and max tokens per call after the budget (and before it,
    where the budget trimmed anything), the component's cap as a tick."""
    fig, (ax,) = _figure(1, height=max(2.4, 0.55 * len(caps) + 1.2))
    rows = caps.to_dict("records")
    ys = list(range(len(rows)))
    for y, row in zip(ys, rows, strict=True):
        ax.barh(y, row["mean_after"], height=0.5, color="#0969da")
        ax.plot([row["max_after"]], [y], "D", color="#0969da", ms=5)
        if row["trimmed"]:
            ax.barh(y + 0.3, row["mean_before"], height=0.2, color="#afb8c1")
            ax.plot([row["max_before"]], [y + 0.3], "D", color="#afb8c1", ms=4)
        if row["cap"] is not None and not _nan(row["cap"]):
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
    fig, (ax,) = _figure(1, height=3.0)
    ax.hist(per_query["tokens_after"], bins=40, color="#afb8c1")
    for row in summary.to_dict("records"):
        colour = COLOURS.get(row["verdict"] or "", "#0969da")
        ax.axvline(row["tokens"], color=colour, lw=2, label=f"{row['figure']} {row['tokens']:,.0f}")
        if row["low"] is not None and not _nan(row["low"]):
            ax.axvspan(row["low"], row["high"], color=colour, alpha=0.2)
        if row["target"] is not None and not _nan(row["target"]):
            ax.axvline(
                row["target"],
                color=TARGET_COLOUR,
                ls="--",
                lw=1.2,
                label=f"target {row['figure'].split(' (')[0]} < {row['target']:,.0f}",
            )
    _log(ax)
    ax.set_xlabel("prompt tokens per query after the budget (log)")
    ax.set_ylabel("queries")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def bars_plot(bars: Any) -> Figure:
    """Every speed bar: the ratio ours / peer (log axis) with its interval, coloured by the
    verdict, and the bar as a tick: the most ``ours / peer`` may be."""
    rows = bars.to_dict("records")
    fig, (ax,) = _figure(1, height=max(2.4, 0.32 * len(rows) + 1.2), width=10)
    ys = list(range(len(rows)))[::-1]
    for verdict in sorted({r["verdict"] for r in rows}):  # one call per colour: a lean SVG
        mine = [(y, r) for y, r in zip(ys, rows, strict=True)
                if r["verdict"] == verdict and not _missing(r["ratio"])]  # fmt: skip
        if not mine:
            continue
        ax.errorbar([r["ratio"] for _, r in mine], [y for y, _ in mine],
                    xerr=_whiskers([r for _, r in mine], "ratio", "low", "high"), fmt="o",
                    color=COLOURS.get(verdict, "#57606a"), ms=5, capsize=2)  # fmt: skip
    ax.plot([r["bar"] for r in rows], ys, "|", color=TARGET_COLOUR, ms=14, mew=2)
    ax.plot([], [], "|", color=TARGET_COLOUR, ms=10, mew=2, label="target: the bar (at most)")
    for verdict in ("pass", "fail"):
        ax.plot([], [], "o", color=COLOURS[verdict], label=f"ours / peer: {verdict}")
    ax.axvline(1.0, color="#afb8c1", lw=1)
    _log(ax)
    ax.set_yticks(ys, [_short(r["label"]) for r in rows], fontsize=8)
    ax.set_xlabel("ours / peer (ratio of medians, log; < 1: ours is faster)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _short(label: str, width: int = 70) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def medians_plot(spread: Any, groups: Sequence[str] | None = None) -> Figure:
    """Median time per operation (log) with the interquartile range, per benchmark, grouped;
    benchmarks have no targets of their own: the bars are their targets (see above)."""
    data = spread if groups is None else spread[spread["group"].isin(groups)]
    rows = data.sort_values(["group", "name"]).to_dict("records")
    fig, (ax,) = _figure(1, height=max(2.4, 0.22 * len(rows) + 1.0), width=10)
    ys = list(range(len(rows)))[::-1]
    if rows:  # one call for every row: one path in the SVG, not one per benchmark
        ax.errorbar([r["median_s"] for r in rows], ys,
                    xerr=_whiskers(rows, "median_s", "q1_s", "q3_s"), fmt="o", ms=3,
                    color="#0969da", capsize=0)  # fmt: skip
    ax.set_yticks(ys, [_short(f"{r['group']}: {r['name']}", 60) for r in rows], fontsize=7)
    _log(ax, fmt=fmt_duration)
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
        _log(ax, "y")
        ax.set_xticks(ticks, names, rotation=30, fontsize=7, ha="right")
        ax.set_title(_short(label, 48), loc="left", fontsize=8)
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
    fig, (ax,) = _figure(1, height=max(2.4, 0.34 * len(rows) + 1.2), width=10)
    change_colour = {"slower": COLOURS["fail"], "faster": COLOURS["pass"]}
    ys = list(range(len(rows)))[::-1]
    for y, row in zip(ys, rows, strict=True):
        head_colour = change_colour.get(row["change"], "#0969da")
        for side, dy, colour in (("base", 0.15, "#8c959f"), ("head", -0.15, head_colour)):
            value, low, high = row[f"{side}_ratio"], row[f"{side}_low"], row[f"{side}_high"]
            if value is None or _nan(value):
                continue
            err = None if low is None or _nan(low) else [[value - low], [high - value]]
            ax.errorbar([value], [y + dy], xerr=err, fmt="o", ms=4, color=colour, capsize=2)
        ax.plot([row["bar"]], [y], "|", color=TARGET_COLOUR, ms=14, mew=2)
    ax.plot([], [], "|", color=TARGET_COLOUR, ms=10, mew=2, label="target: the bar (at most)")
    ax.plot([], [], "o", color="#8c959f", label="base")
    for change, colour in (("slower", COLOURS["fail"]), ("faster", COLOURS["pass"]),
                           ("same", "#0969da")):  # fmt: skip
        ax.plot([], [], "o", color=colour, label=f"head: {change}")
    _log(ax)
    ax.set_yticks(ys, [_short(r["label"]) for r in rows], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("ours / peer (ratio of medians, log)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def compare_spectra_plot(
    base: Any, head: Any, slos: Mapping[str, tuple[float, float]], names: tuple[str, str]
) -> Figure:
    """Per endpoint of both runs: the two latency spectra overlaid (exact where the run has a
    request log, else Locust-rounded), and the target step."""

    def best(frame: Any) -> Any:
        kinds = set(frame["kind"])
        kind = "exact" if "exact" in kinds else "Locust-rounded"
        return frame[frame["kind"] == kind]

    base, head = best(base), best(head)
    endpoints = sorted(set(base["endpoint"]) | set(head["endpoint"]),
                       key=lambda e: (e not in slos, e))  # fmt: skip
    fig, axes = _figure(len(endpoints) or 1, height=2.6)
    for ax, endpoint in zip(axes, endpoints, strict=False):
        top = 10.0
        for frame, name, style in ((base, names[0], "--"), (head, names[1], "-")):
            data = frame[frame["endpoint"] == endpoint]
            if len(data):
                ax.plot(data["one_over"], data["latency_ms"], style, drawstyle="steps-post",
                        lw=1.4, label=f"{name} ({int(data['n'].iloc[0]):,})")  # fmt: skip
                top = max(top, float(data["one_over"].max()))
        if endpoint in slos:
            q, limit = slos[endpoint]
            ax.axhline(
                limit, color=TARGET_COLOUR, lw=1, label=f"target P{q * 100:g} < {limit:g} ms"
            )
            ax.axvline(1 / (1 - q), color=TARGET_COLOUR, lw=0.8, ls=":")
        else:
            ax.plot([], [], " ", label="target: none documented")
        _percentile_axis(ax, top)
        _log(ax, "y")
        ax.set_ylabel("latency (ms)")
        ax.set_title(endpoint, loc="left", fontsize=10)
        ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def capacity_plot(steps: Any, knees: Any, slos: Mapping[str, tuple[float, float]]) -> Figure:
    """Above: ``/query`` P50 / P95 / P99 (log ms, bars: 95 % intervals) against the achieved
    throughput of each step, one colour per search, the latency targets as lines and each
    search's knee (highest sustained step) ringed. Below: achieved against offered rate, each
    step coloured by its verdict, with the line achieved = offered and the 95 % bound."""
    fig, (top, bottom) = _figure(2, height=3.4)
    markers = {"p50": ("v", ":"), "p95": ("o", "-"), "p99": ("^", "--")}
    for n, (search, unsorted) in enumerate(steps.groupby("search", sort=False)):
        rows = unsorted.sort_values("achieved_rate")
        records = rows.to_dict("records")
        for key, (marker, line) in markers.items():
            top.errorbar(rows["achieved_rate"], rows[f"{key}_ms"],
                         yerr=_whiskers(records, f"{key}_ms", f"{key}_low", f"{key}_high"),
                         fmt=marker + line, color=f"C{n}", ms=4, lw=1, capsize=2,
                         label=f"{search} {key.upper()}")  # fmt: skip
        knee = knees[knees["search"] == search].to_dict("records")
        best = [r for r in records if knee and r["offered_rate"] == knee[0]["knee_rate"]]
        if best:
            low, high = knee[0]["bracket_low"], knee[0]["bracket_high"]
            bracket = f"{low:.3g} to {high:.3g}" if not _missing(high) else f">= {low:.3g}"
            top.plot(best[0]["achieved_rate"], best[0]["p95_ms"], "o", ms=13, mfc="none",
                     mec=f"C{n}", mew=2, label=f"{search} knee (offered {bracket} /s)")  # fmt: skip
    for endpoint, (q, limit) in slos.items():
        if endpoint == "/query":
            top.axhline(limit, color=TARGET_COLOUR, lw=1.2,
                        label=f"target P{q * 100:g} < {limit:g} ms")  # fmt: skip
    _log(top, "y")
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
