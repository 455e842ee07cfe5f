"""``perf load``: one load run into a run folder, with no process left behind.

Starts the reference service (``perf serve``, which starts its own LLM stub) on a free loopback
port unless a host is given, waits for ``/health``, resets its stats, runs Locust headless as a
subprocess (never imported here: it gevent-patches the standard library), then collects
``monitor.json`` and the request log, stops the service, and merges the cache traces its
workers wrote as they stopped into ``cache_traces.json``; also on Ctrl-C or a failure.
"""

from __future__ import annotations

import math
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perf._internal import Say
from perf._internal.atomic import write_json_atomic
from perf._internal.processes import (
    free_port,
    handling_signal,
    http_json,
    start_process,
    stop_process,
    wait_for_http,
)
from perf.errors import ConfigurationError
from perf.loadgen.history import HistorySampler
from perf.loadgen.profile import ServiceProfiler, format_profile
from perf.loadgen.workload import WorkloadParams
from perf.results.cache_traces import collect_cache_traces
from perf.results.files import (
    CACHE_TRACE_PARTS,
    CACHE_TRACES,
    LOCUST_HTML,
    LOCUST_PREFIX,
    MONITOR,
    MONITOR_HISTORY,
    REQUEST_LOG,
    SERVICE_LOG,
    WRITING_SUFFIX,
    worker_request_log_glob,
)
from perf.results.manifest import (
    LOAD_STAGE,
    PROFILE,
    SLO_CHECKS,
    SUMMARY,
    expected_interval_ms,
)
from perf.results.requests_log import (
    merge_request_logs,
    read_request_log,
    summarize_requests,
    summary_percentile,
)
from perf.results.runs import RunFolder
from perf.results.targets import check_latency_slos, load_targets

__all__ = [
    "DEFAULT_TRACE_RATE",
    "LoadOptions",
    "check_host",
    "format_summary",
    "locust_command",
    "locust_worker_command",
    "parse_duration",
    "run_load",
    "service_command",
    "trace_settings",
]

# The share of each cache's keys our service traces: the highest within the budget of
# 5 % on the hit path (a sampled hit costs ~0.9 of an untraced one extra: README, "Hit rates").
DEFAULT_TRACE_RATE = 0.05

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str) -> float:
    """Seconds in ``"60s"``, ``"2m"``, ``"1m30s"``, ``"1h"`` or ``"90"``."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise ConfigurationError(
            f"bad duration {text!r}: use a number of seconds or units, e.g. 60s, 2m, 1m30s"
        )
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ConfigurationError(f"duration {text!r} must be longer than zero")
    return total


@dataclass(frozen=True, slots=True)
class LoadOptions:
    users: int = 20
    spawn_rate: float = 10.0
    duration_seconds: float = 120.0
    host: str | None = None
    open_rate: float | None = None
    processes: int | None = None
    # distributed over hosts: Locust's master waits for this many workers started elsewhere
    # (`locust_worker_command`), listening on master_bind_host
    expect_workers: int | None = None
    master_bind_host: str = "*"
    service_workers: int = 1
    trace_rate: float = DEFAULT_TRACE_RATE  # of our own service's caches; 0: no traces
    workload: WorkloadParams = field(default_factory=WorkloadParams)
    targets: Path | None = None  # default: the repo's pyproject.toml
    progress_seconds: float = 2.0
    history_seconds: float = 5.0  # how often monitor_history.jsonl reads the service's figures
    startup_timeout_seconds: float = 120.0
    profile_rate: float | None = None  # Hz: py-spy samples the service (perf.loadgen.profile)
    profile_nonblocking: bool = False  # py-spy reads without pausing the service

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ConfigurationError(f"--users must be at least 1, got {self.users}")
        if self.spawn_rate <= 0:
            raise ConfigurationError(f"--spawn-rate must be > 0, got {self.spawn_rate}")
        if self.open_rate is not None and self.open_rate <= 0:
            raise ConfigurationError(f"--open-rate must be > 0 requests/s, got {self.open_rate}")
        if self.processes is not None and self.processes < 1:
            raise ConfigurationError(f"--processes must be at least 1, got {self.processes}")
        if self.expect_workers is not None and (
            self.expect_workers < 1 or self.processes or not self.host
        ):
            raise ConfigurationError(
                f"--expect-workers {self.expect_workers}: needs at least 1, --host (a service "
                "the workers' hosts reach) and no --processes"
            )
        if self.history_seconds <= 0:
            raise ConfigurationError(f"--history must be > 0 seconds, got {self.history_seconds}")
        if not 0.0 <= self.trace_rate <= 1.0:
            raise ConfigurationError(f"--trace-rate must be in [0, 1], got {self.trace_rate}")
        if self.service_workers < 1:
            raise ConfigurationError(
                f"--service-workers must be at least 1, got {self.service_workers}"
            )
        if self.profile_rate is not None and (self.host or self.profile_rate <= 0):
            raise ConfigurationError(
                "--profile samples the service perf load starts (no --host) at a rate > 0 Hz"
            )
        if self.host and self.service_workers != 1:
            raise ConfigurationError(
                "--service-workers starts our own service; with --host, start it yourself "
                "(`perf serve --workers N`)"
            )

    def recorded(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "spawn_rate": self.spawn_rate,
            "duration_seconds": self.duration_seconds,
            "host": self.host,
            "model": "open" if self.open_rate else "closed",
            "open_rate": self.open_rate,
            "locust_processes": self.processes,
            "locust_workers": self.expect_workers,
            "service_workers": self.service_workers,
            "cache_trace_rate": None if self.host else self.trace_rate,  # None: not our service
            "history_seconds": self.history_seconds,
            **self.workload.as_dict(),
        }


def _perf_arguments(run: Path, options: LoadOptions, repo: Path) -> list[str]:
    """The plugin's options: the same for a local run, a master and its workers."""
    arguments = [
        "--perf-request-log", str(run / REQUEST_LOG),
        "--perf-progress", f"{options.progress_seconds:g}",
        "--perf-targets", str(options.targets or repo / "pyproject.toml"),
        "--perf-open-rate", f"{options.open_rate or 0:g}",
    ]  # fmt: skip
    for key, value in options.workload.as_dict().items():
        arguments += [f"--perf-{key.replace('_', '-')}", str(value)]
    return arguments


def locust_command(run: Path, url: str, options: LoadOptions, repo: Path) -> list[str]:
    command = [
        sys.executable, "-m", "locust", "-f", str(repo / "loadtests" / "locustfile.py"),
        "--headless", "--host", url, "--users", str(options.users),
        "--spawn-rate", f"{options.spawn_rate:g}",
        "--run-time", f"{max(1, math.ceil(options.duration_seconds))}s", "--stop-timeout", "10",
        "--csv", str(run / LOCUST_PREFIX), "--csv-full-history", "--html", str(run / LOCUST_HTML),
        "--json-file", str(run / LOCUST_PREFIX), "--only-summary",
        *_perf_arguments(run, options, repo),
    ]  # fmt: skip
    if options.processes:
        command += ["--processes", str(options.processes)]
    if options.expect_workers:
        wait = f"{options.startup_timeout_seconds:g}"
        command += ["--master", "--master-bind-host", options.master_bind_host,
                    "--expect-workers", str(options.expect_workers),
                    "--expect-workers-max-wait", wait]  # fmt: skip
    return command


def locust_worker_command(
    run: Path, master_host: str, options: LoadOptions, repo: Path, *, python: str = sys.executable
) -> list[str]:
    """One Locust worker of an ``expect_workers`` run, on any host that reaches the master:
    the same plugin options, its request log beside ``run``'s (merged by the master's
    ``perf load`` when the folder is shared, e.g. over NFS)."""
    return [
        python, "-m", "locust", "-f", str(repo / "loadtests" / "locustfile.py"),
        "--worker", "--master-host", master_host, *_perf_arguments(run, options, repo),
    ]  # fmt: skip


def check_host(url: str) -> None:
    """Raise ``ConfigurationError`` (saying what to do) unless ``url``/health answers."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5.0):  # noqa: S310 - http(s) URL
            pass
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot reach --host {url}: GET /health failed ({exc}); start the service "
            "(`perf serve --port N`) or fix the URL, or omit --host to let perf load start one"
        ) from exc


def _wait_for_workers(run: Path, timeout_seconds: float, say: Say) -> None:
    """Wait until every worker's request log is complete (renamed from ``.writing`` when the
    worker quits, maybe after the master: on another host); an unfinished one (a worker that
    died) is merged as far as it got."""
    deadline = time.monotonic() + timeout_seconds
    while writing := sorted(run.glob(worker_request_log_glob() + WRITING_SUFFIX)):
        if time.monotonic() > deadline:
            say(f"[perf load] workers did not finish their request logs: merging {writing} as is")
            for log in writing:
                log.replace(log.with_name(log.name.removesuffix(WRITING_SUFFIX)))
            return
        time.sleep(0.2)


def _collect(folder: RunFolder, url: str | None, say: Say) -> dict[str, Any]:
    """Merge the workers' request logs and fetch ``monitor.json``; returns the manifest's
    record of the merge: each worker log's record count by file name."""
    run = folder.path
    _wait_for_workers(run, 60.0, say)
    parts = sorted(run.glob(worker_request_log_glob()))
    merged: dict[str, int] = {}
    if parts:
        for part in parts:
            with part.open(encoding="utf-8") as lines:
                merged[part.name] = sum(1 for line in lines if line.strip())
        merge_request_logs(parts, run / REQUEST_LOG)
        for part in parts:
            part.unlink()
    if url is not None:
        try:
            # settle: with several service workers, wait until each has published its last figures
            stats = http_json("GET", f"{url}/performance/stats?settle=1")
            write_json_atomic(run / MONITOR, stats)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            say(f"[perf load] could not fetch {url}/performance/stats for {MONITOR}: {exc}")
    return {"merged_request_logs": merged} if merged else {}


def _results(folder: RunFolder, options: LoadOptions, repo: Path) -> dict[str, Any]:
    log = folder.path / REQUEST_LOG
    if not log.is_file():
        return {}
    interval = expected_interval_ms(options.recorded())
    summaries = summarize_requests(read_request_log(log), expected_interval_ms=interval)
    targets = load_targets(options.targets or repo / "pyproject.toml")
    checks = check_latency_slos(lambda n, q: summary_percentile(summaries, n, q), targets)
    return {
        SUMMARY: {name: s.as_dict() for name, s in summaries.items()},
        SLO_CHECKS: [c.as_dict() for c in checks],
    }


def format_summary(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """The exact per-endpoint numbers as a small table (milliseconds)."""
    head = f"{'endpoint':<20}{'count':>7}{'fails':>6}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
    lines = [head + f"{'CO p95':>8}{'CO p99':>8}{'new':>6}"]
    for name, s in summary.items():
        cold = "" if s["cold_miss_share"] is None else f"{s['cold_miss_share']:.0%}"
        lines.append(
            f"{name:<20}{s['count']:>7}{s['failures']:>6}{s['p50_ms']:>8.1f}{s['p95_ms']:>8.1f}"
            f"{s['p99_ms']:>8.1f}{s['max_ms']:>8.1f}{s['co_p95_ms']:>8.1f}{s['co_p99_ms']:>8.1f}"
            f"{cold:>6}"
        )
    return "\n".join(lines)


def service_command(port: int, options: LoadOptions) -> list[str]:
    """``perf serve`` on ``port`` of loopback."""
    return [sys.executable, "-m", "perf.service", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(options.service_workers)]  # fmt: skip


def trace_settings(options: LoadOptions, run: Path) -> dict[str, str]:
    """The settings that make our own service trace its caches into ``run``."""
    if not options.trace_rate:
        return {"PERF_CACHE_TRACE_RATE": "0"}
    return {
        "PERF_CACHE_TRACE_RATE": f"{options.trace_rate:g}",
        "PERF_CACHE_TRACE_DIR": str(run / CACHE_TRACE_PARTS),
    }


def _stop_service(
    service: subprocess.Popen[bytes], run: Path, options: LoadOptions, say: Say
) -> None:
    """Stop our service, then merge the traces its workers wrote as they stopped."""
    stop_process(service)
    if not options.trace_rate:
        return
    try:
        workers = collect_cache_traces(run / CACHE_TRACE_PARTS, run / CACHE_TRACES)
        say(f"[perf load] cache traces of {len(workers)} service worker(s) in {CACHE_TRACES}")
    except (OSError, ValueError) as exc:
        say(
            f"[perf load] no {CACHE_TRACES}: {exc} (the service writes its traces when it stops; "
            f"see {run / SERVICE_LOG})"
        )


def _reset_stats(url: str, token: str | None, say: Say) -> None:
    """Zero the service's figures, so the run's figures are the run's alone (``token``: its
    admin token, needed beyond loopback)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        http_json("POST", f"{url}/admin/reset-stats", headers=headers)
    except (urllib.error.URLError, OSError) as exc:
        say(f"[perf load] could not reset the service's stats ({exc}); numbers include warm-up")


def run_load(
    folder: RunFolder,
    options: LoadOptions,
    *,
    repo: Path,
    service_env: Mapping[str, str],
    settings: Mapping[str, Any],
    say: Say = print,
) -> int:
    """Run one load test into ``folder``; returns Locust's exit code (130 on Ctrl-C)."""
    folder.begin_stage(
        LOAD_STAGE, command=["perf", *sys.argv[1:]], settings=settings, workload=options.recorded()
    )
    stopping = ExitStack()  # each start registers its stop: undone in reverse, however far it got
    url: str | None = None
    exit_code, status = 1, "failed"
    extra: dict[str, Any] = {}
    service: subprocess.Popen[bytes] | None = None
    profiler = ServiceProfiler(
        folder.path, rate_hz=options.profile_rate, run_seconds=options.duration_seconds,
        nonblocking=options.profile_nonblocking, say=say,
    )  # fmt: skip
    try:
        if options.host:
            url = options.host.rstrip("/")
        else:
            service_log = stopping.enter_context((folder.path / SERVICE_LOG).open("wb"))
            port = free_port()
            service = start_process(
                service_command(port, options), env=service_env, cwd=repo, log=service_log
            )
            stopping.callback(_stop_service, service, folder.path, options, say)
            url = f"http://127.0.0.1:{port}"
            say(f"[perf load] starting the service (pid {service.pid}) on {url}")
            extra["service"] = {"pid": service.pid, "url": url, "log": SERVICE_LOG}
            wait_for_http(
                f"{url}/health", timeout_seconds=options.startup_timeout_seconds, process=service
            )
        # while the service still answers
        stopping.callback(lambda: extra.update(_collect(folder, url, say)))
        _reset_stats(url, service_env.get("PERF_ADMIN_TOKEN"), say)
        say(f"[perf load] service ready at {url}; running Locust for {options.duration_seconds:g}s")
        history = HistorySampler(
            url, folder.path / MONITOR_HISTORY, every_seconds=options.history_seconds
        )
        history.start()
        stopping.callback(history.stop)
        locust = start_process(
            locust_command(folder.path, url, options, repo), env=service_env, cwd=repo
        )
        stopping.callback(lambda: extra.update(profiler.stop()))
        stopping.callback(stop_process, locust, grace_seconds=20.0)
        exit_code = profiler.watch(locust, service)  # py-spy starts at its offset
        status = "finished" if exit_code == 0 else "failed"
    except KeyboardInterrupt:
        say("[perf load] interrupted: stopping Locust and the service")
        exit_code, status = 130, "interrupted"
    except (RuntimeError, TimeoutError) as exc:
        say(f"[perf load] the service did not start: {exc}; see {folder.path / SERVICE_LOG}")
    finally:
        # let cleanup finish: a second Ctrl-C or a SIGTERM must not orphan the service
        with (
            handling_signal(signal.SIGINT, signal.SIG_IGN),
            handling_signal(signal.SIGTERM, signal.SIG_IGN),
        ):
            stopping.close()
            try:
                extra.update(_results(folder, options, repo))
            except (ValueError, OSError, KeyError) as exc:
                extra["results_error"] = f"could not summarise the request log: {exc}"
            folder.finish_stage(LOAD_STAGE, exit_code=exit_code, status=status, extra=extra)
    _say_results(extra, say)
    return exit_code


def _say_results(extra: Mapping[str, Any], say: Say) -> None:
    if extra.get(SUMMARY):
        say(format_summary(extra[SUMMARY]))
    if PROFILE in extra:
        say(format_profile(extra[PROFILE]))
