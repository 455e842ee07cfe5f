"""perf.report.checks: every check's pass, fail, inconclusive and no-data paths on synthetic
run folders (support.make_run: a steady run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support import (
    TARGETS,
    by_name,
    edit_json,
    history_rows,
    make_run,
    monitor_data,
    request_rows,
    token_rows,
    write_jsonl,
)

from perf.report.checks import FAIL, INCONCLUSIVE, NO_DATA, PASS, run_checks

EXPECTED_NAMES = {
    "query_latency_p95_ms",
    "health_p95_ms",
    "db_query_p95_ms[db.entity_context]",
    "db_query_p95_ms[db.event_series]",
    "correlation_cache_hit_rate",
    "entity_context_cache_hit_rate",
    "memory_cache_hit_rate",
    "tokens_per_query_mean",
    "tokens_per_query_max",
    "token_budget_enforced",
    "tokens_log_matches_monitor",
    "bar[bench_get[perf] / bench_get[peer]]",
}


def test_every_target_passes_on_a_good_run(tmp_path: Path) -> None:
    checks = by_name(run_checks(make_run(tmp_path), TARGETS))
    assert set(checks) == EXPECTED_NAMES
    assert {c.verdict for c in checks.values()} == {PASS}
    query = checks["query_latency_p95_ms"]
    assert 90.0 <= query.measured <= 100.0
    assert query.interval["low"] <= query.measured <= query.interval["high"]
    assert query.interval["confidence"] == 0.95
    assert (query.target, query.unit, query.source) == ("< 500", "ms", "requests.jsonl")
    assert query.message.startswith("ok query_latency_p95_ms: P95 of /query in steady state (")
    assert query.window["rule"] == "MSER-5" and query.window["settled"]
    assert query.details["whole_run"] == 95.0
    db = checks["db_query_p95_ms[db.entity_context]"]
    assert db.measured == pytest.approx(20.0, rel=0.05)
    assert db.interval["low"] < 20.0 < db.interval["high"]
    assert checks["tokens_per_query_mean"].measured == pytest.approx(550.0)
    assert checks["tokens_per_query_max"].measured == 1000
    assert checks["tokens_per_query_max"].interval is None  # exact: the budget caps every query
    assert checks["bar[bench_get[perf] / bench_get[peer]]"].measured == pytest.approx(0.25)


def test_hit_rate_reports_the_cold_miss_share_beside_it(tmp_path: Path) -> None:
    check = by_name(run_checks(make_run(tmp_path), TARGETS))["correlation_cache_hit_rate"]
    assert check.measured == pytest.approx(0.9, abs=0.01)
    assert check.interval["method"] == "batch means"
    assert 0.4 <= check.details["cold_miss_share"] <= 0.6
    assert "of steady-state queries were first-time" in check.message


def _slow_queries(run: Path) -> None:
    write_jsonl(run / "requests.jsonl", request_rows(query_ms=1000.0, health_ms=40.0))


def _slow_db(run: Path) -> None:
    write_jsonl(run / "monitor_history.jsonl", history_rows(p95_s={"db.event_series": 0.2}))


def _cold_cache(run: Path) -> None:
    write_jsonl(run / "monitor_history.jsonl", history_rows(hit_rates={"memory": 0.1}))


def _big_prompts(run: Path) -> None:
    rows = token_rows([8000] * 20 + [31000])  # mean 9,095, max 31,000 > budget 30,000
    write_jsonl(run / "tokens.jsonl", rows)
    edit_json(run / "monitor.json", lambda m: m.update(tokens=monitor_data(rows)["tokens"]))


def _monitor_disagrees(run: Path) -> None:
    edit_json(run / "monitor.json", lambda m: m["tokens"].update(calls=3))


def _no_budget_report(run: Path) -> None:
    rows = token_rows()
    del rows[4]["tokens_after"]
    write_jsonl(run / "tokens.jsonl", rows)


def _slow_bar(run: Path) -> None:
    def change(data: dict) -> None:
        data["benchmarks"][0]["stats"]["median"] = 3e-6  # 0.75x of the peer, bar 0.5x

    edit_json(run / "benchmarks.json", change)


@pytest.mark.parametrize(
    ("spoil", "failing"),
    [
        (_slow_queries, {"query_latency_p95_ms", "health_p95_ms"}),
        (_slow_db, {"db_query_p95_ms[db.event_series]"}),
        (_cold_cache, {"memory_cache_hit_rate"}),
        (_big_prompts, {"tokens_per_query_mean", "tokens_per_query_max", "token_budget_enforced"}),
        (_monitor_disagrees, {"tokens_log_matches_monitor"}),
        (_no_budget_report, {"token_budget_enforced"}),
        (_slow_bar, {"bar[bench_get[perf] / bench_get[peer]]"}),
    ],
)
def test_each_check_fails_when_its_measurement_misses(
    tmp_path: Path, spoil: Callable[[Path], None], failing: set[str]
) -> None:
    run = make_run(tmp_path)
    spoil(run)
    checks = run_checks(run, TARGETS)
    assert {c.name for c in checks if c.verdict == FAIL} == failing
    assert all(c.message.startswith(f"FAIL {c.name}") for c in checks if c.verdict == FAIL)
    assert not [c for c in checks if c.verdict == NO_DATA]


def test_budget_violation_names_the_record_and_the_limit(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    _big_prompts(run)
    check = by_name(run_checks(run, TARGETS))["token_budget_enforced"]
    assert check.measured == 1
    assert check.details["violations"] == {
        "tokens.jsonl:21": [
            "total 31000 > max_total_tokens 30000",
            "entity_context 30940 > max_entity_context_tokens 10000",
        ]
    }
    assert check.details["budget_from"] == "manifest token_budget"


@pytest.mark.parametrize(
    ("missing", "command", "names"),
    [
        ("requests.jsonl", "perf load", {"query_latency_p95_ms", "health_p95_ms"}),
        ("monitor.json", "perf load", {"tokens_log_matches_monitor"}),
        ("monitor_history.jsonl", "perf load",
         {"db_query_p95_ms", "correlation_cache_hit_rate", "entity_context_cache_hit_rate",
          "memory_cache_hit_rate"}),
        ("tokens.jsonl", "perf load",
         {"tokens_per_query_mean", "tokens_per_query_max", "token_budget_enforced"}),
        ("benchmarks.json", "perf bench", {"bars"}),
    ],
)  # fmt: skip
def test_a_missing_file_is_no_data_naming_the_command(
    tmp_path: Path, missing: str, command: str, names: set[str]
) -> None:
    checks = run_checks(make_run(tmp_path, omit=(missing,)), TARGETS)
    no_data = [c for c in checks if c.verdict == NO_DATA]
    assert {c.name for c in no_data} == names
    for check in no_data:
        assert check.measured is None
        assert check.source == missing
        assert f"has no {missing}: run `{command}` first" in check.message
    assert not [c for c in checks if c.verdict == FAIL]


def _no_health(run: Path) -> None:
    rows = [r for r in request_rows() if r["name"] != "/health"]
    write_jsonl(run / "requests.jsonl", rows)


def _edit_history(run: Path, change: Callable[[dict], None]) -> None:
    rows = history_rows()
    for row in rows:
        change(row)
    write_jsonl(run / "monitor_history.jsonl", rows)


def _no_db_operations(run: Path) -> None:
    _edit_history(run, lambda r: r.update(histograms={}))


def _cache_unknown(run: Path) -> None:
    _edit_history(run, lambda r: r["cache_stats"].pop("correlation"))


def _cache_unused(run: Path) -> None:
    _edit_history(run, lambda r: r["cache_stats"]["memory"].update(hits=0, misses=0))


def _empty_token_log(run: Path) -> None:
    (run / "tokens.jsonl").write_text("", encoding="utf-8")


def _peer_missing(run: Path) -> None:
    edit_json(run / "benchmarks.json", lambda d: d["benchmarks"].pop(1))


def _no_bars(run: Path) -> None:
    edit_json(run / "benchmarks.json", lambda d: d["benchmarks"][0]["extra_info"].clear())


@pytest.mark.parametrize(
    ("spoil", "name", "why"),
    [
        (_no_health, "health_p95_ms", "no /health requests"),
        (_no_db_operations, "db_query_p95_ms", "no db.* histograms"),
        (_cache_unknown, "correlation_cache_hit_rate", "cache 'correlation' saw no lookups"),
        (_cache_unused, "memory_cache_hit_rate", "saw no lookups"),
        (_empty_token_log, "tokens_per_query_mean", "tokens.jsonl is empty"),
        (_peer_missing, "bar[bench_get[perf] / bench_get[peer]]", "did not run"),
        (_no_bars, "bars", "declares no speed bars"),
    ],
)
def test_missing_measurements_are_no_data(
    tmp_path: Path, spoil: Callable[[Path], None], name: str, why: str
) -> None:
    run = make_run(tmp_path)
    spoil(run)
    check = by_name(run_checks(run, TARGETS))[name]
    assert check.verdict == NO_DATA
    assert why in check.message


def test_a_target_without_a_check_is_no_data(tmp_path: Path) -> None:
    checks = by_name(run_checks(make_run(tmp_path), {**TARGETS, "queue_depth_max": 5}))
    assert checks["queue_depth_max"].verdict == NO_DATA
    assert "no check knows target 'queue_depth_max'" in checks["queue_depth_max"].message


def test_only_the_targets_given_are_checked(tmp_path: Path) -> None:
    checks = run_checks(make_run(tmp_path), {"health_p95_ms": 1.0})
    names = {c.name for c in checks}
    assert names == {
        "health_p95_ms",
        "token_budget_enforced",
        "tokens_log_matches_monitor",
        "bar[bench_get[perf] / bench_get[peer]]",
    }
    assert by_name(checks)["health_p95_ms"].verdict == FAIL  # P95 1.9 ms, target < 1 ms


def test_a_run_without_a_manifest_budget_checks_the_max_target(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    edit_json(run / "manifest.json", lambda m: m["stages"].clear())
    check = by_name(run_checks(run, TARGETS))["token_budget_enforced"]
    assert check.verdict == PASS
    assert check.details["budget"] == {"max_total_tokens": 30000.0}
    assert "tokens_per_query_max" in check.details["budget_from"]


def test_an_interval_straddling_the_target_is_inconclusive_and_says_what_would_settle_it(
    tmp_path: Path,
) -> None:
    check = by_name(run_checks(make_run(tmp_path), {"query_latency_p95_ms": 97.0}))
    query = check["query_latency_p95_ms"]
    assert query.interval["low"] < 97.0 <= query.interval["high"]
    assert query.verdict == INCONCLUSIVE
    assert query.message.startswith("INCONCLUSIVE query_latency_p95_ms:")
    assert "more requests" in query.message and "would settle it" in query.message


def test_a_slow_cold_start_is_cut_as_warm_up_and_shown_beside_the_steady_state(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path)
    rows = request_rows(query_ms=100.0)
    slow = [r for r in rows if r["name"] == "/query"][:20]
    for row in slow:
        row["latency_ms"] = 2000.0  # the first seconds of a cold start
    write_jsonl(run / "requests.jsonl", rows)
    query = by_name(run_checks(run, TARGETS))["query_latency_p95_ms"]
    assert query.details["whole_run"] == 2000.0  # the whole run misses the target...
    assert query.verdict == PASS  # ...the steady state meets it
    assert query.window["warmup_samples"] >= 20 and query.window["warmup_seconds"] > 0
    assert query.details["warmup"] == 2000.0
    assert "warm-up 2,000.0 ms" in query.message


def test_a_hit_rate_still_climbing_at_the_end_is_not_called_a_failure(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    rows = history_rows(windows=24)
    hits = misses = 0
    for index, row in enumerate(rows):
        rate = min(0.75, 0.03 * index)  # climbs from 0 to 75 % at the very end
        hits += round(100 * rate)
        misses += 100 - round(100 * rate)
        row["cache_stats"]["correlation"] = {"hits": hits, "misses": misses}
    write_jsonl(run / "monitor_history.jsonl", rows)
    check = by_name(run_checks(run, TARGETS))["correlation_cache_hit_rate"]
    assert check.window["settled"] is False
    assert check.verdict == INCONCLUSIVE
    assert "still warming up when the run ended" in check.message
