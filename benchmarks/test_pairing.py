"""The ``pair`` fixture end to end: a throwaway suite run by pytest-benchmark, its JSON read.

Structure only, no timings asserted. Runs under ``make unit`` (``--benchmark-disable``); a
``--benchmark-only`` run skips it (it uses no benchmark fixture).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from perf.results.bars import check_bars

SUITE = """
def test_ours(pair):
    calls = []
    result = pair(
        ours=lambda: calls.append("ours") or sum(range(2000)),
        peers={"test_peer": lambda: sum(range(4000)), "test_other": lambda: sum(range(100))},
        bars={"test_peer": 1.0},
        setup={"ours": lambda: calls.append("setup")},
    )
    assert result == sum(range(2000))
    assert calls[0] == "setup" and calls.count("setup") == calls.count("ours")


def test_peer(benchmark):
    benchmark(lambda: sum(range(4000)))
"""


def run_suite(tmp_path, *args):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's settings
    (tmp_path / "conftest.py").write_text(Path(__file__).with_name("conftest.py").read_text())
    (tmp_path / "test_suite.py").write_text(SUITE)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )


def test_pair_writes_ours_as_the_benchmark_and_both_sides_samples_in_extra_info(tmp_path):
    out = tmp_path / "out.json"
    done = run_suite(tmp_path, "--benchmark-only", f"--benchmark-json={out}",
                     "--bar-look-seconds=0.05", "--bar-extra-seconds=0.2")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    benchmarks = {b["name"]: b for b in json.loads(out.read_text())["benchmarks"]}
    ours = benchmarks["test_ours"]
    paired = ours["extra_info"]["interleaved"]
    assert ours["extra_info"]["bars"] == {"test_peer": 1.0}
    assert ours["stats"]["rounds"] == len(paired["ours"]) >= 10
    assert ours["stats"]["data"] == paired["ours"]
    assert len(paired["peers"]["test_peer"]) <= len(paired["ours"])
    other = paired["stopped"]["test_other"]  # no bar: leaves the blocks at the first look
    assert other["look"] == 1 and len(paired["peers"]["test_other"]) == other["pairs"] >= 10
    assert paired["stopped"]["test_peer"]["pairs"] == len(paired["peers"]["test_peer"])
    assert paired["confidence"] == 1 - 0.05 / 4
    (stored,) = ours["extra_info"]["bar_results"]
    (check,) = check_bars(benchmarks.values())
    assert stored == check.as_dict()
    assert stored["method"] == "paired" and stored["low"] <= stored["ratio"] <= stored["high"]
    assert f"{check.verdict.replace('fail', 'FAIL')} test_ours: " in done.stdout


def test_pair_runs_each_side_once_when_benchmarks_are_disabled(tmp_path):
    done = run_suite(tmp_path, "--benchmark-disable")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert "speed bars" not in done.stdout
