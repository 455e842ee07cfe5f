"""The results contract: run folders, request logs, targets, speed bars, the load runner,
the checks, the gate and the notebook reports.

``import perf.report`` stays light (standard library only): names load their module on first
access, and nothing here imports pandas, numpy or Locust.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perf._lazy import lazy_getattr

if TYPE_CHECKING:
    from perf.errors import MissingRunFileError
    from perf.report.bars import BarCheck, check_bars, format_bars
    from perf.report.checks import Check, run_checks
    from perf.report.gate import GateResult, run_gate
    from perf.report.load_run import LoadOptions, parse_duration, run_load
    from perf.report.notebooks import NotebookResult, write_report
    from perf.report.readers import resolve_run
    from perf.report.requests_log import (
        EndpointSummary,
        RequestRecord,
        backfill_latencies,
        percentile,
        read_request_log,
        summarize_requests,
    )
    from perf.report.runs import (
        RunFolder,
        create_run,
        find_run,
        list_baselines,
        list_runs,
        open_run,
        write_json_atomic,
    )
    from perf.report.targets import LatencySlo, SloCheck, check_latency_slos, load_targets
    from perf.report.workload import WorkloadParams

_MODULES = {
    "BarCheck": "bars",
    "Check": "checks",
    "EndpointSummary": "requests_log",
    "GateResult": "gate",
    "LatencySlo": "targets",
    "LoadOptions": "load_run",
    "MissingRunFileError": "readers",
    "NotebookResult": "notebooks",
    "RequestRecord": "requests_log",
    "RunFolder": "runs",
    "SloCheck": "targets",
    "WorkloadParams": "workload",
    "backfill_latencies": "requests_log",
    "check_bars": "bars",
    "check_latency_slos": "targets",
    "create_run": "runs",
    "find_run": "runs",
    "format_bars": "bars",
    "list_baselines": "runs",
    "list_runs": "runs",
    "load_targets": "targets",
    "open_run": "runs",
    "parse_duration": "load_run",
    "percentile": "requests_log",
    "read_request_log": "requests_log",
    "resolve_run": "readers",
    "run_checks": "checks",
    "run_gate": "gate",
    "run_load": "load_run",
    "summarize_requests": "requests_log",
    "write_json_atomic": "runs",
    "write_report": "notebooks",
}

__all__ = [
    "BarCheck",
    "Check",
    "EndpointSummary",
    "GateResult",
    "LatencySlo",
    "LoadOptions",
    "MissingRunFileError",
    "NotebookResult",
    "RequestRecord",
    "RunFolder",
    "SloCheck",
    "WorkloadParams",
    "backfill_latencies",
    "check_bars",
    "check_latency_slos",
    "create_run",
    "find_run",
    "format_bars",
    "list_baselines",
    "list_runs",
    "load_targets",
    "open_run",
    "parse_duration",
    "percentile",
    "read_request_log",
    "resolve_run",
    "run_checks",
    "run_gate",
    "run_load",
    "summarize_requests",
    "write_json_atomic",
    "write_report",
]


__getattr__ = lazy_getattr(
    __name__, {name: f"perf.report.{module}" for name, module in _MODULES.items()}
)
