"""Running things for the CLI: the service (with its LLM stub), the stub alone, the analysis.

``serve`` starts the stub as a child process on a free loopback port unless an LLM URL is
given, waits until it answers, runs the service with uvicorn, and stops the stub on exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import uvicorn

from perf._internal.processes import free_port, wait_for_http
from perf.cache import CacheManager
from perf.errors import EXIT_BAD_INPUT, ConfigurationError
from perf.service.analysis import AnalysisReport, run_analysis
from perf.service.app import create_app
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
    """``python -m perf.service stub-llm`` as a child (it reads the same PERF_STUB_* settings)."""
    command = [
        sys.executable,
        "-m",
        "perf.service",
        "stub-llm",
        "--host",
        host,
        "--port",
        str(port),
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
    stub = None
    if settings.llm_base_url is None:
        stub_port = free_port()
        stub = start_stub_process(stub_port)
        settings = settings.model_copy(update={"llm_base_url": f"http://{LOOPBACK}:{stub_port}/v1"})
        print(f"LLM stub on {settings.llm_base_url}", file=sys.stderr)
    try:
        if workers == 1:
            uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
        else:
            _run_workers(settings, host, port, workers)
    finally:
        if stub is not None:
            stub.terminate()
            stub.wait(10)
    return 0


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


def run_stub(settings: ServiceSettings, host: str, port: int) -> int:
    uvicorn.run(create_stub_app(stub_config(settings)), host=host, port=port, log_level="warning")
    return 0


async def prepare_data(settings: ServiceSettings, *, full: bool) -> AnalysisReport:
    """Load the dataset if needed and bring the analysis (and the correlation cache) up to
    date."""
    engine = open_engine(settings)
    try:
        await ensure_dataset(
            engine, settings.dataset_seed, settings.dataset_scale, settings.dataset_days
        )
        settings.cache_dir.mkdir(parents=True, exist_ok=True)
        caches = CacheManager(cache_dir=settings.cache_dir)
        caches.create("correlation", "two_tier")
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
