"""Across runs: the trend of the in-run ratios by commit (never raw medians from different days)
and two runs side by side; their notebooks executed for real on a results root of several runs,
and skipped, saying why, while there is only one."""

from __future__ import annotations

import contextlib
import io
import shutil

import pytest
from support import ROOT, TARGETS, edit_json, make_run, perf

from perf.report import trend_frames

RUNS = ["20260101T000000Z-aaaa1111", "20260102T000000Z-bbbb2222", "20260103T000000Z-cccc3333"]


def slower(factor: float, machine: float = 1.0):
    """Ours ``factor`` times slower against the peer, on a machine ``machine`` times slower."""

    def change(data):
        for entry in data["benchmarks"]:
            scale = machine * (factor if entry["name"] == "bench_get[perf]" else 1.0)
            for key in ("median", "min", "mean"):
                entry["stats"][key] *= scale
            entry["stats"]["data"] = [x * scale for x in entry["stats"]["data"]]

    return change


@pytest.fixture
def root(tmp_path):
    baseline = make_run(tmp_path, "base-1")  # a committed reference run
    (tmp_path / "baselines").mkdir()
    baseline.rename(tmp_path / "baselines" / "base-1")
    runs = [make_run(tmp_path, run_id) for run_id in RUNS]
    edit_json(runs[1] / "benchmarks.json", slower(1.0, machine=3.0))  # a slow day: same ratios
    edit_json(runs[2] / "benchmarks.json", slower(2.4))  # a real regression, over the bar
    edit_json(runs[2] / "manifest.json", lambda m: m.update(commit="cccc3333", dirty=True))
    return tmp_path


def test_the_trend_follows_ratios_not_raw_medians(root) -> None:
    runs = trend_frames.trend_runs(root)
    assert [r.name for r in runs] == ["base-1", *RUNS]  # baselines first, then by time
    trend = trend_frames.bar_trend(runs)
    assert list(trend["ratio"]) == pytest.approx([0.25, 0.25, 0.25, 0.6])
    # three times slower medians on a slow day are no regression: the ratio did not move
    assert list(trend["regressed"]) == [False, False, False, True]
    assert list(trend["over_bar"]) == [False, False, False, True]
    assert list(trend["baseline"]) == [True, False, False, False]
    assert trend.iloc[-1]["dirty"] and trend.iloc[-1]["commit"] == "cccc3333"
    until = trend_frames.trend_runs(root, until=root / "runs" / RUNS[1])
    assert [r.name for r in until] == ["base-1", *RUNS[:2]]


def test_two_runs_side_by_side(root) -> None:
    head = root / "runs" / RUNS[2]
    assert trend_frames.previous_run(head) == root / "runs" / RUNS[1]
    assert trend_frames.previous_run(root / "runs" / RUNS[0]) == root / "baselines" / "base-1"
    bars = trend_frames.compare_bars(root / "runs" / RUNS[1], head)
    row = bars.iloc[0]
    assert row["change"] == "slower" and row["head_over_base"] == pytest.approx(2.4)
    assert row["verdict"] == "fail"
    same = trend_frames.compare_bars(root / "runs" / RUNS[0], root / "runs" / RUNS[1])
    assert list(same["change"]) == ["same"]  # the slow day
    rates = trend_frames.compare_hit_rates(root / "runs" / RUNS[1], head, TARGETS)
    assert set(rates["change"]) == {"same"} and set(rates["cache"]) >= {"correlation"}
    tokens = trend_frames.compare_tokens(root / "runs" / RUNS[1], head, TARGETS)
    assert list(tokens["figure"]) == ["max per query (exact)", "mean per query (steady state)"]
    assert list(tokens["change"]) == ["same", "same"]  # the exact max compared as it is
    base, after = trend_frames.compare_spectra(root / "runs" / RUNS[1], head)
    assert len(base) and len(after)


@pytest.mark.slow
def test_the_trend_and_compare_notebooks(root, tmp_path, targets) -> None:
    notebooks = tmp_path / "cross-run-notebooks"
    notebooks.mkdir()
    for name in ("trend", "compare"):
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", notebooks)
    args = ("--targets", str(targets), "--notebooks", str(notebooks))
    single = tmp_path / "single"
    make_run(single)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert perf("report", RUNS[2], "--results-dir", str(root), *args) == 0
        assert perf("report", "--results-dir", str(single), *args) == 0  # nothing to show yet
    text = out.getvalue()
    assert "[perf report] trend: ok" in text and "[perf report] compare: ok" in text
    assert "[perf report] trend: skipped" in text
    assert "it compares runs with benchmarks.json: 1 so far, it needs 2" in text
    report = root / "runs" / RUNS[2] / "report"
    trend = (report / "trend.html").read_text(encoding="utf-8")
    assert "<svg" in trend and "over the bar" in trend and "cccc3333*" in trend
    compare = (report / "compare.html").read_text(encoding="utf-8")
    assert "<svg" in compare and "slower" in compare and RUNS[1] in compare
    assert "Traceback" not in trend + compare
