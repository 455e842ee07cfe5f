"""Real load runs on loopback: `perf load` as a subprocess, Locust as its subprocess.

Checks the results contract file by file, exact percentiles against Locust's own (rounded)
ones, an SLO miss giving a non-zero exit, and Ctrl-C leaving no server behind.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from support import ROOT, latency_targets, perf_command

from perf._internal.processes import free_port, wait_for_http
from perf.results.requests_log import read_request_log

ENV = dict(os.environ)  # the installed perf: no PYTHONPATH
FAST_USERS = ["--workload", "think_min_s=0.05", "--workload", "think_max_s=0.2"]
CONTRACT_FILES = {
    "manifest.json", "locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv",
    "locust_exceptions.csv", "locust.html", "locust.json", "requests.jsonl", "monitor.json",
    "tokens.jsonl",
}  # fmt: skip


def locust_bucket(ms: float) -> int:
    """Locust's rounding of response times (locust.stats.bucket_response_time)."""
    if ms < 100:
        return round(ms)
    digits = -1 if ms < 1000 else -2 if ms < 10000 else -3
    return int(round(ms, digits))


@pytest.mark.slow
def test_load_run_writes_the_whole_contract(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run(
        perf_command("load", "--users", "3", "--spawn-rate", "3", "--duration", "4s",
                     "--run-dir", str(run), "--targets", str(latency_targets(tmp_path)),
                     "--progress", "1", *FAST_USERS),
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(run)
    assert "[perf load] elapsed" in done.stdout and "requests" in done.stdout

    files = {p.name for p in run.iterdir()}
    assert files >= CONTRACT_FILES
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["files"] == sorted(files - {"manifest.json"})
    stage = manifest["stages"]["load"]
    assert stage["exit_code"] == 0 and manifest["status"] == "finished"
    assert stage["workload"]["users"] == 3 and stage["workload"]["think_min_s"] == 0.05
    assert stage["workload"]["zipf_s"] == 1.0 and stage["workload"]["model"] == "closed"
    assert stage["settings"]["service"]["token_log_path"] == str(run / "tokens.jsonl")
    assert {c["verdict"] for c in stage["slo_checks"]} == {"pass"}

    first = json.loads((run / "requests.jsonl").read_text().splitlines()[0])
    assert {"timestamp", "name", "latency_ms", "status", "intended_start"} <= set(first)
    records = read_request_log(run / "requests.jsonl")
    names = Counter(r.name for r in records)
    assert names["/query"] > 0 and set(names) <= {"/query", "/health", "/performance/stats"}
    assert all(r.status == 200 and r.ok for r in records)
    assert stage["summary"]["/query"]["count"] == names["/query"]

    assert "95%" in (run / "locust_stats.csv").read_text().splitlines()[0]
    assert len((run / "locust_stats_history.csv").read_text().splitlines()) > 2
    monitor = json.loads((run / "monitor.json").read_text())
    assert {"operations", "cache_stats"} <= set(monitor)
    tokens = [json.loads(line) for line in (run / "tokens.jsonl").read_text().splitlines()]
    assert tokens and all({"model", "cached", "total_tokens_after"} <= set(t) for t in tokens)

    # exact percentiles from the request log agree with Locust's within its rounding
    for entry in json.loads((run / "locust.json").read_text()):
        latencies = sorted(r.latency_ms for r in records if r.name == entry["name"])
        assert len(latencies) == entry["num_requests"]
        histogram = {int(k): v for k, v in entry["response_times"].items()}
        assert Counter(locust_bucket(ms) for ms in latencies) == histogram
        for q in (0.5, 0.95, 0.99):
            rank = min(len(latencies) - 1, math.floor(len(latencies) * q))
            locust_value = _locust_percentile(histogram, len(latencies), q)
            assert locust_bucket(latencies[rank]) == locust_value


def _locust_percentile(histogram: dict[int, int], count: int, q: float) -> int:
    """locust.stats.calculate_response_time_percentile, restated (no locust import here)."""
    wanted, processed = int(count * q), 0
    for value in sorted(histogram, reverse=True):
        processed += histogram[value]
        if count - processed <= wanted:
            return value
    return 0


@pytest.mark.slow
def test_an_slo_miss_exits_non_zero_with_a_message(tmp_path):
    """Against any host serving the API (here the bare app): an impossible target fails."""
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "loadtests.bare_app:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=ENV, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout_seconds=30, process=app)
        run = tmp_path / "run"
        done = subprocess.run(
            perf_command("load", "--host", f"http://127.0.0.1:{port}", "--users", "2",
                         "--duration", "3s", "--run-dir", str(run),
                         "--targets", str(latency_targets(tmp_path, query_ms=0.001)),
                 # as many /health as /query: a few seconds on a busy machine still hold both
                 "--workload", "health_weight=8", *FAST_USERS),
            capture_output=True, text=True, timeout=120, cwd=ROOT, env=ENV, check=False,
        )  # fmt: skip
    finally:
        app.terminate()
        app.wait(timeout=10)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "FAIL query_latency_p95_ms: P95 of /query was" in done.stdout
    assert "target < 0.001 ms" in done.stdout and "1 SLO check(s) failed" in done.stdout
    manifest = json.loads((run / "manifest.json").read_text())
    checks = {c["target_key"]: c["verdict"] for c in manifest["stages"]["load"]["slo_checks"]}
    assert checks == {"query_latency_p95_ms": "fail", "health_p95_ms": "pass"}
    assert manifest["stages"]["load"]["status"] == "failed"
    assert (run / "monitor.json").is_file() and not (run / "tokens.jsonl").exists()


@pytest.mark.slow
def test_ctrl_c_stops_locust_and_the_service(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        perf_command("load", "--users", "2", "--duration", "120s", "--run-dir", str(run),
             "--progress", "0.5", *FAST_USERS),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=ENV,
    )  # fmt: skip
    watchdog = threading.Timer(90, proc.kill)
    watchdog.start()
    service_pid = None
    try:
        for line in proc.stdout:
            if "starting the service (pid" in line:
                service_pid = int(line.split("(pid ", 1)[1].split(")")[0])
            if "[perf load] elapsed" in line:  # Locust is running
                break
        assert service_pid is not None
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0]
    finally:
        watchdog.cancel()
    assert proc.returncode == 130, output
    with pytest.raises(ProcessLookupError):
        os.killpg(service_pid, 0)  # the service's whole process group (and its stub) is gone
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["load"]["status"] == "interrupted"
    assert manifest["status"] == "interrupted"
    assert output.strip().splitlines()[-1] == str(run)


@pytest.mark.slow
def test_scaled_out_open_model_run_counts_every_request_once(tmp_path):
    """Open model, two Locust processes, two service workers: the merged monitor, the token
    log and the merged request log all count the same requests."""
    run, users, rate = tmp_path / "run", 4, 20.0
    done = subprocess.run(
        perf_command("load", "--users", str(users), "--spawn-rate", "4", "--duration", "4s",
             "--open-rate", f"{rate:g}", "--processes", "2", "--service-workers", "2",
             "--run-dir", str(run), "--targets", str(latency_targets(tmp_path, 60_000, 60_000))),
        capture_output=True, text=True, timeout=180, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    workload = json.loads((run / "manifest.json").read_text())["stages"]["load"]["workload"]
    assert (workload["model"], workload["locust_processes"], workload["service_workers"]) == (
        "open", 2, 2,
    )  # fmt: skip
    assert not list(run.glob("requests.worker-*.jsonl"))  # merged into requests.jsonl

    records = read_request_log(run / "requests.jsonl")
    counts = Counter(r.name for r in records)
    assert counts == {
        e["name"]: e["num_requests"] for e in json.loads((run / "locust.json").read_text())
    }
    monitor = json.loads((run / "monitor.json").read_text())
    # Requests in flight when Locust stops are abandoned unlogged: the service cancels those
    # whose connection closed (counted as client_gone, timed as errors) and may finish the
    # rest, so it serves at least what the log holds, never more than the schedule sent.
    timed = monitor["operations"]["query.total"]["count"]
    served = timed - monitor["counters"].get("client_gone", 0)
    assert counts["/query"] <= served <= timed <= rate * 4 + users
    # Calls and queries apart: a query past its conversation's history length also makes a
    # summary call, logged under the query's request_id (that made calls != queries flaky).
    calls = [json.loads(line) for line in (run / "tokens.jsonl").read_text().splitlines()]
    assert monitor["tokens"]["calls"] == len(calls)
    assert monitor["tokens"]["queries"] == served
    assert len({c["request_id"] for c in calls}) == served
    assert sum(c["purpose"] == "answer" for c in calls) == served
    assert len({w["pid"] for w in monitor["workers"]}) == 2
    assert all(w["generation"] == 1 and "left_out" not in w for w in monitor["workers"])

    # Open model: each user's requests leave on a fixed schedule, one every users/rate
    # seconds, so the intended starts fall into at most `users` phases of that period.
    period = users / rate
    phases = sorted((r.intended_start % period) for r in records)
    distinct = [p for i, p in enumerate(phases) if i == 0 or p - phases[i - 1] > 1e-4]
    wrapped = len(distinct) > 1 and period - distinct[-1] + distinct[0] <= 1e-4
    assert 1 <= len(distinct) - wrapped <= users


@pytest.mark.slow
def test_perf_run_puts_every_stage_in_one_folder(tmp_path):
    suite = tmp_path / "bench_tiny.py"
    suite.write_text(
        "def test_tiny(benchmark):\n"
        "    benchmark.extra_info.update(bar_peer='test_peer', bar_max_ratio=1000)\n"
        "    benchmark(sum, range(10))\n"
        "def test_peer(benchmark):\n"
        "    benchmark(sum, range(100))\n"
    )
    results = tmp_path / "results"
    done = subprocess.run(
        perf_command("run", "--results-dir", str(results), "--users", "2", "--duration", "3s",
             "--targets", str(latency_targets(tmp_path, 60_000, 60_000)), *FAST_USERS,
             "--workload", "health_weight=8",  # a short run still sees /health
             "--", str(suite), "-q", "-p", "no:cacheprovider"),
        capture_output=True, text=True, timeout=180, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    run = Path(done.stdout.strip().splitlines()[-1])
    assert run.parent == results / "runs"
    manifest = json.loads((run / "manifest.json").read_text())
    assert list(manifest["stages"]) == ["bench", "load", "gate", "report"]
    assert all(s["exit_code"] == 0 for s in manifest["stages"].values())
    assert {"benchmarks.json", "requests.jsonl", "monitor.json", "gate.json"} <= set(
        manifest["files"]
    )
    assert (run / "report" / "latency.html").is_file()
    gate = json.loads((run / "gate.json").read_text())
    assert gate["verdict"] == "pass"
    assert {c["name"] for c in gate["checks"]} >= {
        "query_latency_p95_ms", "health_p95_ms", "bar[test_tiny / test_peer]",
    }  # fmt: skip
    names = [b["name"] for b in json.loads((run / "benchmarks.json").read_text())["benchmarks"]]
    assert names == ["test_tiny", "test_peer"]
