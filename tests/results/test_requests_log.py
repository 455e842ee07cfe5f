"""The request-log format, exact and coordinated-omission-aware percentiles, the targets."""

from __future__ import annotations

import json
import random

import pytest
from support import ROOT

from perf.errors import ConfigurationError
from perf.results.requests_log import (
    RequestRecord,
    backfill_latencies,
    merge_request_logs,
    percentile,
    read_request_log,
    summarize_requests,
)
from perf.results.targets import check_latency_slos, load_targets

# -- the request log --------------------------------------------------------------------------


def _record(latency, *, name="/query", sent=100.0, intended=None, ok=True, new=None):
    return RequestRecord(sent, sent if intended is None else intended, name, "GET", latency,
                         200 if ok else 500, ok, new)  # fmt: skip


def test_percentile_is_exact_nearest_rank():
    values = list(range(1, 101))
    random.Random(3).shuffle(values)
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.5) == 50
    assert percentile(values, 1.0) == 100
    assert percentile([7.5], 0.99) == 7.5
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_backfill_adds_the_requests_a_stalled_user_did_not_send():
    assert backfill_latencies([5, 10, 35], 10) == [5, 10, 35, 25, 15]
    with pytest.raises(ValueError):
        backfill_latencies([1], 0)


def test_summary_corrects_for_the_intended_start_and_reports_cold_misses():
    records = [_record(10.0, new=i < 3) for i in range(10)]
    records.append(_record(10.0, sent=101.0, intended=100.5, new=False))  # queued 500 ms
    records.append(_record(2.0, name="/health", ok=False))
    summary = summarize_requests(records)
    query = summary["/query"]
    assert query.count == 11 and query.failures == 0
    assert query.p95_ms == 10.0 and query.co_p99_ms == pytest.approx(510.0)
    assert query.cold_miss_share == pytest.approx(3 / 11)
    assert summary["/health"].failures == 1 and summary["/health"].cold_miss_share is None
    closed = summarize_requests([_record(1000.0)] * 2 + [_record(1.0)] * 18,
                                expected_interval_ms=100)  # fmt: skip
    assert closed["/query"].p95_ms == 1000.0
    assert closed["/query"].co_p95_ms > closed["/query"].p50_ms


def test_request_logs_round_trip_and_merge_in_time_order(tmp_path):
    rows = [
        {"timestamp": t, "intended_start": t, "name": "/health", "method": "GET",
         "latency_ms": 1.0, "status": 200, "ok": True, "new_query": None}
        for t in (3.0, 1.0, 2.0)
    ]  # fmt: skip
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps(rows[2]))
    merged = tmp_path / "requests.jsonl"
    assert merge_request_logs([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], merged) == 3
    assert [r.timestamp for r in read_request_log(merged)] == [1.0, 2.0, 3.0]
    (tmp_path / "bad.jsonl").write_text('{"timestamp": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        read_request_log(tmp_path / "bad.jsonl")


# -- targets --------------------------------------------------------------------


def test_targets_come_from_pyproject_and_check_latency(tmp_path):
    targets = load_targets(ROOT / "pyproject.toml")
    assert targets["query_latency_p95_ms"] == 500 and targets["health_p95_ms"] == 10
    measured = {("/query", 0.95): 612.0, ("/health", 0.95): None}
    checks = check_latency_slos(lambda name, q: measured[name, q], targets)
    verdicts = {c.target_key: c.verdict for c in checks}
    assert verdicts == {"query_latency_p95_ms": "fail", "health_p95_ms": "no data"}
    assert checks[0].message() == (
        "FAIL query_latency_p95_ms: P95 of /query was 612.0 ms, target < 500 ms"
    )
    override = tmp_path / "t.toml"
    override.write_text("[targets]\nquery_latency_p95_ms = 0.001\n")
    assert load_targets(override) == {"query_latency_p95_ms": 0.001}
    override.write_text("[other]\nx = 1\n")
    with pytest.raises(ConfigurationError, match=r"no \[tool.perf.targets\]"):
        load_targets(override)
