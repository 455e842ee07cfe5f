"""``perf load --profile``: py-spy samples the service during the second half of the run.

py-spy reads the service's stacks from outside the process (ptrace and process memory): no
code change in the service, no import, a cost that depends on the rate only. It records the
process ``perf load`` started and its children (``--subprocesses``: the uvicorn workers with
``--service-workers N``, and the LLM stub) in py-spy's collapsed format, once; the flame graph
SVG, the speedscope file and the top frames are all derived from that one file, so they show
the same samples.

**Which samples.** Only stacks holding the GIL (``--gil``): the Python work that bounds an
asyncio service's throughput, on its event loop and in its threads. Without it, py-spy's idle
detection (racy, by its author's account) counted aiosqlite's worker threads blocked in
``queue.get()`` as busy on this loaded machine: 68 % of a test profile's samples were threads
waiting for work. What runs with the GIL released (SQLite's own C code in aiosqlite's
threads) is not counted: the profile shows where the *Python* time goes.

**When.** From half the run's duration after Locust starts, to its planned end. The gate's
steady state begins where MSER-5 cuts the warm-up, and MSER-5 searches the first half of the
series only, so the second half is steady state whatever the cut: the profile never sees
the cold start (the tokenizer's first load, empty caches, the first analysis).

**Faults never fail the run.** py-spy missing, or unable to attach (it needs ptrace: root, or
``CAP_SYS_PTRACE`` in a container, or a ptrace scope that lets a sibling process attach): a
message says why and what to do, the manifest records the error, the run goes on unprofiled.
Ctrl-C or an early end stops py-spy (SIGINT: it writes what it has), then its process group.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from perf._internal import Say
from perf._internal.atomic import write_json_atomic, write_text_atomic
from perf._internal.processes import start_process, stop_process
from perf.loadgen.flamegraph import flamegraph_svg
from perf.results.files import (
    PROFILE_COLLAPSED,
    PROFILE_FLAMEGRAPH,
    PROFILE_LOG,
    PROFILE_SPEEDSCOPE,
)
from perf.results.manifest import PROFILE
from perf.results.profiles import (
    Stack,
    TopFrame,
    format_top_frames,
    parse_collapsed,
    speedscope,
    top_frames,
)

__all__ = ["START_SHARE", "ServiceProfiler", "find_py_spy", "format_profile"]

START_SHARE = 0.5  # start after this share of the run: MSER-5's warm-up cut lies before it
ATTACH_SECONDS = 20.0  # py-spy retries finding Python processes for a while before it gives up
TOP = 15
_COUNTS = re.compile(r"Samples: (\d+) Errors: (\d+)")
_STUB = "stub-llm"  # the LLM stub's command (perf.service.server.start_stub_process)
_PTRACE_HINT = (
    "py-spy reads the service's memory with ptrace: run perf load as root, or in a container "
    "add the capability (docker run --cap-add SYS_PTRACE), or allow attaching to a sibling "
    "process (sysctl kernel.yama.ptrace_scope=0)"
)


def find_py_spy() -> str | None:
    """py-spy beside this Python (a virtualenv's bin/, not always on PATH), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


class ServiceProfiler:
    """py-spy on the service for the second half of a ``run_seconds`` run into ``run``; inert
    when ``rate_hz`` is ``None`` (no ``--profile``).

    ``watch(locust, service)`` waits for Locust, starting py-spy at the offset; ``stop()``
    ends py-spy, writes the derived files and returns ``{PROFILE: record}`` for the load
    stage. Neither raises for py-spy's faults: they become a message and ``error``."""

    def __init__(
        self,
        run: Path,
        *,
        rate_hz: float | None,
        run_seconds: float,
        nonblocking: bool = False,
        say: Say = print,
    ) -> None:
        self.run = run
        self.rate_hz = rate_hz
        self.nonblocking = nonblocking
        self.offset_seconds = run_seconds * START_SHARE
        self.planned_seconds = max(1, math.ceil(run_seconds - self.offset_seconds))
        self.say = say
        self.pid: int | None = None
        self.command: list[str] = []
        self.error: str | None = None
        self.seconds: float | None = None  # how long py-spy sampled
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._started = 0.0

    def watch(
        self, locust: subprocess.Popen[bytes], service: subprocess.Popen[bytes] | None
    ) -> int:
        """Locust's exit code; on the way, at the offset, py-spy starts on ``service``."""
        if self.rate_hz is not None and service is not None:
            try:
                locust.wait(timeout=self.offset_seconds)
            except subprocess.TimeoutExpired:
                self.start(service.pid)
        return locust.wait()

    def start(self, pid: int) -> None:
        """py-spy on ``pid`` and its children, now, for ``planned_seconds``."""
        self.pid = pid
        py_spy = find_py_spy()
        if py_spy is None:
            self._fail("py-spy is not installed: pip install 'perf[load]' (or pip install py-spy)")
            return
        self.command = [
            py_spy, "record", "--pid", str(pid), "--subprocesses", "--gil",
            "--rate", f"{self.rate_hz:g}", "--duration", str(self.planned_seconds),
            "--format", "raw", "--output", str(self.run / PROFILE_COLLAPSED),
        ]  # fmt: skip
        if self.nonblocking:
            self.command.append("--nonblocking")
        self._log = (self.run / PROFILE_LOG).open("wb")
        self._started = time.time()
        self._process = start_process(self.command, env=os.environ, cwd=self.run, log=self._log)
        self._wait_attached()
        if self.error is None:
            self.say(
                f"[perf load] profiling the service (pid {pid}) with py-spy at "
                f"{self.rate_hz:g} Hz for the last {self.planned_seconds} s"
            )

    def _wait_attached(self) -> None:
        """Until py-spy says it samples, or exits (it could not attach)."""
        assert self._process is not None
        deadline = time.monotonic() + ATTACH_SECONDS
        while time.monotonic() < deadline and "Sampling process" not in self._log_text():
            if self._process.poll() is not None:
                self._fail(
                    f"py-spy could not attach to the service (pid {self.pid}; exit code "
                    f"{self._process.returncode}: {self._first_error()}). {_PTRACE_HINT}"
                )
                return
            time.sleep(0.05)

    def stop(self) -> dict[str, Any]:
        """Stop py-spy (if running), write the flame graph and the speedscope file; the load
        stage's ``{PROFILE: record}`` (``{}`` without ``--profile``)."""
        if self.rate_hz is None:
            return {}
        if self._process is not None:
            elapsed = time.time() - self._started
            if self._process.poll() is None:
                os.kill(self._process.pid, signal.SIGINT)  # py-spy writes what it has
                try:
                    self._process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            stop_process(self._process)
            self.seconds = min(elapsed, float(self.planned_seconds))
        else:
            self._fail("the run ended before the profile's start offset")
        if self._log is not None:
            self._log.close()
        record = self._record()
        if self.error is None:
            try:
                record.update(self._derive(self.rate_hz))
            except (OSError, ValueError) as exc:
                self._fail(f"py-spy left no usable profile ({exc}); see {PROFILE_LOG}")
        if self.error is not None:
            record["error"] = self.error
        return {PROFILE: record}

    def _record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "tool": "py-spy", "rate_hz": self.rate_hz, "nonblocking": self.nonblocking,
            "pid": self.pid,
            "start_rule": f"after {START_SHARE:.0%} of the run (MSER-5 cuts warm-up before it)",
            "start_offset_seconds": self.offset_seconds,
            "planned_seconds": self.planned_seconds, "command": self.command,
        }  # fmt: skip
        if self.seconds is not None:
            record["seconds"] = round(self.seconds, 3)
        if counted := _COUNTS.search(self._log_text()):  # py-spy's own tally, all threads
            record["py_spy_samples"], record["py_spy_errors"] = map(int, counted.groups())
        return record

    def _derive(self, rate_hz: float) -> dict[str, Any]:
        stacks = parse_collapsed((self.run / PROFILE_COLLAPSED).read_text(encoding="utf-8"))
        title = f"perf load: the service at {rate_hz:g} Hz, second half of the run"
        write_text_atomic(self.run / PROFILE_FLAMEGRAPH, flamegraph_svg(stacks, title=title))
        write_json_atomic(
            self.run / PROFILE_SPEEDSCOPE, speedscope(stacks, rate_hz=rate_hz, name=title)
        )
        service = [s for s in stacks if not _is_stub(s)]
        by_process: dict[str, int] = {}
        for stack in stacks:
            key = stack.processes[-1] if stack.processes else "?"
            by_process[key] = by_process.get(key, 0) + stack.count
        return {
            "samples": sum(s.count for s in service),  # holding the GIL (--gil)
            "samples_by_process": by_process,
            "files": [PROFILE_COLLAPSED, PROFILE_FLAMEGRAPH, PROFILE_SPEEDSCOPE],
            "top_frames": [f.as_dict() for f in top_frames(service, TOP)],  # the stub left out
        }

    def _fail(self, reason: str) -> None:
        if self.error is None:
            self.error = reason
            self.say(f"[perf load] --profile: {reason}; no profile (the load run goes on)")

    def _log_text(self) -> str:
        path = self.run / PROFILE_LOG
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""

    def _first_error(self) -> str:
        lines = [line.strip() for line in self._log_text().splitlines() if line.strip()]
        return next((line for line in lines if not line.startswith("py-spy>")), "no output")


def _is_stub(stack: Stack) -> bool:
    return bool(stack.processes) and _STUB in stack.processes[-1]


def format_profile(record: Mapping[str, Any]) -> str:
    """The end of a profiled run's output: the service's top frames, or why there are none."""
    if record.get("error"):
        return f"[perf load] no profile: {record['error']}"
    frames = [TopFrame(**f) for f in record.get("top_frames", [])]
    head = (
        f"[perf load] where the service's Python time went ({record.get('samples', 0):,} samples "
        f"by py-spy; {PROFILE_FLAMEGRAPH}, {PROFILE_SPEEDSCOPE}):"
    )
    return f"{head}\n{format_top_frames(frames)}"
