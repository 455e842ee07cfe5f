"""Across runs: the drift-proof figures of every run folder by commit (the trend, asv-like), and
two runs side by side (the comparison).

Only in-run ratios cross runs here: a speed bar's ``ours / peer`` is two medians measured in
the same run, so a slower machine or a busier day moves both alike. Raw medians from two days
are never compared (they measured the machine: 37 of 56 "regressions" in the gate's old
``--baseline`` check were drift). A ratio regressed when its interval in a run lies wholly
above its interval in the run before (both from the raw samples, see
``perf.report.bench_frames``); a ratio over its bar fails as in the gate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf.errors import MissingRunFileError
from perf.report.bench_frames import bar_intervals
from perf.results.readers import RunPath, read_manifest, resolve_run
from perf.results.runs import list_baselines, list_runs

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "bar_trend",
    "base_run",
    "compare_bars",
    "compare_hit_rates",
    "compare_spectra",
    "compare_tokens",
    "previous_run",
    "results_root_of",
    "trend_runs",
]


def _pandas() -> Any:
    import pandas  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415 - ~0.5 s

    return pandas


def results_root_of(run: RunPath) -> Path | None:
    """The results root a run folder lives in (``<root>/runs/<id>`` or
    ``<root>/baselines/<name>``); ``None`` for a folder elsewhere."""
    folder = Path(run).resolve()
    return folder.parent.parent if folder.parent.name in {"runs", "baselines"} else None


def trend_runs(
    results_root: RunPath, *, baselines: bool = True, until: RunPath | None = None
) -> list[Path]:
    """Every run folder with a ``benchmarks.json``, the committed baselines first, then the
    runs oldest first (run ids sort by time), up to and including ``until``."""
    root = Path(results_root)
    runs = [f.path for f in list_runs(root)]
    if until is not None and Path(until).parent.name == "runs":
        runs = [r for r in runs if r.name <= Path(until).name]
    folders = [*(f.path for f in list_baselines(root) if baselines), *runs]
    return [f for f in folders if (f / "benchmarks.json").is_file()]


def previous_run(run: RunPath) -> Path | None:
    """The newest run before ``run`` (by run id) with any of its files, else the newest
    committed baseline; ``None`` when there is neither."""
    root = results_root_of(run)
    if root is None:
        return None
    name = Path(run).resolve().name
    earlier = [f.path for f in list_runs(root) if f.run_id < name]
    if earlier:
        return earlier[-1]
    baselines = [f.path for f in list_baselines(root) if f.path.resolve() != Path(run).resolve()]
    return baselines[-1] if baselines else None


def _run_row(run: Path) -> dict[str, Any]:
    try:
        manifest = read_manifest(run)
    except MissingRunFileError:
        manifest = {}
    return {"run": run.name, "commit": manifest.get("commit") or "?",
            "dirty": bool(manifest.get("dirty")), "started": manifest.get("started_at"),
            "baseline": run.parent.name == "baselines"}  # fmt: skip


def bar_trend(runs: Sequence[RunPath]) -> DataFrame:
    """Per run (in the given order) and bar: commit, ratio ours / peer with its interval, the
    bar, the verdict, ``over_bar`` and ``regressed`` (interval wholly above the previous
    run's interval of the same bar)."""
    pd = _pandas()
    rows = []
    previous: dict[str, tuple[float | None, float | None]] = {}
    for order, run in enumerate(Path(r) for r in runs):
        head = _run_row(run)
        for bar in bar_intervals(run).to_dict("records"):
            low = float(bar["low"]) if _known(bar["low"]) else None
            high = float(bar["high"]) if _known(bar["high"]) else None
            before = previous.get(bar["label"])
            regressed = bool(before and before[1] is not None and low is not None
                             and low > before[1])  # fmt: skip
            rows.append({**head, "order": order, "label": bar["label"], "ratio": bar["ratio"],
                         "low": low, "high": high, "bar": bar["bar"], "verdict": bar["verdict"],
                         "over_bar": bar["verdict"] == "fail", "regressed": regressed})  # fmt: skip
            previous[bar["label"]] = (low, high)
    columns = ["order", "run", "commit", "dirty", "started", "baseline", "label", "ratio", "low",
               "high", "bar", "verdict", "over_bar", "regressed"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def compare_bars(base: RunPath, head: RunPath) -> DataFrame:
    """Every bar of both runs side by side: the ratios with their intervals, head / base, and
    ``change``: ``slower`` / ``faster`` when the intervals do not overlap, else ``same``
    (``unknown`` without raw samples)."""
    pd = _pandas()
    before = {r["label"]: r for r in bar_intervals(base).to_dict("records")}
    after = {r["label"]: r for r in bar_intervals(head).to_dict("records")}
    rows = []
    for label in sorted(before.keys() & after.keys()):
        b, a = before[label], after[label]
        change = "unknown"
        if all(_known(v) for v in (b["low"], b["high"], a["low"], a["high"])):
            change = ("slower" if a["low"] > b["high"] else
                      "faster" if a["high"] < b["low"] else "same")  # fmt: skip
        ratio = a["ratio"] / b["ratio"] if _known(a["ratio"]) and _known(b["ratio"]) else None
        rows.append({"label": label, "base_ratio": b["ratio"], "base_low": b["low"],
                     "base_high": b["high"], "head_ratio": a["ratio"], "head_low": a["low"],
                     "head_high": a["high"], "bar": a["bar"], "head_over_base": ratio,
                     "change": change, "verdict": a["verdict"]})  # fmt: skip
    columns = ["label", "base_ratio", "base_low", "base_high", "head_ratio", "head_low",
               "head_high", "bar", "head_over_base", "change", "verdict"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def base_run(run: RunPath, ref: str = "previous", results_dir: RunPath | None = None) -> Path:
    """The run to compare ``run`` with: ``previous`` (``previous_run``), or any reference
    ``perf.results.readers.resolve_run`` takes (a run id, a path, ``baseline[:name]``)."""
    if ref != "previous":
        return resolve_run(ref, results_dir)
    found = previous_run(run)
    if found is None:
        raise FileNotFoundError(f"no run before {Path(run).name} and no baseline to compare with")
    return found


def compare_spectra(base: RunPath, head: RunPath) -> tuple[DataFrame, DataFrame]:
    """Both runs' latency spectra (``latency_frames.latency_spectrum``), empty for a run
    without a request log or ``locust.json``."""
    from perf.report.latency_frames import latency_spectrum  # noqa: PLC0415 - no cycle at import

    frames = []
    for run in (base, head):
        try:
            frames.append(latency_spectrum(run))
        except FileNotFoundError:
            frames.append(_pandas().DataFrame(columns=["endpoint", "kind", "percentile",
                                                       "one_over", "latency_ms", "n"]))  # fmt: skip
    return frames[0], frames[1]


def _side_by_side(
    base: dict[str, dict[str, Any]], head: dict[str, dict[str, Any]], key: str
) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(base.keys() | head.keys()):
        b, a = base.get(name, {}), head.get(name, {})
        change = "unknown"
        if all(_known(x.get(k)) for x in (a, b) for k in ("low", "high")):
            change = ("higher" if a["low"] > b["high"] else
                      "lower" if a["high"] < b["low"] else "same")  # fmt: skip
        elif _known(a.get("value")) and _known(b.get("value")):  # exact figures: no interval
            change = ("higher" if a["value"] > b["value"] else
                      "lower" if a["value"] < b["value"] else "same")  # fmt: skip
        rows.append({key: name, "base": b.get("value"), "base_low": b.get("low"),
                     "base_high": b.get("high"), "head": a.get("value"),
                     "head_low": a.get("low"), "head_high": a.get("high"),
                     "target": a.get("target", b.get("target")), "change": change,
                     "verdict": a.get("verdict")})  # fmt: skip
    return rows


def compare_hit_rates(base: RunPath, head: RunPath, targets: Mapping[str, float]) -> DataFrame:
    """Per cache: the steady-state hit rate in each run with its interval, the target, and
    ``change``: ``higher`` / ``lower`` when the intervals do not overlap, else ``same``."""
    from perf.report.cache_frames import hit_rate_summary  # noqa: PLC0415 - no cycle at import

    def figures(run: RunPath) -> dict[str, dict[str, Any]]:
        try:
            summary = hit_rate_summary(run, targets)
        except MissingRunFileError:
            return {}
        return {r["cache"]: {"value": r["steady"], "low": r["low"], "high": r["high"],
                             "target": r["target"], "verdict": r["verdict"]}
                for r in summary.to_dict("records")}  # fmt: skip

    rows = _side_by_side(figures(base), figures(head), "cache")
    return _pandas().DataFrame(rows, columns=_SIDE_COLUMNS("cache"))


def compare_tokens(base: RunPath, head: RunPath, targets: Mapping[str, float]) -> DataFrame:
    """Prompt tokens per query in each run: the steady-state mean (interval) and the max."""
    from perf.report.token_frames import token_targets  # noqa: PLC0415 - no cycle at import

    def figures(run: RunPath) -> dict[str, dict[str, Any]]:
        try:
            summary = token_targets(run, targets)
        except MissingRunFileError:
            return {}
        return {r["figure"]: {"value": r["tokens"], "low": r["low"], "high": r["high"],
                              "target": r["target"], "verdict": r["verdict"]}
                for r in summary.to_dict("records")}  # fmt: skip

    rows = _side_by_side(figures(base), figures(head), "figure")
    return _pandas().DataFrame(rows, columns=_SIDE_COLUMNS("figure"))


def _SIDE_COLUMNS(key: str) -> list[str]:
    return [key, "base", "base_low", "base_high", "head", "head_low", "head_high", "target",
            "change", "verdict"]  # fmt: skip


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
