"""CPU seconds of the processes of a load step, read from ``/proc`` (Linux; elsewhere ``None``).

A ``CpuSampler`` thread reads every process's ``utime + stime`` every half second and sums them
per role: a role is a root process and its descendants (the service with its uvicorn workers,
Locust with its workers), minus the subtrees another role claims (the LLM stub, a child of the
service, is its own role). ``between(t0, t1)`` interpolates the cumulative seconds at two wall-
clock times, so the figures cover exactly the window the requests were sent in.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Container, Mapping
from pathlib import Path

__all__ = ["CpuSampler", "find_descendant", "process_table", "role_seconds"]

ProcessTable = Mapping[int, tuple[int, float, str]]  # pid -> (parent, CPU seconds, command line)

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_table() -> dict[int, tuple[int, float, str]]:
    """``pid -> (parent pid, CPU seconds so far, command line)`` of every visible process;
    empty where there is no ``/proc``."""
    table: dict[int, tuple[int, float, str]] = {}
    if not _PROC.is_dir():
        return table
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
        # fields[0] is the state (stat field 3): ppid is field 4, utime 14, stime 15
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS,
                                  cmdline)  # fmt: skip
    return table


def find_descendant(table: ProcessTable, root: int, needle: str) -> int | None:
    """The first process below ``root`` whose command line contains ``needle``."""
    for pid, (_, _, cmd) in sorted(table.items()):
        if needle in cmd and _ancestor(table, pid, {root}) == root and pid != root:
            return pid
    return None


def _ancestor(table: ProcessTable, pid: int, roots: Container[int]) -> int | None:
    """The nearest of ``roots`` at or above ``pid``."""
    node, depth = pid, 0
    while node not in roots and node in table and depth < 64:
        node, depth = table[node][0], depth + 1
    return node if node in roots else None


def role_seconds(table: ProcessTable, roots: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds per role: a root process and its descendants; a process belongs to the
    nearest root above it."""
    owner = {pid: role for role, pid in roots.items()}
    totals = dict.fromkeys(roots, 0.0)
    for pid, (_, seconds, _) in table.items():
        root = _ancestor(table, pid, owner)
        if root is not None:
            totals[owner[root]] += seconds
    return totals


class CpuSampler:
    """Samples the CPU seconds of each role every ``every`` seconds in a daemon thread."""

    def __init__(
        self,
        roots: Callable[[], Mapping[str, int]],
        every: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._roots = roots
        self._every = every
        self._clock = clock
        self._times: list[float] = []
        self._samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()

    def sample(self) -> None:
        table = process_table()
        if not table:
            return
        seconds = role_seconds(table, self._roots())
        if self._samples:  # cumulative: a role whose process exited keeps what it had used
            last = self._samples[-1]
            seconds = {role: max(value, last.get(role, 0.0)) for role, value in seconds.items()}
        self._times.append(self._clock())
        self._samples.append(seconds)

    def between(self, start: float, end: float) -> dict[str, float] | None:
        """CPU seconds per role between two wall-clock times (interpolated between samples);
        ``None`` without samples on both sides."""
        if len(self._times) < 2 or end <= start:
            return None
        return {
            role: max(0.0, self._at(end, role) - self._at(start, role)) for role in self._samples[0]
        }

    def _at(self, moment: float, role: str) -> float:
        times = self._times
        i = min(max(1, bisect_left(times, moment)), len(times) - 1)
        t0, t1 = times[i - 1], times[i]
        v0, v1 = self._samples[i - 1].get(role, 0.0), self._samples[i].get(role, 0.0)
        share = 0.0 if t1 == t0 else min(1.0, max(0.0, (moment - t0) / (t1 - t0)))
        return v0 + share * (v1 - v0)
