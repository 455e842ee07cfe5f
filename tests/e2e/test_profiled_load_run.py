"""`perf load --profile` for real: the service, its LLM stub, Locust and py-spy on loopback.

Skips, saying why, only when py-spy cannot attach here (ptrace denied); any other fault of the
profiler is a failure. No timed asserts: sample counts are only required to be non-zero.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import ROOT, latency_targets, perf_command

ENV = dict(os.environ)
FAST_USERS = ["--workload", "think_min_s=0.05", "--workload", "think_max_s=0.2"]
SVG = "{http://www.w3.org/2000/svg}"


def _profile_or_skip(run: Path) -> dict:
    record = json.loads((run / "manifest.json").read_text())["stages"]["load"]["profile"]
    if "could not attach" in record.get("error", ""):
        pytest.skip(f"py-spy cannot attach here (ptrace denied): {record['error']}")
    assert "error" not in record, record
    return record


@pytest.mark.slow
def test_a_profiled_run_leaves_a_flame_graph_a_speedscope_file_and_top_frames(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run(
        perf_command("load", "--users", "3", "--spawn-rate", "3", "--duration", "8s", "--run-dir",
             str(run), "--targets", str(latency_targets(tmp_path)), "--service-workers", "2",
             "--profile", "--profile-rate", "50", *FAST_USERS),
        capture_output=True, text=True, timeout=240, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    record = _profile_or_skip(run)
    assert record["rate_hz"] == 50 and record["start_offset_seconds"] == 4.0
    assert record["command"][1:3] == ["record", "--pid"] and "--subprocesses" in record["command"]
    assert record["samples"] > 0 and record["top_frames"]
    assert any("spawn_main" in p for p in record["samples_by_process"])  # a uvicorn worker
    manifest = json.loads((run / "manifest.json").read_text())
    assert {"profile.svg", "profile.speedscope.json", "profile.collapsed.txt"} <= set(
        manifest["files"]
    )
    assert "where the service's Python time went" in done.stdout
    assert record["top_frames"][0]["function"] in done.stdout

    svg = ET.parse(run / "profile.svg").getroot()
    assert svg.tag == f"{SVG}svg"
    titles = [t.text or "" for t in svg.iter(f"{SVG}title")]
    assert len(titles) > 5 and titles[0].startswith("all (")
    doc = json.loads((run / "profile.speedscope.json").read_text())
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = doc["shared"]["frames"]
    assert frames and all("name" in f for f in frames)
    for profile in doc["profiles"]:
        assert profile["type"] == "sampled" and profile["unit"] == "seconds"
        assert len(profile["samples"]) == len(profile["weights"]) > 0
        assert all(0 <= i < len(frames) for stack in profile["samples"] for i in stack)


def _py_spy_of(run: Path) -> list[int]:
    """Live py-spy processes writing into ``run``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            proc.name.isdigit()
            and str(run).encode() in b" ".join(command)
            and (command[0].endswith(b"py-spy"))
        ):
            found.append(int(proc.name))
    return found


@pytest.mark.slow
def test_ctrl_c_while_profiling_leaves_no_py_spy_behind(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        perf_command("load", "--users", "2", "--duration", "6s", "--run-dir", str(run),
                     "--progress", "0.5", "--profile", *FAST_USERS),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=ENV,
    )  # fmt: skip
    watchdog = threading.Timer(180, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            if "profiling the service" in line or "--profile:" in line:
                break
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=90)[0]
    finally:
        watchdog.cancel()
    assert proc.returncode == 130, output
    assert _py_spy_of(run) == []
    _profile_or_skip(run)
    assert (run / "profile.svg").is_file()  # py-spy wrote what it had on SIGINT
