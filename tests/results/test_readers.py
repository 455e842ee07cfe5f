"""perf.results.readers and perf.report.frames on a synthetic run folder (support.make_run)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from support import BUDGET, make_run, manifest_data, request_rows, token_rows, write_jsonl

from perf.errors import MissingRunFileError
from perf.report import frames
from perf.results import manifest, readers


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path)


# -- the tests --------------------------------------------------------------------------------


def test_missing_file_says_which_command_writes_it(tmp_path: Path) -> None:
    run = make_run(tmp_path, omit=("monitor.json", "benchmarks.json"))
    with pytest.raises(MissingRunFileError, match=r"no monitor\.json: run `perf load` first"):
        readers.read_monitor(run)
    with pytest.raises(FileNotFoundError, match=r"no benchmarks\.json: run `perf bench` first"):
        frames.benchmark_medians(run)


def test_damaged_json_is_a_value_error_naming_the_file(run: Path) -> None:
    (run / "monitor.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"monitor\.json is not valid JSON"):
        readers.read_monitor(run)


def test_resolve_run_finds_latest_and_paths(tmp_path: Path) -> None:
    older = make_run(tmp_path, "20250101T000000Z-aaaa")
    newer = make_run(tmp_path, "20260101T000000Z-bbbb")
    assert readers.resolve_run("latest", tmp_path) == newer
    assert readers.resolve_run(str(older), tmp_path) == older
    assert readers.resolve_run("2025", tmp_path) == older


def test_endpoint_percentiles_are_exact_nearest_rank(run: Path) -> None:
    table = frames.endpoint_percentiles(run)
    assert table.loc["/query", "count"] == 100
    assert table.loc["/query", "p95_ms"] == pytest.approx(95.0)  # rank ceil(0.95 * 100)
    assert table.loc["/query", "p50_ms"] == pytest.approx(50.0)
    assert table.loc["/health", "p95_ms"] == pytest.approx(1.9)  # rank 19 of 20, 0.1 ms apart
    assert table.loc["/query", "cold_miss_share"] == pytest.approx(0.5)


def test_latency_over_time_buckets_every_request_once(run: Path) -> None:
    frame = frames.latency_over_time(run, bucket_seconds=10.0)
    assert frame["count"].sum() == 120
    rows = request_rows()  # 120 requests 0.5 s apart: 20 per 10 s bucket
    first = sorted(r["latency_ms"] for r in rows[:20] if r["name"] == "/query")
    query = frame[frame["name"] == "/query"]
    assert list(query["bucket_s"]) == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert query.iloc[0]["count"] == len(first)
    assert query.iloc[0]["p95_ms"] == first[math.ceil(0.95 * len(first)) - 1]  # nearest rank
    with pytest.raises(ValueError, match="bucket_seconds"):
        frames.latency_over_time(run, bucket_seconds=0)


def test_requests_frame_has_elapsed_seconds(run: Path) -> None:
    frame = frames.requests_frame(run)
    assert len(frame) == 120
    assert frame["elapsed_s"].iloc[0] == 0.0
    assert frame["elapsed_s"].iloc[-1] == pytest.approx(59.5)


def test_cache_hit_rates_per_cache(run: Path) -> None:
    rates = frames.cache_hit_rates(run)
    assert set(rates.index) == {"correlation", "entity_context", "memory"}
    assert rates.loc["correlation", "lookups"] == 100
    assert rates.loc["entity_context", "hit_rate"] == pytest.approx(0.8)
    assert rates.loc["correlation", "memory_hit_rate"] == pytest.approx(0.9)


def test_operation_latencies_in_ms_filtered_by_prefix(run: Path) -> None:
    ops = frames.operation_latencies(run, "db.")
    assert list(ops.index) == ["db.entity_context", "db.event_series"]
    assert ops.loc["db.entity_context", "p95_ms"] == pytest.approx(20.0)
    assert ops.loc["db.entity_context", "max_ms"] == pytest.approx(30.0)


def test_tokens_per_query_and_components(run: Path) -> None:
    per_query = frames.tokens_per_query(run)
    assert len(per_query) == 10
    assert per_query["tokens_after"].mean() == pytest.approx(550.0)
    assert per_query.loc["req0", "cached"]
    components = frames.token_components(run)
    assert components.loc["system_prompt", "mean_after"] == 60
    assert components.loc["entity_context", "max_before"] == 940
    assert components["calls_cut"].sum() == 0


def test_per_query_tokens_sums_the_calls_of_one_request() -> None:
    records = [
        {"request_id": "a", "total_tokens_after": 10},
        {"request_id": "a", "total_tokens_after": 5},
        {"request_id": "b", "total_tokens_after": 7},
    ]
    assert readers.per_query_tokens(records) == {"a": 15, "b": 7}


def test_benchmark_medians_and_bar_ratios(run: Path) -> None:
    medians = frames.benchmark_medians(run)
    assert medians.loc["bench_get[perf]", "median_us"] == pytest.approx(1.0)
    assert medians.loc["bench_get[perf]", "min_us"] == pytest.approx(0.9)
    bars = frames.bar_ratios(run)
    assert len(bars) == 1
    assert bars.iloc[0]["ratio"] == pytest.approx(0.25)
    assert bool(bars.iloc[0]["passed"])


def test_expected_interval_is_the_mean_think_time_of_a_closed_run() -> None:
    assert manifest.expected_interval_ms(manifest.workload(manifest_data())) == 2000.0
    open_model = manifest_data()
    open_model["stages"]["load"]["workload"]["model"] = "open"
    assert manifest.expected_interval_ms(manifest.workload(open_model)) is None
    assert manifest.expected_interval_ms(manifest.workload({"stages": {}})) is None


def test_manifest_accessors_read_what_the_load_stage_records() -> None:
    data = manifest_data()
    assert manifest.cold_miss_share(data) == 0.5
    assert manifest.token_budget(data) == BUDGET
    assert manifest.endpoint_summary(data, "/health") is None
    assert manifest.token_budget({"stages": {}}) is None


def test_tokens_per_query_agree_between_the_gate_and_the_notebook(run: Path) -> None:
    """Records without a request_id count as queries of their own in both."""
    rows = token_rows([100, 200, 300])
    rows[1]["request_id"] = rows[2]["request_id"] = None
    write_jsonl(run / "tokens.jsonl", rows)
    gate_view = sorted(readers.per_query_tokens(readers.read_token_log(run)).values())
    notebook_view = sorted(frames.tokens_per_query(run)["tokens_after"])
    assert gate_view == notebook_view == [100, 200, 300]


def test_checks_frame_filters_by_pattern(run: Path, tmp_path: Path) -> None:
    targets = tmp_path / "targets.toml"
    targets.write_text("[targets]\nhealth_p95_ms = 10\nmemory_cache_hit_rate = 0.6\n")
    frame = frames.checks_frame(run, targets, names=("*_cache_hit_rate", "health*"))
    assert list(frame["name"]) == ["health_p95_ms", "memory_cache_hit_rate"]
    assert set(frame["verdict"]) == {"pass"}


def test_report_modules_import_without_pandas() -> None:
    code = (
        "import sys, perf.report, perf.results, perf.loadgen, perf.cli\n"
        "heavy = {'pandas', 'matplotlib', 'nbclient', 'nbconvert'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
