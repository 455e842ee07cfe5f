"""Speed bars: a benchmark's median as a ratio of a peer's median, measured in the same run.

A benchmark declares its bar in pytest-benchmark's ``extra_info``::

    benchmark.extra_info.update(bar_peer="bench_get_hit[cachetools.TTLCache]", bar_max_ratio=0.25)

or several at once, as ``{peer name: max ratio}``::

    benchmark.extra_info["bars"] = {"bench_get[TTLCache]": 0.25, "bench_get[LRUCache]": 1.5}

and the checks below read pytest-benchmark's own JSON (or the same dicts taken from a live
session). Ratios use the median: on a shared, noisy machine the mean is not stable enough.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BarCheck", "check_bars", "declared_bars", "format_bars"]


@dataclass(frozen=True, slots=True)
class BarCheck:
    """One bar: ``name`` must run in at most ``max_ratio`` times the ``peer``'s median."""

    name: str
    peer: str
    max_ratio: float
    ratio: float | None  # None when the peer did not run
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "peer": self.peer,
            "max_ratio": self.max_ratio,
            "ratio": self.ratio,
            "passed": self.passed,
        }


def check_bars(benchmarks: Iterable[Mapping[str, Any]]) -> list[BarCheck]:
    """Check every declared bar among ``benchmarks`` (entries of pytest-benchmark's JSON)."""
    entries = list(benchmarks)
    medians = {b["name"]: float(b["stats"]["median"]) for b in entries if b.get("stats")}
    checks = []
    for bench in entries:
        if bench["name"] not in medians:
            continue
        for peer, max_ratio in declared_bars(bench.get("extra_info") or {}).items():
            peer_median = medians.get(peer)
            ratio = medians[bench["name"]] / peer_median if peer_median else None
            passed = ratio is not None and ratio <= max_ratio
            checks.append(BarCheck(bench["name"], peer, max_ratio, ratio, passed))
    return checks


def declared_bars(extra_info: Mapping[str, Any]) -> dict[str, float]:
    """The bars a benchmark declares: ``{peer name: max ratio}``."""
    bars = {str(peer): float(ratio) for peer, ratio in (extra_info.get("bars") or {}).items()}
    if "bar_peer" in extra_info:
        bars[str(extra_info["bar_peer"])] = float(extra_info["bar_max_ratio"])
    return bars


def format_bars(checks: Iterable[BarCheck]) -> str:
    """A plain-text table of bar checks, one line each."""
    lines = []
    for c in checks:
        ratio = "peer missing" if c.ratio is None else f"{c.ratio:.3f}x"
        verdict = "ok  " if c.passed else "MISS"
        lines.append(f"{verdict} {c.name}: {ratio} of {c.peer} (bar <= {c.max_ratio}x)")
    return "\n".join(lines)
