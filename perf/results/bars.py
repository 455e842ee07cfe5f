"""Speed bars: how much slower or faster than a peer a benchmark may be, with an interval.

A benchmark declares its bars in pytest-benchmark's ``extra_info`` as ``{peer name: max ratio}``::

    benchmark.extra_info["bars"] = {"bench_get[cachetools.TTLCache]": 0.25}

(or one as ``bar_peer`` + ``bar_max_ratio``). The benchmark suite measures ours and each peer
*interleaved*: block i runs one round of ours and one round of every peer, in a shuffled order,
so a noise burst on a shared machine slows both sides of a pair rather than one benchmark timed
minutes after the other. Those paired samples are stored beside ours in ``extra_info``::

    "interleaved": {"ours": [s, ...], "peers": {peer name: [s, ...]}, "confidence": 0.9875, ...}

(seconds per round, block i at index i; written by ``benchmarks/conftest.py``). A peer whose bar
was decided early leaves the blocks: its list is then shorter, and pairs with the same-length
prefix of ``ours``.

The ratio is the median of the per-pair ratios ``ours[i] / peer[i]``, and its interval is the
distribution-free order-statistic interval for a median (:func:`median_interval`): if the
pairs are independent, ``[r_(k), r_(n+1-k)]`` covers the median ratio with probability
``1 - 2 P(Binomial(n, 1/2) < k)``, whatever the distribution of the ratios. We chose it over a
bootstrap of the ratio of medians (Kalibera & Jones, "Rigorous Benchmarking in Reasonable Time",
ISMM 2013, section 5, build effect-size intervals for ratios by bootstrap or Fieller's theorem)
because, with paired samples, the per-pair ratio already cancels what a burst does to both sides,
the interval is exact rather than asymptotic, it needs no resampling or seed, and a median of
ratios ignores a round that a preemption stretched tenfold. What it does not cover is variation
between processes (Kalibera & Jones' "executions" level): every bar is measured in one process.

Three verdicts: ``pass`` when the whole interval is at or under the bar, ``fail`` when it is
wholly over, ``inconclusive`` when it straddles. Older ``benchmarks.json`` files without paired
samples are still read: the ratio of the two benchmarks' medians, no interval, a point verdict.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

__all__ = [
    "BarCheck",
    "Verdict",
    "bar_verdict",
    "check_bars",
    "declared_bars",
    "format_bars",
    "median_interval",
    "paired_ratio",
]

Verdict = Literal["pass", "fail", "inconclusive"]
PAIRED = "paired"  # BarCheck.method: median of per-pair ratios, order-statistic interval
MEDIANS = "medians"  # BarCheck.method: an old file's ratio of two benchmarks' medians


@dataclass(frozen=True, slots=True)
class BarCheck:
    """One bar: ``name`` may take at most ``max_ratio`` times the ``peer``'s time.

    ``ratio`` is the median of per-pair ratios (``method="paired"``) or, for an old file, the
    ratio of medians (``method="medians"``; ``low``/``high`` are then None); None when the
    peer did not run. ``low``/``high`` bound the ratio at ``confidence``; ``pairs`` is how
    many interleaved pairs it rests on; ``ratio_of_medians`` is median(ours) / median(peer)
    over the same paired rounds, for reading beside tables of medians.
    """

    name: str
    peer: str
    max_ratio: float
    ratio: float | None
    verdict: Verdict
    low: float | None = None
    high: float | None = None
    confidence: float | None = None
    pairs: int | None = None
    method: str = MEDIANS
    ratio_of_medians: float | None = None

    @property
    def passed(self) -> bool:
        """The interval (or the point, without one) is at or under the bar."""
        return self.verdict == "pass"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "peer": self.peer,
            "max_ratio": self.max_ratio,
            "ratio": self.ratio,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "verdict": self.verdict,
            "passed": self.passed,
            "pairs": self.pairs,
            "method": self.method,
            "ratio_of_medians": self.ratio_of_medians,
        }


def median_interval(values: Sequence[float], confidence: float) -> tuple[float, float] | None:
    """Distribution-free interval for the median of ``values`` at ``confidence`` or more.

    The widest-coverage-first order statistics ``[v_(k), v_(n+1-k)]`` with the largest ``k``
    such that ``2 P(Binomial(n, 1/2) <= k - 1) <= 1 - confidence`` (exact integer arithmetic).
    None when ``n`` is too small for any such ``k`` (fewer than 6 values at 95 %).
    """
    n = len(values)
    alpha = Fraction(1) - Fraction(confidence)
    if not 0 < alpha < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    total = 2**n
    tail = 0  # sum of C(n, j) for j < k
    term = 1  # C(n, k - 1) as k grows
    k = 0
    while k < n // 2 + 1:
        # Would [v_(k+1), v_(n-k)] still hold the confidence? Its miss is 2 * sum_{j<=k} C(n, j).
        if 2 * (tail + term) > alpha * total:
            break
        tail += term
        term = term * (n - k) // (k + 1)
        k += 1
    if k == 0:
        return None
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def paired_ratio(
    ours: Sequence[float], peer: Sequence[float], confidence: float
) -> tuple[float, tuple[float, float] | None]:
    """Median of ``ours[i] / peer[i]`` and its :func:`median_interval` at ``confidence``."""
    if len(ours) != len(peer) or not ours:
        raise ValueError(f"paired samples differ in length or are empty: {len(ours)}, {len(peer)}")
    ratios = [o / p for o, p in zip(ours, peer, strict=True)]
    return statistics.median(ratios), median_interval(ratios, confidence)


def bar_verdict(interval: tuple[float, float] | None, max_ratio: float) -> Verdict:
    """``pass`` if the whole interval is <= the bar, ``fail`` if wholly over, else inconclusive."""
    if interval is None:
        return "inconclusive"
    low, high = interval
    if high <= max_ratio:
        return "pass"
    if low > max_ratio:
        return "fail"
    return "inconclusive"


def _paired_check(name: str, peer: str, max_ratio: float, paired: Mapping[str, Any]) -> BarCheck:
    theirs = [float(s) for s in paired["peers"][peer]]
    ours = [float(s) for s in paired["ours"][: len(theirs)]]  # a decided peer stops early
    confidence = float(paired["confidence"])
    ratio, interval = paired_ratio(ours, theirs, confidence)
    low, high = interval if interval else (None, None)
    return BarCheck(
        name,
        peer,
        max_ratio,
        ratio,
        bar_verdict(interval, max_ratio),
        low=low,
        high=high,
        confidence=confidence,
        pairs=len(ours),
        method=PAIRED,
        ratio_of_medians=statistics.median(ours) / statistics.median(theirs),
    )


def check_bars(benchmarks: Iterable[Mapping[str, Any]]) -> list[BarCheck]:
    """Check every declared bar among ``benchmarks`` (entries of pytest-benchmark's JSON)."""
    entries = list(benchmarks)
    medians = {b["name"]: float(b["stats"]["median"]) for b in entries if b.get("stats")}
    checks = []
    for bench in entries:
        if bench["name"] not in medians:
            continue
        extra = bench.get("extra_info") or {}
        paired = extra.get("interleaved") or {}
        for peer, max_ratio in declared_bars(extra).items():
            if peer in (paired.get("peers") or {}):
                checks.append(_paired_check(bench["name"], peer, max_ratio, paired))
                continue
            peer_median = medians.get(peer)
            ratio = medians[bench["name"]] / peer_median if peer_median else None
            verdict: Verdict = "pass" if ratio is not None and ratio <= max_ratio else "fail"
            checks.append(BarCheck(bench["name"], peer, max_ratio, ratio, verdict))
    return checks


def declared_bars(extra_info: Mapping[str, Any]) -> dict[str, float]:
    """The bars a benchmark declares: ``{peer name: max ratio}``."""
    bars = {str(peer): float(ratio) for peer, ratio in (extra_info.get("bars") or {}).items()}
    if "bar_peer" in extra_info:
        bars[str(extra_info["bar_peer"])] = float(extra_info["bar_max_ratio"])
    return bars


_WORDS: dict[str, str] = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive"}


def format_bars(checks: Iterable[BarCheck]) -> str:
    """One line per bar: ``pass name: 0.912x [0.874, 0.951] of peer (bar <= 1.0x)``."""
    lines = []
    for c in checks:
        if c.ratio is None:
            figure = "peer missing"
        elif c.low is None or c.high is None:
            figure = f"{c.ratio:.3f}x [no interval"
            figure += ": too few pairs]" if c.method == PAIRED else ": medians only]"
        else:
            figure = f"{c.ratio:.3f}x [{c.low:.3f}, {c.high:.3f}]"
        extra = f", {c.pairs} pairs at {c.confidence:.2%}" if c.method == PAIRED else ""
        lines.append(
            f"{_WORDS[c.verdict]} {c.name}: {figure} of {c.peer} (bar <= {c.max_ratio:g}x{extra})"
        )
    return "\n".join(lines)
