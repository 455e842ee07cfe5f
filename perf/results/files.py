"""The names of a run folder's files: defined here once, used by every producer and consumer.

``results/runs/<run-id>/`` holds (design.md, "The results contract"):
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BENCHMARKS",
    "CACHE_TRACES",
    "CACHE_TRACE_PARTS",
    "CAPACITY",
    "CAPACITY_DIR",
    "COMPARE",
    "COMPARE_DIR",
    "GATE",
    "LOCUST_HISTORY",
    "LOCUST_HTML",
    "LOCUST_JSON",
    "LOCUST_LOG",
    "LOCUST_PREFIX",
    "LOCUST_STATS",
    "MANIFEST",
    "MONITOR",
    "MONITOR_HISTORY",
    "PRODUCERS",
    "PROFILE_COLLAPSED",
    "PROFILE_FLAMEGRAPH",
    "PROFILE_LOG",
    "PROFILE_SPEEDSCOPE",
    "REPORT_DIR",
    "REPORT_SUMMARY",
    "REQUEST_LOG",
    "SERVICE_LOG",
    "TOKEN_LOG",
    "WRITING_SUFFIX",
    "capacity_step_dir",
    "compare_instructions_log",
    "compare_round_file",
    "worker_request_log_glob",
]

MANIFEST: Final = "manifest.json"  # run id, commit, machine, stages with settings and workload
BENCHMARKS: Final = "benchmarks.json"  # pytest-benchmark's own JSON
REQUEST_LOG: Final = "requests.jsonl"  # one line per request (perf.results.requests_log)
MONITOR: Final = "monitor.json"  # the service's /performance/stats at the end of the run
MONITOR_HISTORY: Final = "monitor_history.jsonl"  # its cumulative figures every few seconds
TOKEN_LOG: Final = "tokens.jsonl"  # noqa: S105 - a file name: one record per LLM call
LOCUST_PREFIX: Final = "locust"  # Locust's --csv / --json-file prefix: locust_*.csv, locust.json
LOCUST_HTML: Final = "locust.html"
CACHE_TRACES: Final = "cache_traces.json"  # sampled key traces per cache (perf.cache.trace)
CACHE_TRACE_PARTS: Final = "cache_traces.parts"  # the service workers' own, merged at the end
LOCUST_JSON: Final = f"{LOCUST_PREFIX}.json"  # --json-file: per endpoint, a rounded histogram
LOCUST_STATS: Final = f"{LOCUST_PREFIX}_stats.csv"  # --csv: per endpoint at the end
LOCUST_HISTORY: Final = f"{LOCUST_PREFIX}_stats_history.csv"  # --csv: the run second by second
WRITING_SUFFIX: Final = ".writing"  # a worker's request log until that worker has quit
SERVICE_LOG: Final = "service.log"  # our own service's output during a load run
LOCUST_LOG: Final = "locust.log"  # Locust's output, where perf keeps it (a capacity step)
CAPACITY: Final = "capacity.json"  # perf load --find-capacity: every step and the knee
CAPACITY_DIR: Final = "capacity"  # its steps: one folder each with the step's Locust outputs
GATE: Final = "gate.json"  # every check with its target, measured value and verdict
COMPARE: Final = "compare.json"  # perf compare: BASE against HEAD, per benchmark and verdict
COMPARE_DIR: Final = "compare"  # its rounds: pytest-benchmark JSON + log per side and process
# perf load --profile: py-spy's samples of the service in the run's second half (the top
# frames are in the manifest's load stage, key "profile")
PROFILE_COLLAPSED: Final = "profile.collapsed.txt"  # py-spy's own collapsed stacks (raw)
PROFILE_FLAMEGRAPH: Final = "profile.svg"  # the flame graph, drawn from those stacks
PROFILE_SPEEDSCOPE: Final = "profile.speedscope.json"  # the same, for https://www.speedscope.app
PROFILE_LOG: Final = "profile.log"  # py-spy's own output (why it failed, when it did)
REPORT_DIR: Final = "report"  # the executed notebooks as HTML
REPORT_SUMMARY: Final = "report/summary.md"

# Which command writes each file (for "no data" messages).
PRODUCERS: Final = {
    MANIFEST: "perf bench` or `perf load",
    BENCHMARKS: "perf bench",
    REQUEST_LOG: "perf load",
    MONITOR: "perf load",
    MONITOR_HISTORY: "perf load",
    TOKEN_LOG: "perf load",
    LOCUST_JSON: "perf load` (or `locust --json-file locust`, then `perf import-locust",
    GATE: "perf gate",
    CACHE_TRACES: "perf load --trace-rate 0.05",  # the default rate; a run with 0 has none
    COMPARE: "perf compare",
    CAPACITY: "perf load --find-capacity",
}


def worker_request_log_glob() -> str:
    """The per-process request logs of a distributed Locust run, merged into REQUEST_LOG."""
    stem, _, suffix = REQUEST_LOG.rpartition(".")
    return f"{stem}.worker-*.{suffix}"


def compare_round_file(side: str, index: int) -> str:
    """``compare/<side>-<NN>.json``: one benchmark process of ``perf compare`` (``base`` or
    ``head``, 1-based), pytest-benchmark's own JSON; its output log has the suffix ``.log``."""
    return f"{COMPARE_DIR}/{side}-{index:02d}.json"


def compare_instructions_log(side: str, seed: int) -> str:
    """``compare/instructions-<side>-seed<N>.log``: the output of one probe process of ``perf
    compare --instructions`` under valgrind (``base`` or ``head``, a hash seed)."""
    return f"{COMPARE_DIR}/instructions-{side}-seed{seed}.log"


def capacity_step_dir(search: str, index: int) -> str:
    """``capacity/<search>/step-NN``: one step of a capacity search (1-based), holding the
    step's ``requests.jsonl``, Locust's outputs and its log."""
    return f"{CAPACITY_DIR}/{search}/step-{index:02d}"
