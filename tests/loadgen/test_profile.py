"""The profiler's parts: the flame graph drawn from known stacks, py-spy for real on a busy
Python child, and its faults (missing, cannot attach) ending in a message, never a raise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from perf.errors import ConfigurationError
from perf.loadgen import profile
from perf.loadgen.flamegraph import flamegraph_svg
from perf.loadgen.load_run import LoadOptions
from perf.loadgen.profile import ServiceProfiler, find_py_spy, format_profile
from perf.results.profiles import parse_collapsed

SVG = "{http://www.w3.org/2000/svg}"
PARENT = 'process 10:"python -m perf.service serve"'
CHILD = 'process 11:"python -m perf.service stub-llm --port 5"'
COLLAPSED = f"""\
{PARENT};<module> (app.py:1);handle (app.py:10);encode (tokens.py:5) 6
{PARENT};<module> (app.py:1);handle (app.py:12);encode (tokens.py:7) 2
{PARENT};{CHILD};run (stub.py:2);sleep (stub.py:9) 12
"""
BUSY = """\
import pathlib
def spin():
    return sum(i * i for i in range(10_000))
pathlib.Path("ready").touch()
while True:
    spin()
"""


def test_flamegraph_is_svg_with_a_box_per_frame() -> None:
    svg = flamegraph_svg(parse_collapsed(COLLAPSED), title="a <test>")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert len(titles) == len(list(root.iter(f"{SVG}rect"))) - 1  # a box each, + background
    assert "encode (tokens.py:5) (6 samples, 30.00%)" in titles
    assert "all (20 samples, 100.00%)" in titles
    assert any(t.startswith("process 11 python -m perf.service stub-llm") for t in titles)
    assert "a &lt;test&gt;: 20 samples" in svg


def test_an_empty_profile_still_draws() -> None:
    root = ET.fromstring(flamegraph_svg([], title="empty"))
    assert "empty: no samples" in "".join(root.itertext())


def test_without_profile_the_profiler_does_nothing(tmp_path: Path) -> None:
    profiler = ServiceProfiler(tmp_path, rate_hz=None, run_seconds=10)
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    assert profiler.watch(done, done) == 0
    assert profiler.stop() == {} and list(tmp_path.iterdir()) == []


def test_missing_py_spy_is_a_message(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(profile, "find_py_spy", lambda: None)
    said: list[str] = []
    profiler = ServiceProfiler(tmp_path, rate_hz=100, run_seconds=10, say=said.append)
    profiler.start(os.getpid())
    record = profiler.stop()["profile"]
    assert "py-spy is not installed: pip install 'perf[load]'" in record["error"]
    assert any("no profile (the load run goes on)" in line for line in said)
    assert format_profile(record).startswith("[perf load] no profile: py-spy is not installed")


def test_a_py_spy_that_cannot_attach_is_a_message(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "py-spy"
    fake.write_text('#!/bin/sh\necho "Permission Denied: Try running again" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setattr(profile, "find_py_spy", lambda: str(fake))
    said: list[str] = []
    profiler = ServiceProfiler(tmp_path, rate_hz=100, run_seconds=10, say=said.append)
    profiler.start(os.getpid())
    error = profiler.stop()["profile"]["error"]
    assert "could not attach to the service" in error and "exit code 1" in error
    assert "Permission Denied" in error and "SYS_PTRACE" in error
    assert not (tmp_path / "profile.svg").exists()


def _busy(tmp_path: Path) -> subprocess.Popen[bytes]:
    """A Python child spinning in ``spin()``, once it got there."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY], cwd=tmp_path)
    while not (tmp_path / "ready").exists():
        assert busy.poll() is None
        time.sleep(0.01)
    return busy


@pytest.mark.slow
def test_py_spy_records_a_real_process(tmp_path: Path) -> None:
    if find_py_spy() is None:
        pytest.skip("py-spy is not installed (pip install -e '.[load]')")
    busy = _busy(tmp_path)
    try:
        profiler = ServiceProfiler(tmp_path, rate_hz=50, run_seconds=60)  # 30 s planned
        profiler.start(busy.pid)
        if profiler.error and "could not attach" in profiler.error:
            pytest.skip(f"py-spy cannot attach here (ptrace denied): {profiler.error}")
        spy = profiler._process
        assert spy is not None and spy.poll() is None
        time.sleep(1)  # some samples (not a timing assert: their number is not checked)
        record = profiler.stop()["profile"]  # stopped early: SIGINT, py-spy writes its file
    finally:
        busy.kill()
        busy.wait()
    assert spy.poll() is not None  # no py-spy left behind
    assert "error" not in record, record
    assert record["samples"] > 0 and record["seconds"] < 30
    assert record["command"][1:4] == ["record", "--pid", str(busy.pid)]
    assert "spin" in record["top_frames"][0]["function"]  # spin or its <genexpr>
    assert {"profile.svg", "profile.speedscope.json", "profile.collapsed.txt"} <= {
        p.name for p in tmp_path.iterdir()
    }
    ET.parse(tmp_path / "profile.svg")
    doc = json.loads((tmp_path / "profile.speedscope.json").read_text())
    assert doc["profiles"][0]["type"] == "sampled"


def test_profile_needs_our_own_service_and_a_positive_rate() -> None:
    with pytest.raises(ConfigurationError, match="no --host"):
        LoadOptions(host="http://127.0.0.1:9", profile_rate=100)
    with pytest.raises(ConfigurationError, match="rate > 0"):
        LoadOptions(profile_rate=0)
    assert LoadOptions(profile_rate=None).profile_rate is None
