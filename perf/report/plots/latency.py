"""Latency: percentile spectra, over time, the database reads, two runs overlaid."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perf.report.plots.style import (
    COLOURS,
    KIND_STYLES,
    TARGET_COLOUR,
    figure,
    is_nan,
    log_axis,
    percentile_axis,
    verdict_of,
    verdict_title,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["compare_spectra_plot", "db_plot", "load_plot", "spectrum_plot"]


def spectrum_plot(
    spectrum: Any, slos: Mapping[str, tuple[float, float]], verdicts: Mapping[str, str]
) -> Figure:
    """One panel per endpoint: latency (ms, log) at each percentile, exact vs Locust-rounded vs
    CO-corrected, and the target as a step: at most ``limit`` ms up to its percentile.
    ``slos`` maps an endpoint to ``(quantile, limit_ms)``; ``verdicts`` to the gate's verdict."""
    endpoints = sorted(spectrum["endpoint"].unique(), key=lambda e: (e not in slos, e))
    fig, axes = figure(len(endpoints) or 1, height=2.8)
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
        percentile_axis(ax, top)
        ax.set_yscale("log")
        ax.set_ylabel("latency (ms)")
        verdict_title(ax, endpoint, verdicts.get(endpoint))
        ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def load_plot(over_time: Any, slos: Mapping[str, tuple[float, float]], bucket_s: float) -> Figure:
    """P50 / P95 / P99 per time bucket of the endpoints with a target (their P95 targets as
    lines), and below it the requests per second per endpoint with the users."""
    fig, (top, bottom) = figure(2, height=3.0)
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
    log_axis(top, "y")
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
    fig, (ax,) = figure(1, height=max(2.4, 0.45 * len(db) + 1.2))
    ys = list(range(len(db)))
    rows = db.to_dict("records")
    for y, row in zip(ys, rows, strict=True):
        verdict = verdict_of(row["steady_low_ms"], row["steady_high_ms"], limit)
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
        if row["warmup_p95_ms"] is not None and not is_nan(row["warmup_p95_ms"]):
            ax.barh(y - 0.2, row["warmup_p95_ms"], height=0.38, color="#afb8c1")
    ax.barh([], [], color="#afb8c1", label="warm-up P95")
    ax.barh([], [], color="#57606a", label="steady-state P95 (95 % interval)")
    if limit is not None:
        ax.axvline(limit, color=TARGET_COLOUR, lw=1.2, label=f"target P95 < {limit:g} ms")
    ax.set_yticks(ys, [r["operation"] for r in rows])
    log_axis(ax)
    ax.set_xlabel("P95 (ms, log)")
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
    fig, axes = figure(len(endpoints) or 1, height=2.6)
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
        percentile_axis(ax, top)
        log_axis(ax, "y")
        ax.set_ylabel("latency (ms)")
        ax.set_title(endpoint, loc="left", fontsize=10)
        ax.legend(loc="upper left")
    fig.tight_layout()
    return fig
