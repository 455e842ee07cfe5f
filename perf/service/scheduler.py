"""Run the analysis job now and then: every ``interval_seconds`` inside the service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from perf.service.analysis import AnalysisReport

__all__ = ["AnalysisScheduler"]

_log = logging.getLogger(__name__)


class AnalysisScheduler:
    """One job, never two at once; ``sleep`` is injectable so tests drive it without waiting."""

    def __init__(
        self,
        job: Callable[[], Awaitable[AnalysisReport]],
        interval_seconds: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._job = job
        self.interval_seconds = interval_seconds
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.failures = 0
        self.last_report: AnalysisReport | None = None
        self.last_error: str | None = None
        self.last_run_at: float | None = None

    async def run_now(self) -> AnalysisReport:
        """Run the job (waiting for a run in progress first); failures are counted, re-raised."""
        async with self._lock:
            self.last_run_at = time.time()
            try:
                report = await self._job()
            except Exception as exc:
                self.failures += 1
                self.last_error = repr(exc)
                raise
            self.runs += 1
            self.last_report = report
            return report

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="perf-analysis-scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while True:
            await self._sleep(self.interval_seconds)
            try:
                await self.run_now()
            except Exception:  # counted in run_now; the next interval tries again
                _log.exception("scheduled analysis failed")

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.running,
            "interval_seconds": self.interval_seconds,
            "runs": self.runs,
            "failures": self.failures,
            "last_run_at": self.last_run_at,
            "last_error": self.last_error,
            "last_report": None if self.last_report is None else self.last_report.as_dict(),
        }
