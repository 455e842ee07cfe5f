"""Helpers that both the service and the producers need, below them both: child processes,
loopback HTTP, atomic file writes. Standard library only; nothing here imports the rest of perf.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Say"]

Say = Callable[[str], None]  # where progress lines go: print, or a test's list.append
