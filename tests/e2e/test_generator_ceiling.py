"""``scripts/generator_ceiling.py`` end to end, in miniature: real servers on loopback, Locust
as a subprocess. Only the shape of the output is checked (benchmarks are not tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import ROOT

SCRIPT = ROOT / "scripts" / "generator_ceiling.py"


def ceiling(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=dict(os.environ),
        check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_one_round_measures_the_generator_and_the_service(tmp_path):
    out = tmp_path / "ceiling.json"
    done = ceiling("--seconds", "2", "--rounds", "1", "--users", "4", "--configs", "fast:1",
                   "--pin", "none", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ceiling] round 1/1 FastHttpUser x1" in done.stdout
    document = json.loads(out.read_text())
    samples = document["samples"]
    assert {(s["config"], s["target"]) for s in samples} == {
        ("FastHttpUser x1", "bare"), ("FastHttpUser x1", "service"),
    }  # fmt: skip
    assert all(s["rps"] > 0 and s["requests"] > 0 and s["failures"] == 0 for s in samples)
    assert all(s["locust_cpu_s"] >= 0 and s["server_cpu_s"] >= 0 for s in samples)
    summary = document["summary"]
    assert set(summary["runs"]) == {"FastHttpUser x1 -> bare", "FastHttpUser x1 -> service"}
    ratio = summary["ratios"]["service / bare (FastHttpUser x1)"]
    rps = {s["target"]: s["rps"] for s in samples}
    assert ratio["estimate"] == pytest.approx(rps["service"] / rps["bare"])
    assert ratio["n"] == 1


def test_a_bad_configuration_is_refused_with_the_accepted_form():
    done = ceiling("--configs", "slow:1", timeout=60)
    assert done.returncode == 2
    assert "bad configuration 'slow:1'" in done.stderr and "e.g. fast:2" in done.stderr
