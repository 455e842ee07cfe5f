"""A real load run's cache traces: `perf load` (real service on loopback, real Locust, real
SQLite) leaves a cache_traces.json with a trace per service cache, one per worker with
several service workers, and the sizing report answers per cache from it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import ROOT

from perf.report import sizing
from perf.service.runtime import CACHE_TYPES

FAST_USERS = ["--workload", "think_min_s=0.05", "--workload", "think_max_s=0.2"]
TARGETS = ("correlation", "entity_context", "memory")  # the caches with a hit-rate target
HIT_RATE_TARGETS = ROOT / "pyproject.toml"


def load(run, *args):
    latency = run.parent / "latency.toml"  # a loaded machine misses the real ones: not the point
    latency.write_text("[targets]\nquery_latency_p95_ms = 60000\nhealth_p95_ms = 60000\n")
    done = subprocess.run(
        [sys.executable, "-m", "perf.cli", "load", "--users", "3", "--spawn-rate", "3",
         "--duration", "5s", "--run-dir", str(run), "--targets", str(latency), *FAST_USERS,
         *args],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def served_lookups(run):
    stats = json.loads((run / "monitor.json").read_text())["cache_stats"]
    return {name: stats[name]["hits"] + stats[name]["misses"] for name in CACHE_TYPES}


@pytest.mark.slow
def test_a_load_run_traces_every_cache_and_the_report_sizes_them(tmp_path):
    run = tmp_path / "run"
    output = load(run, "--trace-rate", "1")
    assert "cache traces of 1 service worker(s) in cache_traces.json" in output
    manifest = json.loads((run / "manifest.json").read_text())
    stage = manifest["stages"]["load"]
    assert stage["workload"]["cache_trace_rate"] == 1.0
    assert stage["settings"]["service"]["cache_trace_rate"] == 1.0
    assert "cache_traces.json" in manifest["files"] and not (run / "cache_traces.parts").exists()

    data = json.loads((run / "cache_traces.json").read_text())
    assert data["model"] == "per_worker" and len(data["workers"]) == 1
    assert set(data["caches"]) == set(CACHE_TYPES)
    served = served_lookups(run)
    for name, trace in data["caches"].items():
        # rate 1: every lookup since the stats reset; a request Locust abandoned may still
        # have finished after monitor.json was read
        assert trace["rate"] == 1.0 and trace["sampled"] == trace["lookups"] >= served[name]

    answers = {s.cache: s for s in sizing.cache_sizing(run, HIT_RATE_TARGETS)}
    assert set(TARGETS) <= set(answers)
    for name in TARGETS:
        verdict = answers[name].verdict
        assert verdict.startswith(("meets the target at LRU", "no size can:")), verdict
        assert answers[name].current_size == 10_000 and answers[name].workers == 1


@pytest.mark.slow
def test_each_service_worker_traces_its_own_caches(tmp_path):
    run = tmp_path / "run"
    output = load(run, "--service-workers", "2", "--trace-rate", "1")
    assert "cache traces of 2 service worker(s)" in output
    data = json.loads((run / "cache_traces.json").read_text())
    assert len(data["workers"]) == 2 and set(data["caches"]) == set(CACHE_TYPES)
    for trace in data["caches"].values():  # (a worker still starting when perf load reset
        # the stats counts its warm-up in monitor.json: no comparison with it here)
        assert [w["worker"] for w in trace["per_worker"]] == data["workers"]
        assert trace["lookups"] == sum(w["lookups"] for w in trace["per_worker"])
    assert data["caches"]["entity_context"]["lookups"] > 0
    answers = {s.cache: s for s in sizing.cache_sizing(run, HIT_RATE_TARGETS)}
    assert set(TARGETS) <= set(answers)
    assert all(answers[name].workers == 2 for name in TARGETS)


@pytest.mark.slow
def test_a_load_run_without_traces_says_so(tmp_path):
    run = tmp_path / "run"
    load(run, "--trace-rate", "0")
    stage = json.loads((run / "manifest.json").read_text())["stages"]["load"]
    assert stage["workload"]["cache_trace_rate"] == 0.0
    assert stage["settings"]["service"]["cache_trace_rate"] == 0.0
    assert not (run / "cache_traces.json").exists()
    assert sizing.cache_sizing(run, HIT_RATE_TARGETS) == []
