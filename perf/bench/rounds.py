"""Benchmark two source trees in one job, interleaved, each round a fresh pytest process.

The order is ABBA (base, head, head, base, base, head, ...): every pair of rounds has one
process per side next to each other in time, so machine drift that is slow against a round
(a neighbour's job, thermal state) hits both sides alike, and a linear trend cancels out
instead of favouring whichever side always runs first. Both processes of pair ``i`` run with
``PYTHONHASHSEED=i``: string hashes (so dict and set layouts, whose collisions move a
micro-benchmark's time between processes) are the same within a pair and differ between
pairs, so the pair's ratio compares like with like and the pairs average over layouts. Each
round writes pytest-benchmark's own JSON (raw samples kept) and its output log into the run
folder.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from perf._internal import Say
from perf.bench.git import Side, side_env
from perf.results.files import compare_round_file

__all__ = [
    "QUICK",
    "QUICK_MAX_TIME",
    "Round",
    "RoundOptions",
    "failed",
    "plan",
    "pytest_command",
    "run_rounds",
]

# The pull-request subset (`--quick`): CPU-bound micro-benchmarks that together cover the hot
# paths (memory and SQLite get-hit, the token budget) and the controls beside them (dict, a
# no-op, cachetools, raw sqlite3, tiktoken). By file, then a pytest -k expression within it;
# defined here rather than as a marker so that any older BASE commit can be measured the same.
QUICK: Final[Mapping[str, str]] = {
    "benchmarks/bench_cache.py": "bench_memory_get_hit or bench_sqlite_get_hit",
    "benchmarks/bench_tokens.py": "bench_budget_60k and not naive",
    "benchmarks/bench_monitor.py": "bench_record_sync and noop",
}
QUICK_MAX_TIME: Final = 0.25  # seconds per benchmark and process under --quick (default 1.0)
SUITE: Final = "benchmarks"


@dataclass(frozen=True, slots=True)
class RoundOptions:
    """What each benchmark process runs."""

    rounds: int = 5  # processes per side
    quick: bool = False
    keyword: str | None = None  # pytest -k
    max_time: float | None = None  # --benchmark-max-time per benchmark and process
    pytest_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rounds < 2:
            raise ValueError(f"--rounds must be at least 2 (processes per side), got {self.rounds}")
        if self.max_time is not None and self.max_time <= 0:
            raise ValueError(f"--max-time must be > 0 seconds, got {self.max_time}")


@dataclass(frozen=True, slots=True)
class Round:
    """One finished benchmark process."""

    side: str
    index: int  # 1-based, per side
    json_file: str  # relative to the run folder
    log_file: str
    exit_code: int
    seconds: float


def plan(rounds: int) -> list[tuple[str, int]]:
    """``[(side, index), ...]`` in ABBA order: base 1, head 1, head 2, base 2, base 3, ..."""
    order = []
    for i in range(1, rounds + 1):
        pair = [("base", i), ("head", i)]
        order += pair if i % 2 else pair[::-1]
    return order


def _selection(tree: Path, options: RoundOptions) -> list[str]:
    """The paths and ``-k`` expression for one side's tree."""
    keyword = options.keyword
    if options.quick:
        files = [f for f in QUICK if (tree / f).is_file()]
        quick = " or ".join(f"({QUICK[f]})" for f in files)
        keyword = f"({quick}) and ({keyword})" if keyword else quick
        paths = files
    else:
        paths = [SUITE]
    return [*paths, *(["-k", keyword] if keyword else [])]


def pytest_command(tree: Path, json_path: Path, options: RoundOptions) -> list[str]:
    """One benchmark process: this interpreter, pytest from ``tree``, raw samples to JSON."""
    command = [
        sys.executable, "-m", "pytest", *_selection(tree, options), "--benchmark-only",
        f"--benchmark-json={json_path}", "-q", "-p", "no:cacheprovider",
    ]  # fmt: skip
    max_time = options.max_time
    if max_time is None and options.quick:
        max_time = QUICK_MAX_TIME
    if max_time is not None:
        command.append(f"--benchmark-max-time={max_time:g}")
    return [*command, *options.pytest_args]


def run_rounds(
    run: Path,
    sides: Mapping[str, Side],
    options: RoundOptions,
    env: Mapping[str, str],
    say: Say = print,
) -> list[Round]:
    """Run every round in ABBA order; one progress line per round."""
    order = plan(options.rounds)
    done: list[Round] = []
    started = time.monotonic()
    for step, (label, index) in enumerate(order, 1):
        side = sides[label]
        json_file = compare_round_file(label, index)
        log_file = json_file.removesuffix(".json") + ".log"
        (run / json_file).parent.mkdir(parents=True, exist_ok=True)
        command = pytest_command(side.path, run / json_file, options)
        began = time.monotonic()
        with (run / log_file).open("w", encoding="utf-8") as log:
            code = subprocess.call(  # noqa: S603 - our interpreter and pytest, no shell
                command,
                cwd=side.path,
                env={**side_env(side, env), "PYTHONHASHSEED": str(index)},
                stdout=log,
                stderr=log,
            )
        seconds = time.monotonic() - began
        done.append(Round(label, index, json_file, log_file, code, seconds))
        elapsed = time.monotonic() - started
        left = elapsed / step * (len(order) - step)
        status = "" if code == 0 else f", pytest exit {code}: see {log_file}"
        say(
            f"[{step}/{len(order)}] {label} {index} ({side.ref} {side.commit[:8]}): "
            f"{seconds:.1f} s{status}; ~{left:.0f} s left"
        )
    return done


def failed(rounds: Sequence[Round]) -> list[Round]:
    """Rounds whose pytest did not exit 0."""
    return [r for r in rounds if r.exit_code != 0]
