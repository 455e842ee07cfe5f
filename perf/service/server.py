"""Running things for the CLI: the service (with its LLM stub), the stub alone, the analysis.

``serve`` starts the stub as a child process on a free loopback port unless an LLM URL is
given, waits until it answers, runs the service with uvicorn, and stops the stub on exit:
on SIGINT, SIGTERM or SIGHUP (uvicorn shuts down, then re-raises SIGTERM, whose default action
would kill us before the ``finally``); and should ``serve`` die unhandled (SIGKILL), the stub
notices its parent is gone and exits. Beyond loopback, ``serve`` needs an admin token and warns.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

import uvicorn

from perf._internal.processes import free_port, handling_signal, wait_for_http
from perf.cache import CacheManager
from perf.errors import EXIT_BAD_INPUT, ConfigurationError
from perf.service.analysis import AnalysisReport, run_analysis
from perf.service.app import create_app
from perf.service.guards import is_loopback_host
from perf.service.settings import ServiceSettings
from perf.service.store import ensure_dataset, open_engine, session_factory
from perf.service.stub import StubConfig, create_stub_app

__all__ = [
    "prepare_data",
    "run_analysis_once",
    "run_service",
    "run_stub",
    "start_stub_process",
]

LOOPBACK = "127.0.0.1"


def stub_config(settings: ServiceSettings) -> StubConfig:
    return StubConfig(
        latency_median_s=settings.stub_latency_median_ms / 1000,
        latency_p95_s=settings.stub_latency_p95_ms / 1000,
        error_rate=settings.stub_error_rate,
        seed=settings.stub_seed,
    )


def start_stub_process(port: int, host: str = LOOPBACK) -> subprocess.Popen[bytes]:
    """``python -m perf.service stub-llm`` as a child (it reads the same PERF_STUB_* settings);
    it exits by itself if this process dies."""
    command = [
        sys.executable,
        "-m",
        "perf.service",
        "stub-llm",
        "--host",
        host,
        "--port",
        str(port),
        "--parent-pid",
        str(os.getpid()),
    ]
    process = subprocess.Popen(command, env=dict(os.environ))  # noqa: S603 - our own module
    try:
        wait_for_http(f"http://{host}:{port}/health", timeout_seconds=60, process=process)
    except BaseException:
        process.terminate()
        process.wait(10)
        raise
    return process


def run_service(settings: ServiceSettings, host: str, port: int, workers: int = 1) -> int:
    """Serve until interrupted; with no LLM URL, start the stub first and stop it after.

    ``workers > 1``: the dataset and the analysis are brought up to date once, here, then
    uvicorn runs that many worker processes that share their figures (``perf.service.workers``).
    """
    if workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, got {workers}")
    if workers > 1 and settings.analysis_scheduler:
        raise ConfigurationError(
            "PERF_ANALYSIS_SCHEDULER=true runs the analysis in every worker; with --workers > 1 "
            "run it as its own job instead (`perf analyze`, e.g. daily from cron)"
        )
    _check_exposure(settings, host, port)
    stub = None
    with ExitStack() as stack:
        stack.enter_context(_exit_on_signals())
        if settings.llm_base_url is None:
            stub_port = free_port()
            stub = start_stub_process(stub_port)
            stack.callback(_stop, stub)
            url = f"http://{LOOPBACK}:{stub_port}/v1"
            settings = settings.model_copy(update={"llm_base_url": url})
            print(f"LLM stub (pid {stub.pid}) on {url}", file=sys.stderr)
        if workers == 1:
            uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
        else:
            _run_workers(settings, host, port, workers)
    return 0


def _check_exposure(settings: ServiceSettings, host: str, port: int) -> None:
    """Beyond loopback: refuse without an admin token, warn with one."""
    if is_loopback_host(host):
        return
    if settings.admin_token is None:
        raise ConfigurationError(
            f"refusing to serve on {host}, beyond loopback, without an admin token: anyone who "
            "can reach the port could reset stats, clear caches and start analyses. Set "
            "PERF_ADMIN_TOKEN (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            ") or serve on --host 127.0.0.1"
        )
    print(
        f"perf serve: warning: listening on {host}:{port}, reachable from other machines; "
        "/query and the stats have no authentication (/admin/* needs PERF_ADMIN_TOKEN). "
        "Put a proxy with authentication in front, or use --host 127.0.0.1",
        file=sys.stderr,
    )


@contextmanager
def _exit_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end ``serve`` through its ``finally`` blocks (not the default
    action, which kills the process and orphans the stub). Uvicorn handles SIGTERM while it
    serves and re-raises it after its graceful shutdown; SIGHUP becomes SIGTERM."""

    def leave(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    def hang_up(signum: int, frame: FrameType | None) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    with handling_signal(signal.SIGTERM, leave), handling_signal(signal.SIGHUP, hang_up):
        yield


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _run_workers(settings: ServiceSettings, host: str, port: int, workers: int) -> None:
    asyncio.run(prepare_data(settings, full=False))  # once, not raced by every worker
    with tempfile.TemporaryDirectory(prefix="perf-workers-") as scratch:
        shared = settings.worker_stats_dir or Path(scratch)
        shared.mkdir(parents=True, exist_ok=True)
        for stale in [*shared.glob("worker-*.json"), shared / "generation"]:
            stale.unlink(missing_ok=True)  # a previous serve's figures
        # The workers are new processes: they read their settings from the environment.
        os.environ["PERF_LLM_BASE_URL"] = str(settings.llm_base_url)
        os.environ["PERF_WORKER_STATS_DIR"] = str(shared)
        uvicorn.run(
            "perf.service.app:create_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="warning",
        )


def run_stub(settings: ServiceSettings, host: str, port: int, parent_pid: int | None = None) -> int:
    """Serve the stub; with ``parent_pid``, exit when that process is no longer our parent.
    The token encodings load first: the first call would otherwise wait for them (~0.6 s)."""
    from perf.tokens import preload_encodings  # noqa: PLC0415 - tiktoken, only when serving

    preload_encodings()
    config = uvicorn.Config(
        create_stub_app(stub_config(settings)), host=host, port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    if parent_pid is not None:
        threading.Thread(target=_exit_with_parent, args=(server, parent_pid), daemon=True).start()
    server.run()
    return 0


def _exit_with_parent(server: uvicorn.Server, parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.2)
    server.should_exit = True  # orphaned (re-parented): shut down


async def prepare_data(settings: ServiceSettings, *, full: bool) -> AnalysisReport:
    """Load the dataset if needed and bring the analysis (and the correlation cache) up to
    date."""
    engine = open_engine(settings)
    try:
        await ensure_dataset(
            engine, settings.dataset_seed, settings.dataset_scale, settings.dataset_days
        )
        settings.cache_dir.mkdir(parents=True, exist_ok=True)
        # The workers' correlation cache: with cache_backend=redis, the analysis must fill
        # (and invalidate) the Redis tier they read, not a SQLite file none of them reads.
        url = settings.redis_url.get_secret_value() if settings.redis_url is not None else None
        redis = settings.cache_backend == "redis"
        caches = CacheManager(cache_dir=settings.cache_dir, redis_url=url if redis else None)
        caches.create("correlation", "two_tier_redis" if redis else "two_tier")
        correlations = caches.correlation_cache()
        try:
            return await run_analysis(
                session_factory(engine),
                full=full,
                concurrency=settings.analysis_concurrency,
                correlations=correlations,
                correlation_ttl=settings.correlation_ttl_seconds,
            )
        finally:
            correlations.close()
    finally:
        await engine.dispose()


def run_analysis_once(settings: ServiceSettings, full: bool) -> int:
    """``perf analyze``: bring the analysis up to date (filling the on-disk correlation cache)."""
    try:
        report = asyncio.run(prepare_data(settings, full=full))
    except ConfigurationError as exc:
        print(f"perf analyze: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(report.as_dict(), indent=2))
    return 0
