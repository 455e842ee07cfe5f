"""One target checked against one run: the ``Check`` record and how a measurement becomes one.

A statistical check measures the steady state (after the warm-up the MSER-5 rule cuts, see
``perf.report.steady``), with its confidence interval (``perf.report.intervals``), and stands
the whole-run and warm-up figures beside it. Its verdict is ``pass`` / ``fail`` /
``inconclusive`` by the interval; an exact check (a count, a maximum the budget enforces) is
``pass`` or ``fail``; ``no data`` says which command writes what is missing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from perf.report.intervals import FAIL, INCONCLUSIVE, PASS, Interval, decide, samples_to_settle
from perf.report.steady import Truncation

__all__ = [
    "FAIL",
    "INCONCLUSIVE",
    "NO_DATA",
    "PASS",
    "Check",
    "Steady",
    "exact_check",
    "no_data",
    "steady_check",
]

NO_DATA = "no data"
WARMUP_RULE = "MSER-5"


@dataclass(frozen=True, slots=True)
class Check:
    """``target`` reads ``<op> <value>``, e.g. ``< 500``; ``measured`` is the steady-state value
    (exact checks: the whole run's); ``interval`` its confidence interval; ``window`` where the
    warm-up ended."""

    name: str
    target: str
    measured: float | None
    unit: str
    verdict: str  # PASS, FAIL, INCONCLUSIVE or NO_DATA
    source: str  # the run file the measurement comes from
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    interval: dict[str, Any] | None = None
    window: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Steady:
    """A series split by the warm-up rule: the steady-state estimate with its interval, the
    whole run's and the warm-up's point values, the seconds on each side of the cut."""

    interval: Interval
    whole: float
    warmup: float | None
    truncation: Truncation
    warmup_seconds: float
    steady_seconds: float
    series: str  # what the rule was applied to, e.g. "/query latency per request"
    samples: str = "samples"  # what the interval's n counts: requests, calls, windows...

    def window(self) -> dict[str, Any]:
        return {
            "rule": WARMUP_RULE,
            "series": self.series,
            "warmup_seconds": round(self.warmup_seconds, 3),
            "steady_seconds": round(self.steady_seconds, 3),
            "warmup_samples": self.truncation.cut,
            "samples": self.truncation.n,
            "settled": self.truncation.settled,
        }


def no_data(name: str, target: str, unit: str, source: str, why: str) -> Check:
    return Check(name, target, None, unit, NO_DATA, source, f"NO DATA {name}: {why}")


def _shown(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value:.1%}"
    return f"{value:,.1f} {unit}" if math.isfinite(value) else f"{value} {unit}"


def _target_shown(limit: float, unit: str) -> str:
    return f"{limit:.0%}" if unit == "ratio" else f"{limit:,g} {unit}"


def steady_check(
    name: str,
    op: str,
    limit: float,
    steady: Steady,
    *,
    unit: str,
    source: str,
    what: str,
    details: dict[str, Any] | None = None,
    note: str = "",
) -> Check:
    """Judge the steady state of ``what`` against ``op limit`` by its interval."""
    iv = steady.interval
    verdict = decide(iv, op, limit)
    advice = ""
    if verdict == FAIL and not steady.truncation.settled:
        verdict = INCONCLUSIVE  # still moving when the run ended: its steady level is unknown
        advice = "still warming up when the run ended (the cut hit the half-way limit): run longer"
    elif verdict == INCONCLUSIVE:
        needed = samples_to_settle(iv, limit)
        per_second = iv.n / steady.steady_seconds if steady.steady_seconds > 0 else 0.0
        if needed is not None and per_second > 0:
            more = needed - iv.n
            advice = (
                f"about {more:,} more {steady.samples} (~{more / per_second:,.0f} s) would "
                "settle it"
            )
        else:
            advice = "the estimate sits on the target: more samples will not settle it"
    word = {PASS: "ok", FAIL: "FAIL", INCONCLUSIVE: "INCONCLUSIVE"}[verdict]
    message = (
        f"{word} {name}: {what} in steady state ({iv.n:,} {steady.samples} after "
        f"{steady.warmup_seconds:.0f} s of warm-up) was {_shown(iv.estimate, unit)} "
        f"[{CONFIDENCE_LABEL} {_shown(iv.low, unit)} .. {_shown(iv.high, unit)}], "
        f"target {op} {_target_shown(limit, unit)}; whole run {_shown(steady.whole, unit)}"
    )
    if steady.warmup is not None:
        message += f", warm-up {_shown(steady.warmup, unit)}"
    message += "".join(f"; {extra}" for extra in (note, advice) if extra)
    return Check(
        name, f"{op} {limit:g}", iv.estimate, unit, verdict, source, message,
        details={**(details or {}), "whole_run": steady.whole, "warmup": steady.warmup},
        interval=iv.as_dict(), window=steady.window(),
    )  # fmt: skip


CONFIDENCE_LABEL = "95% CI"


def exact_check(
    name: str,
    op: str,
    limit: float,
    measured: float,
    *,
    unit: str,
    source: str,
    what: str,
    details: dict[str, Any] | None = None,
) -> Check:
    """Judge an exact figure (no sampling error: a maximum, a count) over the whole run."""
    passed = measured < limit if op == "<" else measured > limit
    word, verdict = ("ok", PASS) if passed else ("FAIL", FAIL)
    message = (
        f"{word} {name}: {what} was {_shown(measured, unit)} (exact, whole run), "
        f"target {op} {_target_shown(limit, unit)}"
    )
    return Check(name, f"{op} {limit:g}", measured, unit, verdict, source, message, details or {})
