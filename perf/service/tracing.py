"""The service's cache traces: a SHARDS sample of each cache's lookups (``perf.cache.trace``),
written when the service stops.

On with ``PERF_CACHE_TRACE_RATE`` > 0 (``perf load`` turns it on; ``perf serve`` leaves it
off, and off no cache holds a trace: its hit path is unchanged). Each of the service's caches
(``CACHE_TYPES``, named as in ``cache_stats``) is traced in its memory tier, which sees every
lookup. Each worker process has its own memory tiers, so each writes its own file,
``<PERF_CACHE_TRACE_DIR>/cache-traces-<pid>.json``, atomically, first thing when it stops
(SIGTERM included); ``perf load`` merges the files into the run's ``cache_traces.json``.
A reset of the figures restarts the traces, so that a trace covers the same lookups as the
hit rates the run reports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from perf.cache.trace import start_trace, stop_trace, write_traces

__all__ = ["CacheTraces"]


class CacheTraces:
    """Traces of ``caches`` (name -> cache) at ``rate``, written into ``directory``."""

    def __init__(self, caches: Mapping[str, object], rate: float, directory: Path) -> None:
        self.caches = dict(caches)
        self.rate = rate
        self.directory = directory

    def start(self) -> None:
        """Start (or restart, dropping what was recorded) every cache's trace."""
        for cache in self.caches.values():
            start_trace(cache, self.rate)

    def write(self) -> Path:
        """Stop the traces and write them as this process's file; returns its path."""
        traces = {name: stop_trace(cache) for name, cache in self.caches.items()}
        self.directory.mkdir(parents=True, exist_ok=True)
        return write_traces(self.directory / f"cache-traces-{os.getpid()}.json", traces)
