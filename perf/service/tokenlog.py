"""The token log: one JSON line per LLM call (``tokens.jsonl``), and a running summary.

A record holds the prompt components' tokens before and after the budget, the totals, the
model, whether the answer came from the cache, and the usage the API reported.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["TokenLog"]


class TokenLog:
    """Appends records to ``path`` (if given) and keeps totals for ``/performance/stats``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls = self._cached = self._cut = 0
            self._sum_total = self._max_total = 0
            self._prompt = self._completion = 0
            self._by_purpose: dict[str, int] = {}

    def write(self, record: dict[str, Any]) -> None:
        """Add ``record`` (``total_tokens_after``, ``cached``, ``usage``...) to log and totals."""
        record = {"ts": time.time(), **record}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        total = int(record.get("total_tokens_after", 0))
        usage = record.get("usage") or {}
        with self._lock:
            self._calls += 1
            self._cached += bool(record.get("cached"))
            self._cut += bool(record.get("cut"))
            self._sum_total += total
            self._max_total = max(self._max_total, total)
            self._prompt += int(usage.get("prompt_tokens", 0))
            self._completion += int(usage.get("completion_tokens", 0))
            purpose = str(record.get("purpose", "answer"))
            self._by_purpose[purpose] = self._by_purpose.get(purpose, 0) + 1
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def summary(self) -> dict[str, Any]:
        """Calls, cached calls, prompt tokens after the budget (mean, max), billed usage."""
        with self._lock:
            return {
                "calls": self._calls,
                "cached_calls": self._cached,
                "budget_cut_calls": self._cut,
                "mean_prompt_tokens": self._sum_total / self._calls if self._calls else 0.0,
                "max_prompt_tokens": self._max_total,
                "billed_prompt_tokens": self._prompt,
                "billed_completion_tokens": self._completion,
                "calls_by_purpose": dict(self._by_purpose),
                "log_path": None if self.path is None else str(self.path),
            }

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
