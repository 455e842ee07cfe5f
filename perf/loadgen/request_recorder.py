"""Locust-side recorder of every request: one JSON line each (see perf.results.requests_log).

It keeps the exact latencies per endpoint in memory too, so the ``quitting`` hook can check
the SLOs on exact percentiles in a local run. Under ``--processes`` / ``--worker`` each worker
writes ``<log>.worker-<host>-<pid>.jsonl`` beside the log, named ``....jsonl.writing`` until the
worker has quit (workers may be on other hosts: the name says when a log is complete);
``perf load`` merges them.
"""

from __future__ import annotations

import json
import os
import socket
from collections import defaultdict
from pathlib import Path
from typing import Any

from perf.results.files import WRITING_SUFFIX
from perf.results.requests_log import percentile

__all__ = ["RequestRecorder", "worker_log_path"]

_FLUSH_EVERY = 500


def worker_log_path(log_path: Path) -> Path:
    """This process's part of ``log_path``: named apart from other hosts' sharing the folder."""
    name = f"{log_path.stem}.worker-{socket.gethostname()}-{os.getpid()}{log_path.suffix}"
    return log_path.with_name(name)


class RequestRecorder:
    """Receives Locust ``request`` events; buffers rows and appends them to a JSONL file."""

    def __init__(self, path: Path | None, *, staged: bool = False) -> None:
        """``staged``: append to ``<path>.writing`` (made at once: a reader sees that this
        process has a log to come), renamed to ``path`` by ``finish()``."""
        self.path = path
        self._writing = path.with_name(path.name + WRITING_SUFFIX) if path and staged else path
        if staged and self._writing is not None:
            self._writing.touch()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self._rows: list[str] = []
        self._seen_queries: set[str] = set()

    def is_new_query(self, text: str) -> bool:
        """True the first time this process sends ``text`` (a cold miss for any cache)."""
        if text in self._seen_queries:
            return False
        self._seen_queries.add(text)
        return True

    def on_request(  # noqa: PLR0917 - the signature of Locust's request event
        self,
        request_type: str,
        name: str,
        response_time: float,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        context = context or {}
        sent = start_time if start_time is not None else 0.0
        status = getattr(response, "status_code", 0) or 0
        self.latencies[name].append(response_time)
        row = {
            "timestamp": sent,
            "intended_start": context.get("intended_start", sent),
            "name": name,
            "method": request_type,
            "latency_ms": response_time,
            "status": status,
            "ok": exception is None,
            "new_query": context.get("new_query"),
        }
        self._rows.append(json.dumps(row))
        if len(self._rows) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._writing is None or not self._rows:
            self._rows.clear()
            return
        with self._writing.open("a", encoding="utf-8") as out:
            out.write("\n".join(self._rows) + "\n")
        self._rows.clear()

    def finish(self) -> None:
        """Write what is left; a staged log then takes its final name: it is complete."""
        self.flush()
        writing, path = self._writing, self.path
        if writing is not None and path is not None and writing != path and writing.exists():
            writing.replace(path)

    def exact_percentile(self, name: str, q: float) -> float | None:
        values = self.latencies.get(name)
        return percentile(values, q) if values else None
