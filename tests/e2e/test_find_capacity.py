"""`perf load --find-capacity` for real on loopback: the service, the LLM stub and Locust as
subprocesses, two searches of two very short steps each; then the capacity notebook executed
on the run. Shapes and consistency only: a step's verdict depends on the machine."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess

import pytest
from support import ROOT, latency_targets, perf_command

from perf._internal.processes import pid_alive

ENV = dict(os.environ)
ROLES = {"service", "stub", "generator"}


@pytest.mark.slow
def test_find_capacity_writes_capacity_json_and_its_report(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run(
        perf_command("load", "--find-capacity", "--compare-zero-latency", "--start-rate", "4",
             "--max-steps", "2", "--step-duration", "3s", "--warmup", "2s", "--run-dir",
             str(run), "--targets", str(latency_targets(tmp_path)), "--progress", "0"),
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(run)
    assert "[perf capacity] default warm-up: 4 requests/s for 2 s" in done.stdout
    assert re.search(r"\[perf capacity\] default step 1: (pass|fail|inconclusive) at 4 ",
                     done.stdout)  # fmt: skip

    data = json.loads((run / "capacity.json").read_text())
    assert data["endpoint"] == "/query" and data["options"]["max_steps"] == 2
    assert data["workload"]["health_weight"] == 0 and data["workload"]["model"] == "open"
    default, zero = data["searches"]
    assert (default["name"], zero["name"]) == ("default", "zero-latency")
    assert zero["env"]["PERF_STUB_LATENCY_MEDIAN_MS"] == "0"
    assert default["warmup"]["folder"] == "capacity/default/step-00"
    for search in (default, zero):
        assert search["status"] == "finished" and len(search["steps"]) == 2
        first, second = search["steps"]
        # the search: up by the factor after a sustained step, down after any other
        assert second["offered_rate"] == first["offered_rate"] * (
            2 if first["verdict"] == "pass" else 0.5
        )
        assert first["drain_before"] is None
        # the search waited for the service's queries in flight to end before step 2
        assert second["drain_before"]["in_flight"] == 0
        assert second["drain_before"]["seconds"] >= data["options"]["pause_seconds"]
        for step in search["steps"]:
            assert step["verdict"] in {"pass", "fail", "inconclusive"} and step["reason"]
            assert (run / step["folder"] / "requests.jsonl").is_file()
            assert step["stream"] == step["index"]
            query = step["endpoints"]["/query"]
            for key in ("p50_ms", "p95_ms", "p99_ms"):
                assert query[key]["low"] <= query[key]["estimate"] <= query[key]["high"]
            assert step["achieved_rate"] > 0 and step["errors"] == 0
            assert set(step["cpu"]) == ROLES
            assert all(c["seconds"] >= 0 and c["cores"] >= 0 for c in step["cpu"].values())
            assert step["service_cpu_ms_per_request"] > 0
        knee = search["knee"]
        assert set(knee) >= {"rate", "bracket", "achieved_rate", "message"}
    # the zero-latency search starts at the default's knee when it found one
    assert zero["steps"][0]["offered_rate"] == max(4, default["knee"]["rate"] or 0)
    assert "ratio" in data

    manifest = json.loads((run / "manifest.json").read_text())
    stage = manifest["stages"]["capacity"]
    assert manifest["status"] == "finished" and stage["exit_code"] == 0
    assert set(stage["knees"]) == {"default", "zero-latency"}
    assert "capacity.json" in manifest["files"]
    assert "capacity/zero-latency/step-02/requests.jsonl" in manifest["files"]

    report = subprocess.run(
        perf_command("report", str(run), "--targets", str(latency_targets(tmp_path))),
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    assert "[perf report] capacity: ok" in report.stdout, report.stdout + report.stderr
    assert "[perf report] latency: skipped" in report.stdout  # no requests.jsonl at the top
    page = (run / "report" / "capacity.html").read_text(encoding="utf-8")
    assert "<svg" in page and "Traceback" not in page and "knee" in page
    index = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert 'href="capacity.html"' in index and "<dt>capacity (zero-latency)</dt>" in index


@pytest.mark.slow
def test_ctrl_c_stops_the_search_and_keeps_what_was_measured(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        perf_command("load", "--find-capacity", "--start-rate", "4", "--step-duration", "3s",
             "--warmup", "0", "--max-steps", "20", "--run-dir", str(run), "--targets",
             str(latency_targets(tmp_path)), "--progress", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=ENV,
    )  # fmt: skip
    lines, service = [], None
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if found := re.search(r"starting the service \(pid (\d+)\)", line):
            service = int(found.group(1))
        if "default step 2:" in line:  # step 1 is judged and recorded
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=120)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output
    assert "interrupted: stopping Locust and the service" in output
    assert service is not None and not pid_alive(service)
    data = json.loads((run / "capacity.json").read_text())
    assert data["searches"][0]["status"] == "interrupted"
    assert data["searches"][0]["steps"][0]["index"] == 1
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["capacity"]["status"] == "interrupted"
