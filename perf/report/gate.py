"""The gate: every check of one run turned into ``gate.json`` and an exit code.

Exit codes: ``0`` every counted check passed, ``1`` a check failed (or had no data), ``2`` bad
input (an unknown run, an unreadable targets file; raised as errors for the CLI to map), ``3``
nothing failed but a check was inconclusive (its interval straddles the target: the run was too
short or too noisy to tell). A CI job chooses whether 3 blocks; ``allow_inconclusive=True``
(``--allow-inconclusive``) makes it 0.

"No data" fails the gate: a run that did not measure a target has not met it. Pass
``allow_missing=True`` (``--allow-missing``) to let missing data pass, e.g. for a run made by
``perf load`` alone with no benchmarks. ``skip`` names checks (``fnmatch`` patterns, e.g.
``db_query_p95_ms*``) that are still computed and written but do not count.

There is no check against another run's raw medians: this machine's speed drifts up to 2x
between runs, so a median recorded on another day measures the weather (37 of 56 benchmarks
"regressed" at a median 1.77x on a fresh run, a no-op 2.0x). What survives drift is checked
instead: the speed bars (ours / a peer, measured in the same run) here, and two commits
benchmarked in one job, interleaved, by ``perf compare``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from perf._internal import Say
from perf._internal.atomic import write_json_atomic
from perf.report.checks import FAIL, INCONCLUSIVE, NO_DATA, PASS, Check, run_checks
from perf.results.files import GATE
from perf.results.runs import iso_utc, utc_now
from perf.results.targets import load_targets

__all__ = [
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_PASS",
    "GateResult",
    "decide",
    "run_gate",
]

EXIT_PASS, EXIT_FAIL, EXIT_INCONCLUSIVE = 0, 1, 3  # bad input: perf.errors.EXIT_BAD_INPUT


@dataclass(frozen=True, slots=True)
class GateResult:
    """The checks of one run and what the gate made of them."""

    checks: list[Check]
    skipped: frozenset[str]  # names of the checks that do not count
    allow_missing: bool
    allow_inconclusive: bool = False

    def _counted(self, verdicts: set[str]) -> list[Check]:
        return [c for c in self.checks if c.name not in self.skipped and c.verdict in verdicts]

    def blocking(self) -> list[Check]:
        """Counted checks that stop the gate: failures, no data unless allowed, and
        inconclusive ones unless allowed."""
        stop = {FAIL} | ({NO_DATA} if not self.allow_missing else set())
        stop |= {INCONCLUSIVE} if not self.allow_inconclusive else set()
        return self._counted(stop)

    @property
    def verdict(self) -> str:
        blocking = {c.verdict for c in self.blocking()}
        return INCONCLUSIVE if blocking == {INCONCLUSIVE} else FAIL if blocking else PASS

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def exit_code(self) -> int:
        return {PASS: EXIT_PASS, INCONCLUSIVE: EXIT_INCONCLUSIVE}.get(self.verdict, EXIT_FAIL)

    def counts(self) -> dict[str, int]:
        counted = [c for c in self.checks if c.name not in self.skipped]
        verdicts = (PASS, FAIL, INCONCLUSIVE, NO_DATA)
        counts = {v: sum(c.verdict == v for c in counted) for v in verdicts}
        return {**counts, "skipped": len(self.checks) - len(counted)}

    def as_dict(self) -> dict[str, Any]:
        blocking = {c.name for c in self.blocking()}
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "allow_missing": self.allow_missing,
            "allow_inconclusive": self.allow_inconclusive,
            "counts": self.counts(),
            "checks": [
                {**c.as_dict(), "skipped": c.name in self.skipped, "blocking": c.name in blocking}
                for c in self.checks
            ],
        }

    def summary_line(self) -> str:
        counts = self.counts()
        tally = ", ".join(f"{n} {v}" for v, n in counts.items())
        if self.passed:
            return f"gate: PASS ({tally})"
        names = ", ".join(c.name for c in self.blocking())
        return f"gate: {self.verdict.upper()} ({tally}); blocking: {names}"


def decide(
    checks: Sequence[Check],
    *,
    allow_missing: bool = False,
    allow_inconclusive: bool = False,
    skip: Iterable[str] = (),
) -> GateResult:
    """The gate's verdict over ``checks``; ``skip`` holds fnmatch patterns of check names."""
    patterns = list(skip)
    skipped = frozenset(
        c.name for c in checks if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)
    )
    return GateResult(list(checks), skipped, allow_missing, allow_inconclusive)


def run_gate(
    run: Path,
    targets_path: Path,
    *,
    allow_missing: bool = False,
    allow_inconclusive: bool = False,
    skip: Iterable[str] = (),
    say: Say = print,
    clock: Callable[[], datetime] = utc_now,
) -> GateResult:
    """Check ``run`` against the targets in ``targets_path``, print one line per check and the
    verdict, and write ``<run>/gate.json`` atomically. Bad targets raise ``ConfigurationError``.
    """
    patterns = sorted(skip)
    targets = load_targets(targets_path)
    checks = run_checks(run, targets)
    result = decide(
        checks, allow_missing=allow_missing, allow_inconclusive=allow_inconclusive, skip=patterns
    )
    for check in result.checks:
        say(("skip " if check.name in result.skipped else "") + check.message)
    document = {
        "run_id": run.name,
        "run": str(run),
        "targets_file": str(targets_path),
        "targets": targets,
        "skip": patterns,
        "created_at": iso_utc(clock()),
        **result.as_dict(),
    }
    write_json_atomic(run / GATE, document)
    say(f"{result.summary_line()} -> {run / GATE}")
    return result
