"""perf.report.readers on a small synthetic run folder (the same file formats as a real run).

``make_run`` builds that folder; the checks, gate and notebook tests import it from here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from perf.errors import MissingRunFileError
from perf.report import frames, readers

RUN_ID = "20260101T000000Z-abc12345"
TARGETS = {
    "query_latency_p95_ms": 500.0,
    "db_query_p95_ms": 50.0,
    "health_p95_ms": 10.0,
    "correlation_cache_hit_rate": 0.80,
    "entity_context_cache_hit_rate": 0.70,
    "memory_cache_hit_rate": 0.60,
    "tokens_per_query_mean": 5000.0,
    "tokens_per_query_max": 30000.0,
}
BUDGET = {
    "max_entity_context_tokens": 10000,
    "max_enrichment_context_tokens": 2000,
    "max_conversation_history_tokens": 1000,
    "max_total_tokens": 30000,
}
START = 1_800_000_000.0


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def request_rows(query_ms: float = 100.0, health_ms: float = 2.0) -> list[dict]:
    """100 /query requests at 1..100 x query_ms/100 ms and 20 /health at 1..20 x health_ms/20,
    one every 0.5 s; every other query is new."""
    rows = []
    for i in range(100):
        rows.append(("/query", "POST", (i + 1) * query_ms / 100, i % 2 == 0))
    for i in range(20):
        rows.append(("/health", "GET", (i + 1) * health_ms / 20, None))
    return [
        {"timestamp": START + n * 0.5, "intended_start": START + n * 0.5, "name": name,
         "method": method, "latency_ms": latency, "status": 200, "ok": True, "new_query": new}
        for n, (name, method, latency, new) in enumerate(rows)
    ]  # fmt: skip


def token_rows(totals: list[int] | None = None) -> list[dict]:
    """One `answer` call per query; ``totals`` are the prompt tokens after the budget."""
    rows = []
    for n, total in enumerate(totals or [100 * (i + 1) for i in range(10)]):
        parts = {"system_prompt": 60, "entity_context": total - 60, "enrichment_context": 0,
                 "conversation_history": 0, "user_prompt": 0}  # fmt: skip
        rows.append(
            {"ts": START + n, "request_id": f"req{n}", "purpose": "answer", "model": "gpt-4o",
             "cached": n == 0, "error": None, "tokens_before": dict(parts),
             "tokens_after": parts, "total_tokens_before": total, "total_tokens_after": total,
             "cut": [], "usage": {"prompt_tokens": total + 12, "completion_tokens": 64,
                                   "total_tokens": total + 76}}
        )  # fmt: skip
    return rows


def token_summary(rows: list[dict]) -> dict:
    totals = [r["total_tokens_after"] for r in rows]
    return {"calls": len(rows), "cached_calls": sum(r["cached"] for r in rows),
            "budget_cut_calls": 0, "mean_prompt_tokens": sum(totals) / len(totals),
            "max_prompt_tokens": max(totals)}  # fmt: skip


def cache(hits: int, misses: int) -> dict:
    return {"hits": hits, "misses": misses, "hit_rate": hits / (hits + misses) if hits else 0.0}


def operation(p95_s: float, count: int = 50) -> dict:
    return {"count": count, "errors": 0, "avg_time": p95_s / 2, "p50": p95_s / 3,
            "p95": p95_s, "p99": p95_s * 1.2, "max_time": p95_s * 1.5}  # fmt: skip


def monitor_data(tokens: list[dict]) -> dict:
    return {
        "operations": {"db.entity_context": operation(0.020), "db.event_series": operation(0.005),
                       "query.total": operation(0.150)},
        "cache_stats": {"correlation": {**cache(90, 10), "memory_hit_rate": 0.9,
                                        "disk_hit_rate": 0.0},
                        "entity_context": cache(80, 20), "memory": cache(70, 30)},
        "tokens": token_summary(tokens),
    }  # fmt: skip


def bench(name: str, median_s: float, **extra: object) -> dict:
    return {"group": "g", "name": name, "fullname": f"benchmarks/bench_x.py::{name}",
            "extra_info": dict(extra), "stats": {"min": median_s * 0.9, "median": median_s,
            "mean": median_s * 1.1, "rounds": 100, "data": [median_s] * 3}}  # fmt: skip


def benchmark_data() -> dict:
    return {"machine_info": {}, "commit_info": {}, "datetime": "2026-01-01", "version": "5",
            "benchmarks": [bench("bench_get[perf]", 1e-6, bars={"bench_get[peer]": 0.5}),
                           bench("bench_get[peer]", 4e-6),
                           bench("bench_set[perf]", 2e-6)]}  # fmt: skip


def manifest_data(run_id: str = RUN_ID) -> dict:
    return {
        "schema": 1, "run_id": run_id, "commit": "abc12345", "dirty": False,
        "started_at": "2026-01-01T00:00:00.000Z", "finished_at": None, "status": "finished",
        "stages": {"load": {"status": "finished", "exit_code": 0,
                            "workload": {"model": "closed", "think_min_s": 1.0, "think_max_s": 3.0},
                            "settings": {"service": {"token_budget": BUDGET}},
                            "summary": {"/query": {"cold_miss_share": 0.5}}}},
        "files": [],
    }  # fmt: skip


def make_run(root: Path, run_id: str = RUN_ID, omit: tuple[str, ...] = ()) -> Path:
    """A run folder ``root/runs/<run_id>`` whose every check passes; ``omit`` leaves files out."""
    run = root / "runs" / run_id
    run.mkdir(parents=True)
    tokens = token_rows()
    files = {
        "manifest.json": lambda p: write_json(p, manifest_data(run_id)),
        "requests.jsonl": lambda p: write_jsonl(p, request_rows()),
        "tokens.jsonl": lambda p: write_jsonl(p, tokens),
        "monitor.json": lambda p: write_json(p, monitor_data(tokens)),
        "benchmarks.json": lambda p: write_json(p, benchmark_data()),
    }
    for name, write in files.items():
        if name not in omit:
            write(run / name)
    return run


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
    query = frame[frame["name"] == "/query"]
    assert list(query["bucket_s"]) == [0.0, 10.0, 20.0, 30.0, 40.0]  # 100 queries, 0.5 s apart
    assert query.iloc[0]["count"] == 20
    assert query.iloc[0]["p95_ms"] == pytest.approx(19.0)  # 1..20 ms, rank 19
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
    assert readers.expected_interval_ms(manifest_data()) == pytest.approx(2000.0)
    open_model = manifest_data()
    open_model["stages"]["load"]["workload"]["model"] = "open"
    assert readers.expected_interval_ms(open_model) is None
    assert readers.expected_interval_ms({"stages": {}}) is None


def test_checks_frame_filters_by_pattern(run: Path, tmp_path: Path) -> None:
    targets = tmp_path / "targets.toml"
    targets.write_text("[targets]\nhealth_p95_ms = 10\nmemory_cache_hit_rate = 0.6\n")
    frame = frames.checks_frame(run, targets, names=("*_cache_hit_rate", "health*"))
    assert list(frame["name"]) == ["health_p95_ms", "memory_cache_hit_rate"]
    assert set(frame["verdict"]) == {"pass"}


def test_report_modules_import_without_pandas() -> None:
    code = (
        "import sys, perf.report.checks, perf.report.gate, perf.report.commands, "
        "perf.report.notebooks, perf.report.readers\n"
        "heavy = {'pandas', 'matplotlib', 'nbclient', 'nbconvert'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
