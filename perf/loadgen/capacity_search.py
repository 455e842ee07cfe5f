"""The capacity search as pure functions of the step verdicts so far: which rate to offer
next, when to stop, and the knee. ``perf.loadgen.capacity`` runs it.

The rate grows by ``factor`` until a step is not sustained (``fail`` or ``inconclusive``), then
is bisected (geometric mean) between the highest sustained rate and the lowest unsustained one
above it, until they are within ``resolution`` of each other or ``max_steps`` have run; a
first step that is not sustained searches downwards, never below ``MIN_RATE``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perf.errors import ConfigurationError

__all__ = ["MIN_RATE", "PASS", "CapacityOptions", "bracket", "knee", "next_rate", "ratio"]

PASS = "pass"  # noqa: S105 - a verdict, not a password
MIN_RATE = 0.1  # requests/s: the search does not go below this


@dataclass(frozen=True, slots=True)
class CapacityOptions:
    start_rate: float = 5.0  # requests/s of the first step
    factor: float = 2.0  # the rate grows by this until a step is not sustained
    resolution: float = 0.1  # stop once the bracket's high / low <= 1 + resolution
    max_steps: int = 8
    step_seconds: float = 30.0
    warmup_seconds: float = 30.0  # per search, before the first step, at the start rate
    pause_seconds: float = 2.0  # between steps, at least; then until nothing is in flight
    drain_timeout_seconds: float = 60.0  # at most this long waiting for nothing in flight

    def __post_init__(self) -> None:
        if self.start_rate < MIN_RATE:
            raise ConfigurationError(
                f"--start-rate must be at least {MIN_RATE} requests/s, got {self.start_rate:g}"
            )
        if self.factor <= 1:
            raise ConfigurationError(f"--factor must be > 1 (e.g. 2), got {self.factor:g}")
        if self.resolution <= 0:
            raise ConfigurationError(
                f"--resolution must be > 0 (e.g. 0.1: within 10 %), got {self.resolution:g}"
            )
        if self.max_steps < 2:
            raise ConfigurationError(f"--max-steps must be at least 2, got {self.max_steps}")
        if self.warmup_seconds < 0:
            raise ConfigurationError(
                f"--warmup must be >= 0 s (0: none), got {self.warmup_seconds:g} s"
            )
        if self.step_seconds < 2:
            raise ConfigurationError(
                f"--step-duration must be at least 2 s, got {self.step_seconds:g} s"
            )

    def recorded(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- the search, as pure functions of the verdicts so far ------------------------------------


def bracket(steps: Sequence[tuple[float, str]]) -> tuple[float | None, float | None]:
    """``(low, high)``: the highest sustained rate, and the lowest rate above it that was not
    sustained (``None`` when there is none yet). ``steps`` are ``(rate, verdict)``."""
    passed = [rate for rate, verdict in steps if verdict == PASS]
    low = max(passed) if passed else None
    above = [r for r, v in steps if v != PASS and (low is None or r > low)]
    return low, (min(above) if above else None)


def next_rate(steps: Sequence[tuple[float, str]], options: CapacityOptions) -> float | None:
    """The rate of the next step, or ``None`` when the search is done."""
    if not steps:
        return options.start_rate
    if len(steps) >= options.max_steps:
        return None
    low, high = bracket(steps)
    if high is None:
        assert low is not None  # steps without a failure all passed
        return low * options.factor
    if low is None:
        lower = high / options.factor
        return lower if lower >= MIN_RATE else None
    if high / low <= 1 + options.resolution:
        return None
    return math.sqrt(low * high)


def knee(steps: Sequence[Mapping[str, Any]], options: CapacityOptions) -> dict[str, Any]:
    """The highest sustained offered rate with its bracket, and in words."""
    low, high = bracket([(s["offered_rate"], s["verdict"]) for s in steps])
    best = next((s for s in steps if s["offered_rate"] == low and s["verdict"] == PASS), None)
    below = [s["offered_rate"] for s in steps if low and s["offered_rate"] < low]
    dips = [r for r in below if next(s for s in steps if s["offered_rate"] == r)["verdict"] != PASS]
    if low is None:
        lowest = min((s["offered_rate"] for s in steps), default=None)
        message = (
            "no step was sustained"
            + (f" (the lowest, {lowest:g} requests/s, was not)" if lowest else "")
            + ": lower --start-rate"
        )
    elif high is None:
        message = (
            f"every step was sustained, up to {low:.3g} requests/s: the limit is higher; "
            "raise --max-steps or --start-rate"
        )
    else:
        message = f"sustained {low:.3g} requests/s; not sustained at {high:.3g}"
    if dips:
        message += f" (lower rates not sustained too: {', '.join(f'{r:.3g}' for r in dips)})"
    return {
        "rate": low,
        "bracket": [low, high],
        "resolved": low is not None and high is not None and high / low <= 1 + options.resolution,
        "achieved_rate": None if best is None else best.get("achieved_rate"),
        "step": None if best is None else best["index"],
        "service_cpu_ms_per_request": None
        if best is None
        else best.get("service_cpu_ms_per_request"),
        "message": message,
    }


def ratio(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any] | None:
    """``second``'s knee over ``first``'s, with the bracket the two brackets allow."""
    (low1, high1), (low2, high2) = first["bracket"], second["bracket"]
    if not low1 or not low2:
        return None
    return {"rate": low2 / low1, "bracket": [low2 / high1 if high1 else None,
                                             high2 / low1 if high2 else None]}  # fmt: skip
