"""Instructions per call of the hot paths, counted by valgrind, for both sides of a comparison.

Wall time on a shared 2-core machine jumps by 1.5-1.7x from one second to the next (README, "perf
compare"); the number of instructions a call executes does not depend on the neighbours. The
probes (``perf.bench.probes``) run under callgrind, which counts only their counted loops
(``--toggle-collect``) and writes one dump per probe, in one process per side and hash seed;
the ``harness`` probe's count per call is subtracted from every other's, so a probe's figure
is its body's instructions per call. The processes run two at a time (counts do not depend on
contention). What it misses: time in the kernel (I/O, syscalls), waiting on locks, and what
instructions cost (cache misses, branch mispredictions), so it complements wall time and
does not replace it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from perf.bench.git import Side, side_env
from perf.bench.probes import HARNESS, PROBES
from perf.errors import ConfigurationError
from perf.results.files import compare_instructions_log

__all__ = [
    "SEEDS",
    "Count",
    "callgrind",
    "count_instructions",
    "dump_totals",
    "per_call",
    "select_probes",
    "valgrind_command",
]

SEEDS: Final = (0, 1)  # PYTHONHASHSEED values: dict layouts move a count by up to ~1 %
PROBES_SCRIPT: Final = Path(__file__).with_name("probes.py")
COUNTED: Final = "_operator_call"  # the C function the probes' counted loops run under


@dataclass(frozen=True, slots=True)
class Count:
    """One probe process (a side, a hash seed): per probe, its calls and the instructions
    callgrind collected over them; ``error`` if the process failed (its log says more)."""

    side: str
    seed: int
    probes: dict[str, dict[str, int]]  # probe -> {"calls": n, "instructions": n}
    skipped: dict[str, str]  # probe -> why this side could not run it
    error: str | None
    log_file: str  # relative to the run folder
    seconds: float


def select_probes(keyword: str | None) -> list[str]:
    """The probes whose name holds ``keyword`` (any case; all if None), the harness first."""
    chosen = [p for p in PROBES if p != HARNESS and (keyword or "").lower() in p.lower()]
    if not chosen:
        raise ConfigurationError(
            f"-k {keyword!r} matches no probe; the probes are: "
            + ", ".join(p for p in PROBES if p != HARNESS)
        )
    return [HARNESS, *chosen]


def callgrind(out_file: Path) -> list[str]:
    """The valgrind prefix that counts only inside ``COUNTED`` and dumps after each call of it
    (``<out_file>.1``, ``.2``, ...: read them with :func:`dump_totals`)."""
    return [
        "valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={COUNTED}",
        f"--dump-after={COUNTED}", f"--callgrind-out-file={out_file}",
    ]  # fmt: skip


def valgrind_command(out_file: Path, probes: Sequence[str]) -> list[str]:
    """The probes under :func:`callgrind`; ``python -P``: the script's folder is not put on
    ``sys.path``, so ``perf`` comes from ``PYTHONPATH`` (the side's tree)."""
    return [*callgrind(out_file), sys.executable, "-P", str(PROBES_SCRIPT), *probes]


def dump_totals(out_file: Path, parts: int) -> list[int]:
    """The ``totals:`` of the dumps ``<out_file>.1`` ... ``.<parts>``, in order."""
    totals = []
    for part in range(1, parts + 1):
        text = Path(f"{out_file}.{part}").read_text(encoding="utf-8")
        found = re.search(r"^totals: (\d+)$", text, re.MULTILINE)
        if found is None:
            raise ValueError(f"no totals in callgrind's dump {part}")
        totals.append(int(found.group(1)))
    return totals


def _count_side(
    run: Path, side: Side, seed: int, probes: Sequence[str], env: Mapping[str, str]
) -> Count:
    log_file = compare_instructions_log(side.label, seed)
    (run / log_file).parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    figures: dict[str, dict[str, int]] = {}
    skipped: dict[str, str] = {}
    error = None
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "callgrind.out"
        done = subprocess.run(  # noqa: S603 - valgrind and our interpreter, no shell
            valgrind_command(out_file, probes),
            cwd=side.path,
            env={**side_env(side, env), "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=False,
        )
        (run / log_file).write_text(done.stdout + done.stderr, encoding="utf-8")
        try:
            if done.returncode != 0:
                raise ValueError(f"exit code {done.returncode}")
            printed = json.loads(done.stdout.strip().splitlines()[-1])
            calls: dict[str, int] = printed["calls"]
            skipped = printed["skipped"]
            totals = dump_totals(out_file, len(calls))
            figures = {name: {"calls": n, "instructions": total}
                       for (name, n), total in zip(calls.items(), totals, strict=True)}  # fmt: skip
        except (ValueError, IndexError, KeyError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
    return Count(side.label, seed, figures, skipped, error, log_file, time.monotonic() - began)


def count_instructions(
    run: Path,
    sides: Mapping[str, Side],
    env: Mapping[str, str],
    *,
    probes: Sequence[str] = tuple(PROBES),
    jobs: int = 2,
    say: Callable[[str], None] = print,
) -> list[Count]:
    """Every probe on every side with every hash seed: a process per side and seed, ``jobs``
    at a time."""
    if shutil.which("valgrind") is None:
        raise ConfigurationError(
            "--instructions needs valgrind: `make valgrind` (Debian: apt-get install valgrind)"
        )
    tasks = [(side, seed) for seed in SEEDS for side in sides.values()]
    counts: list[Count] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_count_side, run, side, seed, probes, env) for side, seed in tasks]
        for number, future in enumerate(futures, 1):
            count = future.result()
            counts.append(count)
            status = f": failed ({count.error}), see {count.log_file}" if count.error else ""
            status += "".join(f"; skipped {p} ({why})" for p, why in count.skipped.items())
            say(f"[{number}/{len(tasks)}] {count.side} (hash seed {count.seed}): "
                f"{count.seconds:.1f} s{status}")  # fmt: skip
    return counts


def per_call(counts: Sequence[Count]) -> dict[str, dict[str, dict[int, float]]]:
    """``{side: {probe: {hash seed: instructions per call, net of the harness}}}``."""
    figures: dict[str, dict[str, dict[int, float]]] = {}
    for count in counts:
        if HARNESS not in count.probes:
            continue
        harness = count.probes[HARNESS]
        loop = harness["instructions"] / harness["calls"]
        for probe, figure in count.probes.items():
            if probe != HARNESS:
                net = figure["instructions"] / figure["calls"] - loop
                figures.setdefault(count.side, {}).setdefault(probe, {})[count.seed] = net
    return figures
