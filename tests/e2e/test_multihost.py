"""Several hosts on one machine: network namespaces the test creates (perf._internal.netns), the
service, the Locust master and two workers each on its own host, talking over a bridge.

Skips only when namespaces cannot be made here (not root, no CAP_NET_ADMIN, no `ip`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from support import ROOT

from perf._internal.netns import NetnsUnavailable, namespaces, topology
from perf.results.requests_log import read_request_log

PREFIX = f"perfnet-test{os.getpid()}-"  # never a prefix another run uses
ENV = {**os.environ, "PERF_DATASET_SCALE": "0.1"}  # a small home: the service starts sooner
FAST_USERS = ["--workload", "think_min_s=0.05", "--workload", "think_max_s=0.2",
              "--workload", "dataset_scale=0.1"]  # fmt: skip


def multihost(*args: str) -> list[str]:
    return [sys.executable, "scripts/multihost_run.py", "--prefix", PREFIX, *args, *FAST_USERS]


@pytest.fixture(scope="module")
def netns():
    """Skip unless a namespace can be made; afterwards none of the test's may be left."""
    try:
        with topology(["probe"], prefix=PREFIX):
            pass
    except NetnsUnavailable as exc:
        pytest.skip(f"network namespaces are not available here: {exc}")
    yield
    assert namespaces(PREFIX) == []


def _links() -> list[str]:
    done = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    return sorted(line.split(":")[1].strip() for line in done.stdout.splitlines())


def _in(host, code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        host.command([sys.executable, "-c", code, *args]), stdout=subprocess.PIPE, text=True,
        **kwargs,
    )  # fmt: skip


SERVER = """
import socket, sys
with socket.create_server((sys.argv[1], 9000)) as server:
    print("listening", flush=True)
    conn, (peer, _) = server.accept()
    conn.sendall(peer.encode())
"""
CLIENT = """
import socket, sys
with socket.create_connection((sys.argv[1], 9000), timeout=10) as conn:
    print(conn.recv(64).decode())
"""


def test_hosts_reach_each_other_over_the_bridge_and_the_machine_is_untouched(netns):
    before = _links()
    with topology(["alpha", "beta"], prefix=PREFIX) as net:
        alpha, beta = net["alpha"], net["beta"]
        assert (alpha.address, beta.address) == ("10.213.0.2", "10.213.0.3")
        assert set(namespaces(PREFIX)) == set(net.namespaces) and len(net.namespaces) == 3
        assert _links() == before  # the bridge and the veths live in the namespaces only
        server = _in(alpha, SERVER, alpha.address)
        assert server.stdout.readline().strip() == "listening"
        client = _in(beta, CLIENT, alpha.address)
        assert client.communicate(timeout=30)[0].strip() == beta.address  # seen from alpha
        server.wait(timeout=10)
    assert namespaces(PREFIX) == []
    assert _links() == before


def test_a_crashed_runs_namespaces_are_removed_by_the_next_run(netns):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid names a run that crashed
    stale, live = f"{PREFIX}{gone.pid}-1-worker1", f"{PREFIX}{os.getpid()}-999-other"
    for name in (stale, live):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with topology(["alpha"], prefix=PREFIX) as net:
            assert stale not in namespaces(PREFIX)
            assert live in namespaces(PREFIX)  # its process still runs: not ours to remove
            assert net["alpha"].namespace in namespaces(PREFIX)
    finally:
        for name in (stale, live):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


def test_bad_host_names_are_refused_before_anything_is_made(netns):
    with pytest.raises(ValueError, match="host names must be unique"), topology(["a", "a"]):
        pass
    with pytest.raises(ValueError, match="not 'switch'"), topology(["switch"], prefix=PREFIX):
        pass
    assert namespaces(PREFIX) == []


def _summary_shape(run):
    manifest = json.loads((run / "manifest.json").read_text())
    stage = manifest["stages"]["load"]
    return {
        "files": set(manifest["files"]),
        # merged_request_logs: the workers' logs (distributed only); service: the one perf
        # load started itself (a multi-host run's is on its own host, started by the script)
        "stage": set(stage) - {"merged_request_logs", "service"},
        "summary": {name: set(s) for name, s in stage["summary"].items()},
        "monitor": set(json.loads((run / "monitor.json").read_text())),
        "request": set(json.loads((run / "requests.jsonl").read_text().splitlines()[0])),
    }


@pytest.mark.slow
def test_a_multihost_run_has_the_shape_of_a_single_process_run(netns, tmp_path):
    run = tmp_path / "multihost"
    done = subprocess.run(
        multihost("--duration", "10s", "--workers", "2", "--users", "6", "--spawn-rate", "6",
                  "--out", str(run), "--workload", "health_weight=4"),
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode in {0, 3}, output  # 3: an SLO missed on a busy machine
    assert done.stdout.strip().splitlines()[-1] == str(run)
    assert namespaces(PREFIX) == []

    # The service answered the workers, each from its own host's address.
    seen = next(line for line in done.stdout.splitlines() if "had connections from" in line)
    assert "worker1 10.213.0.4" in seen and "worker2 10.213.0.5" in seen, seen

    manifest = json.loads((run / "manifest.json").read_text())
    stage = manifest["stages"]["load"]
    assert stage["workload"]["locust_workers"] == 2
    assert stage["workload"]["host"] == "http://10.213.0.2:8000"
    merged = stage["merged_request_logs"]  # one log per worker, each with requests
    assert len(merged) == 2 and all(count > 0 for count in merged.values()), merged
    assert not list(run.glob("requests.worker-*.jsonl"))
    records = read_request_log(run / "requests.jsonl")
    assert len(records) == sum(merged.values())
    assert all(r.status == 200 and r.ok for r in records)
    logged = Counter(r.name for r in records)
    assert stage["summary"]["/query"]["count"] == logged["/query"]
    # Locust's own figures on a master may miss the workers' last report (its headless master
    # quits 0.5 s after telling them to); the request log holds every request
    for entry in json.loads((run / "locust.json").read_text()):
        assert 0 < entry["num_requests"] <= logged[entry["name"]]

    single = tmp_path / "single"
    local = subprocess.run(
        [sys.executable, "-m", "perf.cli", "load", "--users", "3", "--spawn-rate", "3",
         "--duration", "4s", "--run-dir", str(single), "--workload", "health_weight=4",
         # no cache traces: the multi-host service is started by the script, not by perf load
         "--trace-rate", "0",
         *FAST_USERS[:4]],  # dataset_scale: from PERF_DATASET_SCALE, as for our own service
        capture_output=True, text=True, timeout=180, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    assert local.returncode in {0, 3}, local.stdout + local.stderr
    assert _summary_shape(run) == _summary_shape(single)

    gate = subprocess.run(
        [sys.executable, "-m", "perf.cli", "gate", str(run), "--allow-missing"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    assert gate.returncode in {0, 1, 3}, gate.stdout + gate.stderr  # a verdict (3: inconclusive)
    checks = {c["name"] for c in json.loads((run / "gate.json").read_text())["checks"]}
    assert {"query_latency_p95_ms", "health_p95_ms", "tokens_per_query_max"} <= checks


@pytest.mark.slow
def test_an_interrupted_multihost_run_stops_every_host_and_removes_the_namespaces(netns, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        multihost("--duration", "120s", "--users", "2", "--out", str(run)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=ENV,
    )  # fmt: skip
    watchdog = threading.Timer(240, proc.kill)
    watchdog.start()
    pids = []
    try:
        for line in proc.stdout:
            if "(pid " in line:
                pids.append(int(line.split("(pid ", 1)[1].split(")")[0]))
            if "[perf load] elapsed" in line:  # the workers are sending
                break
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=120)[0]
    finally:
        watchdog.cancel()
    assert proc.returncode == 130, output
    assert "interrupted: stopping every host's processes" in output
    assert len(pids) == 4  # the service, the master, two workers
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
    assert namespaces(PREFIX) == []
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["load"]["status"] == "interrupted", output
    assert (run / "requests.jsonl").is_file() and not list(run.glob("requests.worker-*"))
