"""The token log: one JSON line per LLM call (``tokens.jsonl``), and running totals.

A record holds the prompt components' tokens before and after the budget, the totals, the
model, whether the answer came from the cache, and the usage the API reported. Each record is
one ``write`` to a file opened with ``O_APPEND``, so several worker processes can share a log
without interleaving lines. Totals from several workers add up (``TokenTotals.add``).

Calls and queries are counted apart: a query makes one ``answer`` call and maybe more (a
``summary``), all logged under its ``request_id``; ``queries`` counts the ``answer`` calls.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TokenLog", "TokenTotals"]


@dataclass(slots=True)
class TokenTotals:
    """Sums over logged calls; ``prompt_tokens`` is after the budget, ``billed_*`` the API's."""

    calls: int = 0
    queries: int = 0  # the answer calls: one per query that reached the LLM
    cached_calls: int = 0
    budget_cut_calls: int = 0
    prompt_tokens: int = 0
    max_prompt_tokens: int = 0
    billed_prompt_tokens: int = 0
    billed_completion_tokens: int = 0
    calls_by_purpose: dict[str, int] = field(default_factory=dict)

    def add(self, other: TokenTotals) -> None:
        self.calls += other.calls
        self.queries += other.queries
        self.cached_calls += other.cached_calls
        self.budget_cut_calls += other.budget_cut_calls
        self.prompt_tokens += other.prompt_tokens
        self.max_prompt_tokens = max(self.max_prompt_tokens, other.max_prompt_tokens)
        self.billed_prompt_tokens += other.billed_prompt_tokens
        self.billed_completion_tokens += other.billed_completion_tokens
        for purpose, calls in other.calls_by_purpose.items():
            self.calls_by_purpose[purpose] = self.calls_by_purpose.get(purpose, 0) + calls

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenTotals:
        """Raises TypeError or ValueError on a damaged mapping."""
        purposes = {str(k): int(v) for k, v in data.get("calls_by_purpose", {}).items()}
        counts = {k: int(v) for k, v in data.items() if k != "calls_by_purpose"}
        return cls(**counts, calls_by_purpose=purposes)

    def summary(self, log_path: Path | None) -> dict[str, Any]:
        """What ``/performance/stats`` shows under ``tokens``."""
        mean = self.prompt_tokens / self.calls if self.calls else 0.0
        per_query = self.prompt_tokens / self.queries if self.queries else 0.0
        return {
            "calls": self.calls,
            "queries": self.queries,
            "mean_prompt_tokens_per_query": per_query,
            "cached_calls": self.cached_calls,
            "budget_cut_calls": self.budget_cut_calls,
            "mean_prompt_tokens": mean,
            "max_prompt_tokens": self.max_prompt_tokens,
            "billed_prompt_tokens": self.billed_prompt_tokens,
            "billed_completion_tokens": self.billed_completion_tokens,
            "calls_by_purpose": dict(self.calls_by_purpose),
            "log_path": None if log_path is None else str(log_path),
        }


class TokenLog:
    """Appends records to ``path`` (if given) and keeps totals for ``/performance/stats``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._totals = TokenTotals()

    def reset(self) -> None:
        with self._lock:
            self._totals = TokenTotals()

    def write(self, record: dict[str, Any]) -> None:
        """Add ``record`` (``total_tokens_after``, ``cached``, ``usage``...) to log and totals."""
        record = {"ts": time.time(), **record}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        total = int(record.get("total_tokens_after", 0))
        usage = record.get("usage") or {}
        purpose = str(record.get("purpose", "answer"))
        with self._lock:
            t = self._totals
            t.calls += 1
            t.queries += purpose == "answer"
            t.cached_calls += bool(record.get("cached"))
            t.budget_cut_calls += bool(record.get("cut"))
            t.prompt_tokens += total
            t.max_prompt_tokens = max(t.max_prompt_tokens, total)
            t.billed_prompt_tokens += int(usage.get("prompt_tokens", 0))
            t.billed_completion_tokens += int(usage.get("completion_tokens", 0))
            t.calls_by_purpose[purpose] = t.calls_by_purpose.get(purpose, 0) + 1
            if self._fd is not None:
                os.write(self._fd, line.encode())

    def totals(self) -> TokenTotals:
        """A copy of the running totals (to merge with other workers')."""
        with self._lock:
            copy = TokenTotals()
            copy.add(self._totals)
            return copy

    def summary(self) -> dict[str, Any]:
        """Calls, cached calls, prompt tokens after the budget (mean, max), billed usage."""
        return self.totals().summary(self.path)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
