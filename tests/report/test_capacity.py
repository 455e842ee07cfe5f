"""perf.report.capacity: the step judge on synthetic request logs with a known answer, and the
notebook's frames on a synthetic capacity.json."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from support import write_json, write_jsonl

from perf.report.capacity import judge_records, judge_step
from perf.report.capacity_frames import (
    capacity_banner,
    capacity_knees,
    capacity_steps,
    knees_table,
    steps_table,
)
from perf.results.requests_log import RequestRecord

TARGETS = {"query_latency_p95_ms": 500.0, "health_p95_ms": 10.0}
START = 1_800_000_000.0


def records(
    rate: float = 20.0,
    seconds: float = 60.0,
    latency_ms: float = 100.0,
    *,
    errors_every: int = 0,
    health_ms: float | None = None,
    seed: int = 1,
) -> list[RequestRecord]:
    """An open-model step: /query sent exactly every 1 / ``rate`` s, latencies uniform within
    +-20 % of ``latency_ms`` (no trend); every ``errors_every``-th one failed; a /health every
    tenth arrival when ``health_ms`` is set."""
    rng = random.Random(seed)
    rows = []
    for i in range(int(rate * seconds)):
        sent = START + i / rate
        name, ms = "/query", latency_ms * rng.uniform(0.8, 1.2)
        if health_ms is not None and i % 10 == 0:
            name, ms = "/health", health_ms * rng.uniform(0.8, 1.2)
        ok = not (errors_every and i % errors_every == 0)
        rows.append(RequestRecord(sent, sent, name, "POST", ms, 200 if ok else 500, ok))
    return rows


def test_a_step_well_within_every_target_is_sustained():
    got = judge_records(records(), 20.0, {"generator": 0.2}, TARGETS)
    assert got["verdict"] == "pass", got["reason"]
    assert got["achieved_rate"] == pytest.approx(20.0, rel=0.02)
    assert got["achieved_share"] == pytest.approx(1.0, rel=0.02)
    assert got["errors"] == 0 and got["requests"] == 1200
    p95 = got["endpoints"]["/query"]["p95_ms"]
    assert p95["low"] <= p95["estimate"] <= p95["high"] and 100 <= p95["estimate"] <= 120
    assert [c["name"] for c in got["checks"]] == ["query_latency_p95_ms"]  # no /health sent
    assert "query_latency_p95_ms" in got["reason"] and "achieved 20" in got["reason"]


def test_latency_above_the_target_fails():
    got = judge_records(records(latency_ms=800), 20.0, None, TARGETS)
    assert got["verdict"] == "fail"
    assert "query_latency_p95_ms" in got["reason"] and ": fail" in got["reason"]


def test_a_rate_not_achieved_fails():
    """40 requests/s offered to a queue that serves 20/s: completions stretch out, and what is
    still queued when the step ends is never logged. (Latency targets out of the way.)"""
    rows, done, end = [], START, START + 30
    for i in range(40 * 30):
        sent = START + i / 40
        done = max(sent, done) + 1 / 20
        if done <= end:
            ms = (done - sent) * 1000
            rows.append(RequestRecord(sent, sent, "/query", "POST", ms, 200, True))
    got = judge_records(rows, 40.0, None, {"query_latency_p95_ms": 1e9})
    assert got["verdict"] == "fail", got["reason"]
    assert got["achieved_share"] == pytest.approx(0.5, abs=0.05)
    assert "achieved 20 of 40 requests/s (50%) < 95%" in got["reason"]
    assert got["send_lag_p95_ms"] == 0


def test_a_generator_behind_its_schedule_makes_a_miss_inconclusive():
    rows = [RequestRecord(r.timestamp + 0.3, r.timestamp, r.name, r.method, r.latency_ms, 200,
                          True) for r in records(latency_ms=800)]  # fmt: skip
    got = judge_records(rows, 20.0, {"generator": 0.3}, TARGETS)
    assert got["verdict"] == "inconclusive"
    assert got["reason"].startswith("it sent late (P95 300 ms after schedule)")


def test_errors_beyond_one_percent_fail():
    got = judge_records(records(errors_every=20), 20.0, None, TARGETS)  # 5 %
    assert got["verdict"] == "fail" and got["error_rate"] == pytest.approx(0.05, abs=0.01)
    assert "errors (5.0% > 1%)" in got["reason"]


def test_a_miss_with_a_busy_generator_is_inconclusive():
    got = judge_records(records(latency_ms=800), 20.0, {"generator": 0.97}, TARGETS)
    assert got["verdict"] == "inconclusive"
    assert got["reason"].startswith("the load generator used 0.97 of a core")


def test_an_interval_that_straddles_the_target_is_inconclusive():
    # P95 of uniform 400..600 ms is ~590 ms: its interval from 60 samples straddles 590
    got = judge_records(records(rate=2.0, seconds=30, latency_ms=500), 2.0, None,
                        {"query_latency_p95_ms": 590.0})  # fmt: skip
    assert got["verdict"] == "inconclusive", got["reason"]


def test_every_endpoint_with_a_target_counts():
    got = judge_records(records(health_ms=50), 20.0, None, TARGETS)
    assert got["verdict"] == "fail"
    assert "health_p95_ms" in got["reason"] and "query_latency_p95_ms" not in got["reason"]
    assert set(got["endpoints"]) == {"/query", "/health"}


def test_the_warm_up_is_cut_before_judging():
    """Two seconds of 3 s responses, then a steady 100 ms: MSER-5 cuts the start."""
    rows = records(seconds=60)
    slow = [RequestRecord(r.timestamp, r.intended_start, r.name, r.method, 3000.0, 200, True)
            if r.timestamp < START + 2 else r for r in rows]  # fmt: skip
    got = judge_records(slow, 20.0, None, TARGETS)
    assert got["verdict"] == "pass", got["reason"]
    assert got["window"]["warmup_seconds"] >= 2.0


def test_no_responses_is_not_sustained(tmp_path: Path):
    got = judge_step(tmp_path, 20.0, None, targets=TARGETS)
    assert got["verdict"] == "fail" and "fewer than two /query responses" in got["reason"]


# -- the notebook's frames --------------------------------------------------------------------


def capacity_document() -> dict:
    def step(index, rate, verdict, p95):
        iv = {"estimate": p95, "low": p95 * 0.9, "high": p95 * 1.1, "n": 100}
        return {"index": index, "offered_rate": rate, "achieved_rate": rate * 0.99,
                "verdict": verdict, "reason": "why", "errors": 0, "error_rate": 0.0,
                "service_cpu_ms_per_request": 12.5,
                "cpu": {"service": {"seconds": 3.0, "cores": 0.3},
                        "generator": {"seconds": 1.0, "cores": 0.1}},
                "endpoints": {"/query": {"p50_ms": iv, "p95_ms": iv, "p99_ms": iv}}}  # fmt: skip

    def search(name, rates):
        steps = [step(i, r, v, p) for i, (r, v, p) in enumerate(rates, 1)]
        return {"name": name, "label": f"the {name} search", "status": "finished",
                "steps": steps, "knee": {"rate": 10, "bracket": [10, 20], "achieved_rate": 9.9,
                                         "message": "sustained 10; not at 20",
                                         "service_cpu_ms_per_request": 12.5}}  # fmt: skip

    return {
        "endpoint": "/query",
        "options": {
            "start_rate": 5,
            "factor": 2,
            "resolution": 0.1,
            "max_steps": 8,
            "step_seconds": 30,
        },
        "workload": {"users": 20, "health_weight": 0, "stats_weight": 0},
        "searches": [
            search("default", [(5, "pass", 100), (10, "pass", 200), (20, "fail", 900)]),
            search("zero-latency", [(10, "pass", 50), (20, "inconclusive", 450)]),
        ],
        "ratio": {"rate": 1.0, "bracket": [0.5, 2.0]},
    }


def test_the_frames_read_every_step_and_knee(tmp_path: Path):
    write_json(tmp_path / "capacity.json", capacity_document())
    steps = capacity_steps(tmp_path)
    assert len(steps) == 5 and list(steps["search"].unique()) == ["default", "zero-latency"]
    row = steps.iloc[2].to_dict()
    assert row["p95_ms"] == 900 and row["p95_high"] == pytest.approx(990)
    assert row["service_cores"] == 0.3 and row["stub_cores"] is None
    knees = capacity_knees(tmp_path)
    assert list(knees["knee_rate"]) == [10, 10] and list(knees["bracket_high"]) == [20, 20]
    assert "<table>" in steps_table(steps).to_html() and "P95 [95 % interval]" in (
        steps_table(steps).to_html()
    )
    assert "10 /s" in knees_table(knees).to_html()
    banner = capacity_banner(tmp_path).html
    assert "x2 per step" in banner and "/query only" in banner and "<b>1.00x</b>" in banner


def test_no_capacity_json_says_which_command_writes_it(tmp_path: Path):
    write_jsonl(tmp_path / "requests.jsonl", [])
    with pytest.raises(FileNotFoundError, match="perf load --find-capacity"):
        capacity_steps(tmp_path)
