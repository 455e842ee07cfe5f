"""What the load generator can push on this machine: Locust (``FastHttpUser``) on GET /health,
no think time, against the reference service and against a bare FastAPI app, in the same run.
``scripts/generator_ceiling.py`` is the fuller study (both HTTP clients, 1 and 2 processes).

The measured number is requests per second (``extra_info["rps"]``); each round is a fixed-length
Locust run, so the timing stats only show the run's length. ``service_over_bare`` is the
service's health RPS as a share of the bare app's, and the CPU seconds of Locust and of the
server show where the two cores go. Locust runs as a subprocess (importing it would gevent-patch
this process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from perf._internal.processes import free_port, start_process, stop_process, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
USERS = 8
SECONDS = 5
_rps: dict[str, float] = {}


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(kind: str, scratch: Path):
    port = free_port()
    if kind == "bare":
        command = [sys.executable, "-m", "uvicorn", "--app-dir", "loadtests", "bare_app:app",
                   "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "warning"]  # fmt: skip
    else:
        command = [sys.executable, "-m", "perf.service", "serve", "--host", "127.0.0.1",
                   "--port", str(port)]  # fmt: skip
    env = {**os.environ, "PERF_DATABASE_PATH": str(scratch / f"{kind}.sqlite"),
           "PERF_CACHE_DIR": str(scratch / f"{kind}-cache")}  # fmt: skip
    log = (scratch / f"{kind}.log").open("wb")
    process = start_process(command, env=env, cwd=ROOT, log=log)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/health", timeout_seconds=120, process=process)
    return process, url, log


@pytest.fixture(scope="module")
def servers():
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        started = {kind: _start(kind, Path(scratch)) for kind in ("bare", "service")}
        try:
            yield {kind: (process.pid, url) for kind, (process, url, _) in started.items()}
        finally:
            for process, _, log in started.values():
                stop_process(process)
                log.close()


def _locust(url: str, out: Path) -> tuple[dict, float]:
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests/health_locustfile.py"),
               "FastHealthUser", "--headless", "--host", url, "-u", str(USERS), "-r", str(USERS),
               "-t", f"{SECONDS}s", "--only-summary", "--json-file", str(out / "health"),
               "--loglevel", "WARNING"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    stats = json.loads((out / "health.json").read_text())
    return stats[0], usage.ru_utime + usage.ru_stime


@pytest.mark.slow
@pytest.mark.parametrize("target", ["bare", "service"])
def bench_locust_health_rps(benchmark, request, target, tmp_path):
    if benchmark.disabled:
        pytest.skip("runs Locust for several seconds per target: only with --benchmark-only")
    pid, url = request.getfixturevalue("servers")[target]
    benchmark.group = "load generator: GET /health, no think time"
    result = {}

    def run():
        server_cpu = _cpu_seconds(pid)
        result["entry"], result["locust_cpu"] = _locust(url, tmp_path)
        result["server_cpu"] = _cpu_seconds(pid) - server_cpu

    benchmark.pedantic(run, rounds=1, iterations=1)
    entry = result["entry"]
    elapsed = max(1e-9, entry["last_request_timestamp"] - entry["start_time"])
    rps = entry["num_requests"] / elapsed
    _rps[target] = rps
    cpu = result["locust_cpu"] + result["server_cpu"]
    benchmark.extra_info.update(
        rps=round(rps, 1),
        requests=entry["num_requests"],
        failures=entry["num_failures"],
        users=USERS,
        seconds=round(elapsed, 2),
        locust_cpu_s=round(result["locust_cpu"], 2),
        server_cpu_s=round(result["server_cpu"], 2),
        locust_cpu_share=round(result["locust_cpu"] / cpu, 3) if cpu else None,
        cores=os.cpu_count(),
    )
    if target == "service" and "bare" in _rps:
        benchmark.extra_info["service_over_bare"] = round(rps / _rps["bare"], 3)
    assert entry["num_requests"] > 0
