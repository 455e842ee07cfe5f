"""③ The results contract, standard library only: the run folder's file names, the manifest's
schema, run folders, the request-log format, the targets, the speed bars and the readers.
Producers (``perf.loadgen``, the benchmarks) and consumers (``perf.report``) both import it;
it imports neither.
"""

from __future__ import annotations

from perf.results import files, manifest
from perf.results.bars import BarCheck, check_bars, format_bars
from perf.results.readers import (
    per_query_tokens,
    read_benchmarks,
    read_manifest,
    read_monitor,
    read_requests,
    read_token_log,
    resolve_run,
)
from perf.results.requests_log import (
    EndpointSummary,
    RequestRecord,
    backfill_latencies,
    percentile,
    read_request_log,
    summarize_requests,
)
from perf.results.runs import RunFolder, create_run, find_run, list_baselines, list_runs, open_run
from perf.results.targets import LatencySlo, SloCheck, check_latency_slos, load_targets

__all__ = [
    "BarCheck",
    "EndpointSummary",
    "LatencySlo",
    "RequestRecord",
    "RunFolder",
    "SloCheck",
    "backfill_latencies",
    "check_bars",
    "check_latency_slos",
    "create_run",
    "files",
    "find_run",
    "format_bars",
    "list_baselines",
    "list_runs",
    "load_targets",
    "manifest",
    "open_run",
    "per_query_tokens",
    "percentile",
    "read_benchmarks",
    "read_manifest",
    "read_monitor",
    "read_request_log",
    "read_requests",
    "read_token_log",
    "resolve_run",
    "summarize_requests",
]
