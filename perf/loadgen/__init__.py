"""② The load producers: the workload model, the load-run orchestration (``perf load``) and the
Locust plugin (``perf.loadgen.locust_plugin``, imported only by locustfiles: importing locust
gevent-patches the standard library). Writes run folders through ``perf.results``.
"""

from __future__ import annotations

from perf.loadgen.load_run import LoadOptions, check_host, parse_duration, run_load
from perf.loadgen.workload import QueryGenerator, WorkloadParams

__all__ = [
    "LoadOptions",
    "QueryGenerator",
    "WorkloadParams",
    "check_host",
    "parse_duration",
    "run_load",
]
