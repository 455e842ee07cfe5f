"""Cross-process invalidation between real processes: the staleness script, run briefly.

``scripts/redis_staleness.py`` (README, "Redis") holds a key in a reader process's memory tier
and overwrites or deletes it from another process, while a third writes other keys of the
namespace. Every invalidation must reach the reader; how fast is the script's figure, not a
test's (no timed asserts: the bound here is the script's give-up time, a liveness check).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import ROOT


@pytest.mark.slow
def test_an_invalidation_in_one_process_reaches_the_others(redis_url):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "redis_staleness.py"), "--url", redis_url,
         "--rounds", "20", "--background", "200", "--poll-every", "0.0001", "--give-up", "10"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert result["missed"] == 0
    assert result["by_kind_ms"]["overwrite"]["n"] == 10
    assert result["by_kind_ms"]["delete"]["n"] == 10
