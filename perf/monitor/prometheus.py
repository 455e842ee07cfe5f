"""Prometheus exposition of a monitor's figures through prometheus_client's collector API.

``prometheus_client`` is imported only when metrics are collected, never at ``import perf``.
Families (prefix ``perf_`` by default):

- ``perf_operation_duration_seconds`` summary per operation: whole-run count, sum, quantiles
- ``perf_operation_recent_duration_seconds`` gauge per operation and quantile: last window
- ``perf_operation_max_seconds`` gauge, ``perf_operation_errors_total`` counter
- ``perf_cache_hits_total``, ``perf_cache_misses_total`` counters, ``perf_cache_hit_rate`` gauge
  (a cache whose stats provider failed is left out of that scrape)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from perf.monitor.monitor import PerformanceMonitor, get_performance_monitor
from perf.monitor.operation import QUANTILES

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["PROMETHEUS_CONTENT_TYPE", "MonitorCollector", "prometheus_text"]

# What generate_latest writes: the classic text format.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MonitorCollector:
    """A custom collector: register it in a ``CollectorRegistry`` to export ``monitor``."""

    def __init__(self, monitor: PerformanceMonitor | None = None, prefix: str = "perf") -> None:
        self._monitor = monitor if monitor is not None else get_performance_monitor()
        self._prefix = prefix

    def describe(self) -> list[Metric]:
        return []  # names depend on the data; skip the registry's duplicate check

    def collect(self) -> Iterator[Metric]:
        # Lazy on purpose: prometheus_client is needed only when metrics are collected.
        from prometheus_client.core import (  # noqa: PLC0415 - the [metrics] extra, needed only when metrics are read
            CounterMetricFamily,
            GaugeMetricFamily,
            SummaryMetricFamily,
        )
        from prometheus_client.samples import Sample  # noqa: PLC0415 - the [metrics] extra, needed only when metrics are read

        p = self._prefix
        stats = self._monitor.get_stats()
        operations: dict[str, dict[str, Any]] = stats["operations"]
        caches: dict[str, dict[str, Any]] = stats["cache_stats"]

        duration = SummaryMetricFamily(
            f"{p}_operation_duration_seconds",
            "Duration of tracked operations since start (or reset), seconds.",
            labels=["operation"],
        )
        recent = GaugeMetricFamily(
            f"{p}_operation_recent_duration_seconds",
            "Duration quantiles of tracked operations over the recent window, seconds.",
            labels=["operation", "quantile"],
        )
        longest = GaugeMetricFamily(
            f"{p}_operation_max_seconds",
            "Longest duration of each tracked operation, seconds.",
            labels=["operation"],
        )
        errors = CounterMetricFamily(
            f"{p}_operation_errors", "Calls that raised, per operation.", labels=["operation"]
        )
        for name, op in operations.items():
            for key, q in QUANTILES:
                labels = {"operation": name, "quantile": repr(q)}
                duration.samples.append(Sample(duration.name, labels, op[key]))
                if op["recent"][key] is not None:
                    recent.add_metric([name, repr(q)], op["recent"][key])
            duration.add_metric([name], op["count"], op["total_time"])
            longest.add_metric([name], op["max_time"])
            errors.add_metric([name], op["errors"])
        yield from (duration, recent, longest, errors)

        hits = CounterMetricFamily(f"{p}_cache_hits", "Cache hits.", labels=["cache"])
        misses = CounterMetricFamily(f"{p}_cache_misses", "Cache misses.", labels=["cache"])
        hit_rate = GaugeMetricFamily(
            f"{p}_cache_hit_rate", "Hits / (hits + misses).", labels=["cache"]
        )
        for name, cache in caches.items():
            if "error" in cache:  # its provider failed: skip rather than report a false reset
                continue
            hits.add_metric([name], cache["hits"])
            misses.add_metric([name], cache["misses"])
            hit_rate.add_metric([name], cache["hit_rate"])
        yield from (hits, misses, hit_rate)

        gauge = GaugeMetricFamily(
            f"{p}_gauge", "Current levels (e.g. connection pools).", labels=["group", "name"]
        )
        for group, values in stats["gauges"].items():
            for name, value in values.items():
                if name != "error":
                    gauge.add_metric([group, name], value)
        yield gauge


def prometheus_text(monitor: PerformanceMonitor | None = None, prefix: str = "perf") -> str:
    """The text exposition for ``/metrics`` (serve it with ``PROMETHEUS_CONTENT_TYPE``)."""
    from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415 - the [metrics] extra, needed only when metrics are read

    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(monitor, prefix))
    return generate_latest(registry).decode("utf-8")
