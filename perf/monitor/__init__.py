"""Latency monitoring: bounded-memory quantile sketches, PerformanceMonitor, exporters.

``import perf.monitor`` needs only the standard library; prometheus_client is imported when
metrics are collected.
"""

from perf.monitor.decorator import track_performance
from perf.monitor.monitor import (
    SNAPSHOT_FORMAT,
    PerformanceMonitor,
    Tracking,
    get_performance_monitor,
)
from perf.monitor.operation import QUANTILES, OperationRecorder
from perf.monitor.prometheus import PROMETHEUS_CONTENT_TYPE, MonitorCollector, prometheus_text
from perf.monitor.sketch import DEFAULT_RELATIVE_ACCURACY, QuantileSketch

__all__ = [
    "DEFAULT_RELATIVE_ACCURACY",
    "PROMETHEUS_CONTENT_TYPE",
    "QUANTILES",
    "SNAPSHOT_FORMAT",
    "MonitorCollector",
    "OperationRecorder",
    "PerformanceMonitor",
    "QuantileSketch",
    "Tracking",
    "get_performance_monitor",
    "prometheus_text",
    "track_performance",
]
