"""The Prometheus exposition, parsed back with prometheus_client's own parser."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from perf.errors import ConfigurationError
from perf.monitor import MonitorCollector, PerformanceMonitor, prometheus_text


def _monitor():
    monitor = PerformanceMonitor()
    for i in range(200):
        monitor.record("llm.call", 0.01 * (1 + i % 50), error=i % 40 == 0)
    monitor.record("db.query", 0.002)
    monitor.register_cache("correlation", lambda: {"hits": 80, "misses": 20})
    return monitor


def _samples(text):
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return families, {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }


def test_exposition_parses_back_to_the_monitors_figures():
    monitor = _monitor()
    stats = monitor.get_stats()
    families, samples = _samples(prometheus_text(monitor))
    assert families["perf_operation_duration_seconds"].type == "summary"
    assert families["perf_operation_errors"].type == "counter"
    assert families["perf_cache_hit_rate"].type == "gauge"
    llm = stats["operations"]["llm.call"]
    op = (("operation", "llm.call"),)
    assert samples[("perf_operation_duration_seconds_count", op)] == llm["count"] == 200
    assert samples[("perf_operation_duration_seconds_sum", op)] == pytest.approx(llm["total_time"])
    for key, q in (("p50", "0.5"), ("p99", "0.99"), ("p999", "0.999")):
        labels = (("operation", "llm.call"), ("quantile", q))
        assert samples[("perf_operation_duration_seconds", labels)] == pytest.approx(llm[key])
        recent = samples[("perf_operation_recent_duration_seconds", labels)]
        assert recent == pytest.approx(llm["recent"][key])
    assert samples[("perf_operation_errors_total", op)] == llm["errors"] == 5
    assert samples[("perf_operation_max_seconds", op)] == pytest.approx(0.5)
    cache = (("cache", "correlation"),)
    assert samples[("perf_cache_hits_total", cache)] == 80
    assert samples[("perf_cache_misses_total", cache)] == 20
    assert samples[("perf_cache_hit_rate", cache)] == pytest.approx(0.8)


def test_collector_registers_in_a_users_registry_with_a_prefix():
    registry = CollectorRegistry()
    registry.register(MonitorCollector(_monitor(), prefix="svc"))
    families, samples = _samples(generate_latest(registry).decode())
    assert "svc_operation_duration_seconds" in families
    assert samples[("svc_operation_duration_seconds_count", (("operation", "db.query"),))] == 1


def test_empty_monitor_exports_no_samples():
    families, samples = _samples(prometheus_text(PerformanceMonitor()))
    assert samples == {}
    assert "perf_operation_duration_seconds" in families


def test_importing_perf_monitor_does_not_import_prometheus_client():
    code = "import sys, perf.monitor; print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_cache_whose_provider_fails_is_left_out_of_the_scrape():
    monitor = _monitor()

    def closed():
        raise RuntimeError("database is closed")

    monitor.register_cache("sqlite", closed)
    _, samples = _samples(prometheus_text(monitor))
    assert samples[("perf_cache_hits_total", (("cache", "correlation"),))] == 80
    assert not any(labels == (("cache", "sqlite"),) for _, labels in samples)


def test_gauge_groups_are_exported_and_failures_stay_local():
    monitor = PerformanceMonitor()
    monitor.register_gauges("db_pool", lambda: {"size": 10, "checked_out": 3, "pool": "Queue"})

    def broken():
        raise RuntimeError("engine disposed")

    monitor.register_gauges("other_pool", broken)
    gauges = monitor.get_stats()["gauges"]
    assert gauges["db_pool"] == {"size": 10, "checked_out": 3}  # non-numbers left out
    assert "engine disposed" in gauges["other_pool"]["error"]
    _, samples = _samples(prometheus_text(monitor))
    assert samples[("perf_gauge", (("group", "db_pool"), ("name", "checked_out")))] == 3
    assert not any(dict(labels).get("group") == "other_pool" for _, labels in samples)


@pytest.mark.parametrize(("group", "provider"), [("", dict), ("pool", "not callable")])
def test_bad_gauge_registration_is_a_clear_error(group, provider):
    with pytest.raises(ConfigurationError, match="gauge group"):
        PerformanceMonitor().register_gauges(group, provider)
