"""A sampling profile's stacks: py-spy's collapsed ("raw") format, the top frames, speedscope.

One line per distinct stack, root first, frames joined by ``;``, then the number of samples::

    process 41:"python -m perf.service serve";process 57:"python -m …";run (server.py:3);… 12

With ``--subprocesses`` py-spy puts the process chain first (``process <pid>:"<command>"``,
parent before child); every other frame is ``function (file:line)``. A share of the samples is
a share of the sampled time (``perf load --profile``: threads holding the GIL), not of
wall-clock time.

*Self* time of a function: the samples in which it is the innermost frame; *total* time: the
samples in which it is anywhere on the stack (counted once per stack, recursion included).
Functions are keyed by name and file, whatever the line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SPEEDSCOPE_SCHEMA",
    "Stack",
    "TopFrame",
    "format_top_frames",
    "function_of",
    "parse_collapsed",
    "speedscope",
    "top_frames",
]

_PROCESS = re.compile(r'process (\d+):"((?:[^"]|"(?!;))*)";')  # the command may hold newlines
_RECORD = re.compile(
    rf"(?P<chain>(?:{_PROCESS.pattern})*)(?P<frames>[^\n]*?) (?P<count>\d+)[ \t]*(?:\n|$)"
)
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


@dataclass(frozen=True, slots=True)
class Stack:
    """One distinct stack: the process chain (``"<pid> <command>"``, outermost first), the
    frames (root first) and how many samples saw it."""

    processes: tuple[str, ...]
    frames: tuple[str, ...]
    count: int


@dataclass(frozen=True, slots=True)
class TopFrame:
    """One function's samples: ``self`` as the innermost frame, ``total`` anywhere."""

    function: str  # "name (file)"
    self_samples: int
    total_samples: int
    self_share: float
    total_share: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "self_samples": self.self_samples,
            "total_samples": self.total_samples,
            "self_share": round(self.self_share, 5),
            "total_share": round(self.total_share, 5),
        }


def parse_collapsed(text: str) -> list[Stack]:
    """The stacks of a collapsed-stack file; raises ``ValueError`` naming a malformed line. A
    process's command may span lines (``python -c`` with a script): it is read to its ``";``."""
    stacks, pos = [], 0
    while pos < len(text):
        match = _RECORD.match(text, pos)
        if match is None:
            if not text[pos:].strip():
                break
            number = text.count("\n", 0, pos) + 1
            line = text[pos:].splitlines()[0]
            raise ValueError(f"line {number}: expected '<frame;frame;...> <count>', got {line!r}")
        chain = _PROCESS.findall(match["chain"])
        processes = tuple(f"{pid} {' '.join(command.split())}" for pid, command in chain)
        frames = tuple(match["frames"].split(";")) if match["frames"] else ()
        stacks.append(Stack(processes, frames, int(match["count"])))
        pos = match.end()
    return stacks


def function_of(frame: str) -> str:
    """``name (file:line)`` -> ``name (file)``: a function whatever the line."""
    match = _FRAME.match(frame)
    return f"{match['name']} ({match['file']})" if match else frame


def top_frames(stacks: Iterable[Stack], limit: int = 15) -> list[TopFrame]:
    """The ``limit`` functions with the most self samples (ties by total, then name)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    samples = 0
    for stack in stacks:
        if not stack.frames:
            continue
        samples += stack.count
        functions = [function_of(f) for f in stack.frames]
        own[functions[-1]] += stack.count
        for function in set(functions):
            anywhere[function] += stack.count
    ranked = sorted(own, key=lambda f: (-own[f], -anywhere[f], f))[:limit]
    return [
        TopFrame(f, own[f], anywhere[f], own[f] / samples, anywhere[f] / samples) for f in ranked
    ]


def format_top_frames(frames: Sequence[TopFrame]) -> str:
    """The top frames as a small text table."""
    lines = [f"{'self':>7}{'total':>8}  function"]
    lines += [f"{f.self_share:>7.1%}{f.total_share:>8.1%}  {f.function}" for f in frames]
    return "\n".join(lines)


def speedscope(stacks: Iterable[Stack], *, rate_hz: float, name: str) -> dict[str, Any]:
    """A speedscope file (https://www.speedscope.app/file-format-schema.json): one *sampled*
    profile per process chain, each sample weighted by the sampling interval in seconds."""
    frames: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    by_process: dict[tuple[str, ...], list[Stack]] = {}
    for stack in stacks:
        by_process.setdefault(stack.processes, []).append(stack)
    profiles = []
    for processes, group in by_process.items():
        samples, weights = [], []
        for stack in group:
            ids = []
            for frame in stack.frames:
                if frame not in index:
                    index[frame] = len(frames)
                    frames.append(_speedscope_frame(frame))
                ids.append(index[frame])
            samples.append(ids)
            weights.append(stack.count / rate_hz)
        profiles.append({
            "type": "sampled", "name": processes[-1] if processes else name,
            "unit": "seconds", "startValue": 0, "endValue": sum(weights),
            "samples": samples, "weights": weights,
        })  # fmt: skip
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "shared": {"frames": frames},
        "profiles": profiles,
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "perf (from py-spy's collapsed stacks)",
    }


def _speedscope_frame(frame: str) -> dict[str, Any]:
    match = _FRAME.match(frame)
    if not match:
        return {"name": frame}
    out: dict[str, Any] = {"name": match["name"], "file": match["file"]}
    if match["line"]:
        out["line"] = int(match["line"])
    return out
