"""Sampling error: a confidence interval for every measured value, and three-way verdicts.

- Percentiles of raw samples: the distribution-free order-statistic interval (the ranks from
  the binomial distribution of how many samples fall below the true percentile).
- Percentiles of a sketch (the monitor's bucketed histograms): the same ranks, read from the
  sketch (within its 0.5 % relative accuracy).
- Hit rates: batch means over the time windows of the run. Lookups close in time are
  correlated (a burst of one popular pair), so a binomial interval on single lookups would be
  far too narrow; windows of several seconds are close to independent. The ratio estimator's
  variance across windows gives a t interval with (windows - 1) degrees of freedom.
- Means (tokens per query): a t interval over queries.

A verdict is ``pass`` when the whole interval is on the target's good side, ``fail`` when the
whole interval is on the bad side, and ``inconclusive`` when it straddles the target, with an
estimate of how many more samples would settle it (the interval narrows as 1/sqrt(n)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from perf.monitor.sketch import QuantileSketch

__all__ = [
    "CONFIDENCE",
    "FAIL",
    "INCONCLUSIVE",
    "PASS",
    "Interval",
    "batch_ratio_interval",
    "decide",
    "mean_interval",
    "percentile_interval",
    "rank_interval",
    "samples_to_settle",
    "sketch_percentile_interval",
]

CONFIDENCE = 0.95
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


def _stats() -> Any:
    import scipy.stats  # noqa: PLC0415 - ~0.4 s: only computing an interval pays it

    return scipy.stats


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate with its ``CONFIDENCE`` interval; ``n`` samples (or windows) behind it."""

    estimate: float
    low: float
    high: float
    n: int
    method: str

    def as_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n,
                "confidence": CONFIDENCE, "method": self.method}  # fmt: skip


def rank_interval(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int]:
    """1-based ranks ``(l, u)`` with P(x_(l) <= true q-quantile <= x_(u)) >= ``confidence``,
    clipped to ``[1, n]``."""
    binom = _stats().binom
    alpha = 1.0 - confidence
    low = int(binom.ppf(alpha / 2, n, q))
    high = int(binom.ppf(1 - alpha / 2, n, q)) + 1
    return max(1, low), min(n, high)


def percentile_interval(values: Sequence[float], q: float) -> Interval:
    """Nearest-rank percentile of raw ``values`` with its order-statistic interval."""
    if not values:
        raise ValueError("no values: nothing to estimate")
    ordered = sorted(values)
    n = len(ordered)
    low, high = rank_interval(n, q)
    estimate = ordered[max(1, math.ceil(q * n)) - 1]
    return Interval(estimate, ordered[low - 1], ordered[high - 1], n, "order statistics")


def sketch_percentile_interval(sketch: QuantileSketch, q: float) -> Interval:
    """The ``q`` quantile of a sketch's values with the order-statistic interval, the ranks
    read from the sketch (within its relative accuracy)."""
    n = sketch.count
    if not n:
        raise ValueError("an empty sketch: nothing to estimate")
    low, high = rank_interval(n, q)
    span = max(1, n - 1)
    estimate, lo, hi = sketch.quantiles((q, (low - 1) / span, (high - 1) / span))
    assert estimate is not None and lo is not None and hi is not None  # n > 0
    return Interval(estimate, lo, hi, n, "order statistics (histogram)")


def batch_ratio_interval(hits: Sequence[int], lookups: Sequence[int]) -> Interval:
    """``sum(hits) / sum(lookups)`` over time windows, with its batch-means t interval."""
    pairs = [(h, n) for h, n in zip(hits, lookups, strict=True) if n > 0]
    total = sum(n for _, n in pairs)
    if not total:
        raise ValueError("no lookups: nothing to estimate")
    rate = sum(h for h, _ in pairs) / total
    k = len(pairs)
    if k < 2:
        return Interval(rate, 0.0, 1.0, k, "batch means (one window: no interval)")
    residuals = sum((h - rate * n) ** 2 for h, n in pairs)
    se = math.sqrt(k / (k - 1) * residuals) / total
    half = _stats().t.ppf(0.5 + CONFIDENCE / 2, k - 1) * se
    return Interval(rate, max(0.0, rate - half), min(1.0, rate + half), k, "batch means")


def mean_interval(values: Sequence[float]) -> Interval:
    """The mean of ``values`` with its t interval."""
    n = len(values)
    if not n:
        raise ValueError("no values: nothing to estimate")
    mean = sum(values) / n
    if n < 2:
        return Interval(mean, -math.inf, math.inf, n, "t (one value: no interval)")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = _stats().t.ppf(0.5 + CONFIDENCE / 2, n - 1) * math.sqrt(var / n)
    return Interval(mean, mean - half, mean + half, n, "t")


def decide(interval: Interval, op: str, limit: float) -> str:
    """``pass`` / ``fail`` / ``inconclusive`` for a target ``<op> limit`` (``<`` or ``>``)."""
    if op == "<":
        good, bad = interval.high < limit, interval.low >= limit
    elif op == ">":
        good, bad = interval.low > limit, interval.high <= limit
    else:
        raise ValueError(f"op must be '<' or '>', got {op!r}")
    return PASS if good else FAIL if bad else INCONCLUSIVE


def samples_to_settle(interval: Interval, limit: float) -> int | None:
    """About how many samples in all would narrow the interval enough to clear ``limit``
    (the half-width shrinks as 1/sqrt(n)); ``None`` when the estimate sits on the limit."""
    distance = abs(interval.estimate - limit)
    half = max(interval.high - interval.estimate, interval.estimate - interval.low)
    if distance == 0 or not math.isfinite(half):
        return None
    return max(interval.n, math.ceil(interval.n * (half / distance) ** 2))
