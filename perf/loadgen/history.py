"""The service's figures over time: ``monitor_history.jsonl``, one reading every few seconds.

Each line is one reading of ``/performance/stats?histograms=1``, reduced to what is cumulative:
``t`` (wall clock, Unix seconds, when the reading came back), each cache's ``hits`` and
``misses``, each operation's whole-run sketch (``histograms``: bucket counts), the token
totals and the counters. Any window's hit rate or percentiles are then the difference of two
readings (``perf.report.windows``). A reading that fails is a line with ``error`` instead: the
history has a gap, the run goes on.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perf._internal.processes import http_json

__all__ = ["HistorySampler", "reduce_reading"]


def reduce_reading(stats: dict[str, Any], t: float) -> dict[str, Any]:
    """The cumulative part of one ``/performance/stats?histograms=1`` answer."""
    return {
        "t": round(t, 3),
        "cache_stats": {
            name: {"hits": int(c.get("hits", 0)), "misses": int(c.get("misses", 0))}
            for name, c in (stats.get("cache_stats") or {}).items()
        },
        "histograms": stats.get("histograms") or {},
        "tokens": stats.get("tokens") or {},
        "counters": stats.get("counters") or {},
    }


class HistorySampler:
    """Appends a reading of ``url`` to ``path`` every ``every_seconds`` until ``stop()``."""

    def __init__(
        self,
        url: str,
        path: Path,
        *,
        every_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if every_seconds <= 0:
            raise ValueError(f"every_seconds must be > 0, got {every_seconds}")
        self.url = f"{url}/performance/stats?histograms=1"
        self.path = path
        self.every_seconds = every_seconds
        self.clock = clock
        self.readings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="perf-history", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Take a last reading and stop (at most one reading's time)."""
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        """One reading, appended as one line."""
        try:
            stats = http_json("GET", self.url, timeout=max(self.every_seconds, 5.0))
            line = reduce_reading(stats, self.clock())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            line = {"t": round(self.clock(), 3), "error": f"{type(exc).__name__}: {exc}"}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.readings += 1

    def _run(self) -> None:
        next_at = self.clock()
        while True:
            self.sample()
            next_at += self.every_seconds
            if self._stop.wait(max(0.0, next_at - self.clock())):
                self.sample()  # the end of the run
                return
