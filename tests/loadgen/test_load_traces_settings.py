"""What `perf load` tells its service about traces, and what it says when none came back."""

from __future__ import annotations

import os
import sys

import pytest

from perf._internal.processes import start_process
from perf.errors import ConfigurationError
from perf.loadgen import load_run
from perf.loadgen.load_run import LoadOptions, trace_settings


def test_the_service_is_told_the_rate_and_where_to_write(tmp_path):
    assert trace_settings(LoadOptions(), tmp_path) == {
        "PERF_CACHE_TRACE_RATE": "0.05",
        "PERF_CACHE_TRACE_DIR": str(tmp_path / "cache_traces.parts"),
    }
    assert trace_settings(LoadOptions(trace_rate=0), tmp_path) == {"PERF_CACHE_TRACE_RATE": "0"}
    assert LoadOptions(trace_rate=1).recorded()["cache_trace_rate"] == 1
    assert LoadOptions(host="http://x").recorded()["cache_trace_rate"] is None
    with pytest.raises(ConfigurationError, match=r"--trace-rate must be in \[0, 1\], got 1.5"):
        LoadOptions(trace_rate=1.5)


def test_a_service_that_wrote_no_traces_is_named(tmp_path):
    said: list[str] = []
    service = start_process(
        [sys.executable, "-c", "import time; time.sleep(60)"], env=os.environ, cwd=tmp_path
    )
    load_run._stop_service(service, tmp_path, LoadOptions(), said.append)
    assert service.poll() is not None
    assert said == [
        f"[perf load] no cache_traces.json: no trace files in {tmp_path / 'cache_traces.parts'} "
        f"(the service writes its traces when it stops; see {tmp_path / 'service.log'})"
    ]
