"""Shared benchmark plumbing: speed bars (ratios against a peer in the same run)."""

from __future__ import annotations

from perf.results.bars import check_bars, format_bars


def _entries(config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return []
    return [b.as_dict(include_data=False) for b in session.benchmarks if b.stats]


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Store each bar's ratio and verdict (``bar_results``) beside its benchmark in the JSON."""
    by_name = {b["name"]: b for b in output_json["benchmarks"]}
    for check in check_bars(output_json["benchmarks"]):
        results = by_name[check.name]["extra_info"].setdefault("bar_results", [])
        results.append(check.as_dict())


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    checks = check_bars(_entries(config))
    if checks:
        terminalreporter.section("speed bars (median ratio to a peer, same run)")
        terminalreporter.write_line(format_bars(checks))
