"""`make lab` starts JupyterLab on the notebooks for any user, root included (as CI and
containers run), on loopback, and says where to point the browser."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import urllib.request

import pytest
from support import ROOT

from perf._internal.processes import free_port, wait_for_http


@pytest.mark.slow
def test_make_lab_serves_the_notebooks_and_prints_the_url() -> None:
    port = free_port()
    lab = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_PORT={port}"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    found = threading.Event()
    pattern = re.compile(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)")

    def read() -> None:
        for line in lab.stdout:
            lines.append(line)
            if pattern.search(line):
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert found.wait(120), "".join(lines)
        output = "".join(lines)
        assert "point your browser at" in output  # our own line, before JupyterLab's
        assert "Running as root is not recommended" not in output or os.getuid() == 0
        token = pattern.search(output).group(1)
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        wait_for_http(url, timeout_seconds=60, process=lab)
        with urllib.request.urlopen(url, timeout=30) as reply:
            names = {item["name"] for item in json.load(reply)["content"]}
        assert {"latency.ipynb", "hit_rates.ipynb", "tokens.ipynb", "benchmarks.ipynb"} <= names
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()
