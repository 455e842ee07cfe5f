"""Pure parts of the load tests: workload, request-log percentiles, targets, durations."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from perf.errors import ConfigurationError
from perf.report.load_run import LoadOptions, parse_duration
from perf.report.requests_log import (
    RequestRecord,
    backfill_latencies,
    merge_request_logs,
    percentile,
    read_request_log,
    summarize_requests,
)
from perf.report.targets import check_latency_slos, load_targets
from perf.report.workload import (
    Catalog,
    QueryGenerator,
    WorkloadParams,
    catalog_from_dataset,
    compose_query,
    zipf_cumulative,
)

CATALOG = Catalog(
    entity_ids=tuple(f"light.lamp_{i}" for i in range(50)),
    friendly_names=tuple(f"Lamp {i}" for i in range(50)),
    areas=("Kitchen", "Office"),
)


# -- workload ---------------------------------------------------------------------------------


def test_zipf_weights_skew_towards_the_first_ranks():
    cumulative = zipf_cumulative(4, 1.0)
    assert cumulative == pytest.approx([1.0, 1.5, 1.5 + 1 / 3, 1.5 + 1 / 3 + 0.25])
    assert zipf_cumulative(3, 0.0) == [1.0, 2.0, 3.0]  # s = 0: uniform
    with pytest.raises(ValueError, match="at least one"):
        zipf_cumulative(0, 1.0)


def test_compose_query_is_a_pure_function_of_the_rng_state():
    cumulative = zipf_cumulative(len(CATALOG.entity_ids), 1.0)
    first = [compose_query(random.Random(7), CATALOG, cumulative, [], 0.5) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    text, repeated = first[0]
    assert not repeated and ("Lamp" in text or "light.lamp_" in text)


def test_repeats_come_from_history_at_the_requested_share():
    rng = random.Random(1)
    cumulative = zipf_cumulative(len(CATALOG.entity_ids), 1.0)
    history = ["an earlier question"]
    results = [compose_query(rng, CATALOG, cumulative, history, 0.25) for _ in range(4000)]
    repeats = [text for text, repeated in results if repeated]
    assert set(repeats) == {"an earlier question"}
    assert 0.22 < len(repeats) / len(results) < 0.28


def test_popular_entities_dominate():
    generator = QueryGenerator(WorkloadParams(repeat_share=0.0), CATALOG, user_index=0)
    mentions = Counter()
    for _ in range(3000):
        text, _ = generator.next_query()
        for i, name in enumerate(CATALOG.friendly_names):
            if f"{name} " in text + " " or f"{name}," in text or f"{name}." in text:
                mentions[i] += 1
    assert mentions[0] > 5 * mentions[40]


def test_generators_are_seeded_per_user_and_conversations_last_a_few_turns():
    params = WorkloadParams(turns_per_conversation=3)
    a1, a2 = (QueryGenerator(params, CATALOG, 0) for _ in range(2))
    b = QueryGenerator(params, CATALOG, 1)
    stream_a1 = [a1.next_query() for _ in range(7)]
    assert stream_a1 == [a2.next_query() for _ in range(7)]
    assert stream_a1 != [b.next_query() for _ in range(7)]
    conversations = [conversation for _, conversation in stream_a1]
    assert conversations == [conversations[0]] * 3 + [conversations[3]] * 3 + [conversations[6]]
    assert len(set(conversations)) == 3
    assert {a1.next_action() for _ in range(300)} == {"query", "health", "stats"}
    assert all(1.0 <= a1.think_time() <= 3.0 for _ in range(100))


def test_workload_params_validate_and_parse_strings():
    params = WorkloadParams.from_mapping({"zipf_s": "1.2", "entity_count": "40", "seed": ""})
    assert params.zipf_s == 1.2 and params.entity_count == 40 and params.seed == 1234
    with pytest.raises(ValueError, match="repeat_share"):
        WorkloadParams(repeat_share=1.5)
    with pytest.raises(ValueError, match="think"):
        WorkloadParams(think_min_s=3, think_max_s=1)


def test_catalog_uses_the_services_synthetic_home():
    catalog = catalog_from_dataset(WorkloadParams(entity_count=25))
    assert len(catalog.entity_ids) == 25
    assert not any(e.startswith("sensor.") for e in catalog.entity_ids)
    assert "Kitchen" in catalog.areas
    assert catalog == catalog_from_dataset(WorkloadParams(entity_count=25))


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


# -- targets and durations --------------------------------------------------------------------


def test_targets_come_from_pyproject_and_check_latency(tmp_path):
    targets = load_targets(Path(__file__).resolve().parent.parent / "pyproject.toml")
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


@pytest.mark.parametrize(
    ("text", "seconds"), [("60s", 60), ("2m", 120), ("1m30s", 90), ("90", 90), ("1h", 3600),
                          ("0.5s", 0.5)]
)  # fmt: skip
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "0s", "-5s", "m"])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(ConfigurationError, match=r"duration|must be longer"):
        parse_duration(text)


def test_load_options_refuse_nonsense():
    with pytest.raises(ConfigurationError, match="--users"):
        LoadOptions(users=0)
    with pytest.raises(ConfigurationError, match="--open-rate"):
        LoadOptions(open_rate=-1)
    assert LoadOptions(open_rate=5).recorded()["model"] == "open"
