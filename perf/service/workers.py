"""Stats shared by the service's worker processes (``perf serve --workers N``).

Each worker writes its figures (a monitor snapshot, token totals, counters, its caches' stats)
to ``<dir>/worker-<pid>.json`` every ``interval_seconds`` and when it stops, atomically, so a
reader never sees half a file. Any worker answers ``/performance/stats`` by merging its own
live figures with the other workers' files.

A reset bumps the number in ``<dir>/generation``; each worker resets itself when it sees a
newer one. Files of an older generation hold figures from before the reset and are left out
of the merge until their worker catches up (a dead worker's never do).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perf._internal.atomic import write_text_atomic
from perf._internal.processes import pid_alive
from perf.cache.stats import hit_rate
from perf.monitor import PerformanceMonitor
from perf.service.tokenlog import TokenTotals

__all__ = ["WorkerStatsShare", "WorkerSync", "merge_worker_figures"]

_GENERATION = "generation"
Figures = dict[str, Any]
log = logging.getLogger(__name__)


class WorkerStatsShare:
    """One worker's view of the shared stats folder."""

    def __init__(self, directory: Path, *, interval_seconds: float, pid: int | None = None) -> None:
        self.directory = directory
        self.interval_seconds = interval_seconds
        self.pid = os.getpid() if pid is None else pid
        directory.mkdir(parents=True, exist_ok=True)

    def generation(self) -> int:
        """The current reset generation (0 before the first reset)."""
        try:
            return int((self.directory / _GENERATION).read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def request_reset(self) -> int:
        """Start a new generation; every worker resets when it next syncs. Returns it."""
        generation = self.generation() + 1
        write_text_atomic(self.directory / _GENERATION, str(generation))
        return generation

    def publish(self, figures: Figures) -> None:
        write_text_atomic(self.directory / f"worker-{self.pid}.json", json.dumps(figures))

    def others(self) -> tuple[list[Figures], list[dict[str, Any]]]:
        """The other workers' figures, and one problem entry per unreadable file."""
        figures: list[Figures] = []
        problems: list[dict[str, Any]] = []
        for path in sorted(self.directory.glob("worker-*.json")):
            if path.name == f"worker-{self.pid}.json":
                continue
            try:
                loaded = json.loads(path.read_text())
            except FileNotFoundError:
                continue  # its worker is replacing it: the next call sees the new one
            except (OSError, ValueError) as exc:
                problems.append({"file": path.name, "left_out": f"unreadable: {exc!r:.200}"})
                continue
            if isinstance(loaded, dict):
                figures.append(loaded)
            else:
                problems.append({"file": path.name, "left_out": "not a JSON object"})
        return figures, problems

    async def wait_for_others(
        self, ready: Callable[[Figures], bool], timeout_seconds: float
    ) -> list[int]:
        """Wait until every live worker's file satisfies ``ready``; the pids still not ready."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            figures, _ = self.others()
            pids = [(f.get("pid"), f) for f in figures]
            waiting = [p for p, f in pids if isinstance(p, int) and pid_alive(p) and not ready(f)]
            if not waiting or time.monotonic() >= deadline:
                return waiting
            await asyncio.sleep(self.interval_seconds / 4)


class WorkerSync:
    """Keeps this worker's file current, follows resets, and merges everyone's figures.

    ``figures()`` gives this worker's ``monitor`` snapshot, ``tokens`` totals and ``counters``;
    ``reset_local()`` resets them.
    """

    def __init__(
        self,
        share: WorkerStatsShare,
        monitor: PerformanceMonitor,
        figures: Callable[[], Figures],
        reset_local: Callable[[], None],
    ) -> None:
        self.share = share
        self.monitor = monitor
        self._figures = figures
        self._reset_local = reset_local
        self.generation = share.generation()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.sync()
        self._task = asyncio.create_task(self._every_interval())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sync()  # the last requests count too

    def own(self) -> Figures:
        header = {"pid": self.share.pid, "generation": self.generation, "written_at": time.time()}
        return {**header, **self._figures()}

    def sync(self) -> None:
        """Reset if another worker asked to, then publish this worker's figures."""
        generation = self.share.generation()
        if generation > self.generation:
            self._reset_local()
            self.generation = generation
        try:
            self.share.publish(self.own())
        except OSError as exc:  # a full disk must not stop the service; the merge goes stale
            log.warning("could not publish worker stats to %s: %s", self.share.directory, exc)

    async def reset_all(self) -> list[int]:
        """Reset every worker; the pids that had not followed within the wait."""
        self._reset_local()
        self.generation = self.share.request_reset()
        self.sync()
        target = self.generation
        return await self.share.wait_for_others(
            lambda f: f.get("generation", 0) >= target, self._wait_seconds
        )

    async def merged(self, settle: bool = False) -> dict[str, Any]:
        """Everyone's figures as one. ``settle``: first wait until every worker has published
        after this call began, so requests finished before it are all counted."""
        if settle:
            since = time.time()
            await self.share.wait_for_others(
                lambda f: f.get("written_at", 0) >= since, self._wait_seconds
            )
        others, problems = self.share.others()
        merged = merge_worker_figures(self.own(), others, self.generation, self.monitor)
        merged["workers"] += problems
        return merged

    @property
    def _wait_seconds(self) -> float:
        return 4 * self.share.interval_seconds + 1.0

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self.share.interval_seconds)
            self.sync()


def merge_worker_figures(
    own: Figures, others: list[Figures], generation: int, like: PerformanceMonitor
) -> dict[str, Any]:
    """The figures of all workers of ``generation`` as one: operations, cache hit rates,
    tokens and counters add up; ``workers`` lists each worker and what was left out;
    ``monitor`` is the merged monitor itself. Each cache also shows every worker's own
    figures: ``cache_stats[name]["workers"][str(pid)] = {hits, misses, hit_rate}``."""
    merged = PerformanceMonitor(
        relative_accuracy=like.relative_accuracy,
        slot_seconds=like.slot_seconds,
        recent_window=like.window_slots * like.slot_seconds,
    )
    tokens = TokenTotals()
    counters: Counter[str] = Counter()
    workers: list[dict[str, Any]] = []
    per_worker: dict[str, dict[str, dict[str, Any]]] = {}  # cache -> pid -> its figures
    now = time.time()
    for figures in [own, *others]:
        try:  # read all of one worker's figures before adding any: a damaged file adds nothing
            entry: dict[str, Any] = {
                "pid": int(figures["pid"]),
                "generation": int(figures["generation"]),
                "age_seconds": round(now - float(figures["written_at"]), 3),
                "alive": figures is own or pid_alive(int(figures["pid"])),
            }
            if entry["generation"] != generation:
                entry["left_out"] = "its figures are from before the last reset"
            else:
                their_tokens = TokenTotals.from_dict(figures["tokens"])
                their_counters = {str(k): int(v) for k, v in figures["counters"].items()}
                their_caches = {
                    str(name): (int(c["hits"]), int(c["misses"]))
                    for name, c in figures["monitor"]["cache_stats"].items()
                }
                merged.merge(figures["monitor"])
                tokens.add(their_tokens)
                counters.update(their_counters)
                for name, (hits, misses) in their_caches.items():
                    per_worker.setdefault(name, {})[str(entry["pid"])] = {
                        "hits": hits, "misses": misses, "hit_rate": hit_rate(hits, misses)
                    }  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            entry = {"pid": figures.get("pid"), "left_out": f"damaged figures: {exc!r:.200}"}
        workers.append(entry)
    stats = merged.get_stats()
    for name, cache in stats["cache_stats"].items():
        cache["workers"] = per_worker.get(name, {})
    return {
        "operations": stats["operations"],
        "cache_stats": stats["cache_stats"],
        "tokens": tokens,
        "counters": dict(counters),
        "workers": workers,
        "monitor": merged,  # for the caller's further readings (histograms)
    }
