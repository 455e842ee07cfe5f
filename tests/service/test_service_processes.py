"""Issue 14 §3: `perf serve` as a real process: no orphaned LLM stub on any signal, and no
binding beyond loopback without an admin token (with a warning when it does)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from support import TOKEN

from perf._internal.processes import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PERF_DATABASE_PATH": str(tmp_path / "home.sqlite"),
        "PERF_CACHE_DIR": str(tmp_path / "cache"),
        "PERF_DATASET_SCALE": "0.03",
        "PERF_DATASET_DAYS": "2",
        "PERF_WARM_UP": "false",
        "PERF_STUB_LATENCY_MEDIAN_MS": "0",
        **extra,
    }


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


@contextmanager
def serving(tmp_path: Path, *args: str, **env: str):
    """`perf serve` in its own session; yields (process, service URL, stub pid, stderr lines).
    Whatever happens, the whole session is killed at the end (no test leaves an orphan)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "perf.cli", "serve", "--port", str(port), *args],
        env=_env(tmp_path, **env), cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    stub_pid = None
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout_seconds=90, process=process)
        found = re.search(r"LLM stub \(pid (\d+)\)", "".join(lines))
        assert found, lines
        stub_pid = int(found.group(1))
        assert _alive(stub_pid)
        yield process, f"http://127.0.0.1:{port}", stub_pid, lines
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(30)
        if stub_pid is not None and _alive(stub_pid):  # an orphan that left the group
            os.kill(stub_pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL])
def test_serve_stops_its_llm_stub_on_any_signal(tmp_path, signum):
    with serving(tmp_path) as (process, url, stub_pid, _):
        assert httpx.get(url + "/health").status_code == 200
        os.kill(process.pid, signum)  # the serve process only, as a service manager would
        process.wait(60)
        # SIGKILL: the stub notices its parent is gone (it polls every 0.2 s)
        assert _gone_within(stub_pid, 15), f"the LLM stub outlived serve after {signum.name}"


def test_serve_refuses_to_bind_beyond_loopback_without_an_admin_token(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "perf.cli", "serve", "--host", "0.0.0.0", "--port", "9"],
        env=_env(tmp_path), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=60)  # a refusal comes at once
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # had it started serving, with a stub
        except ProcessLookupError:
            pass
        process.wait()
    assert process.returncode == 2
    assert "refusing to serve on 0.0.0.0" in stderr
    assert "PERF_ADMIN_TOKEN" in stderr
    assert "LLM stub" not in stderr  # refused before starting anything


@pytest.mark.slow
def test_serve_beyond_loopback_warns_and_guards_admin_with_the_token(tmp_path):
    with serving(tmp_path, "--host", "0.0.0.0", PERF_ADMIN_TOKEN=TOKEN) as (
        process, url, stub_pid, lines,
    ):  # fmt: skip
        refused = httpx.post(url + "/admin/reset-stats")
        accepted = httpx.post(
            url + "/admin/reset-stats", headers={"authorization": f"Bearer {TOKEN}"}
        )
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        assert _gone_within(stub_pid, 15)
    warning = "".join(lines)
    assert "warning: listening on 0.0.0.0" in warning and "reachable from other machines" in warning
    assert refused.status_code == 401
    assert accepted.status_code == 200
