"""Warm-up and steady state: MSER-5 truncation, one rule for every check.

MSER (White, 1997; "MSER-5" with batches of five, Franklin & White 2008) is the standard
truncation rule of simulation output analysis: drop the first ``d`` observations where ``d``
minimises the squared standard error of the mean of what is left,

    MSER(d) = sum((y_i - mean(y[d:]))**2 for i >= d) / (n - d)**2,

searched over the first half of the series only (past it, the estimate rests on too few
observations). A cut at that limit is not enough to say the run ended still warming up: MSER
on pure noise lands there too. The series counts as unsettled only when, in addition, what is
left after the cut still trends (a least-squares slope with p < 0.05). Fewer than ten batches
are too few to tell warm-up from noise: nothing is cut. Each check applies it to its own
time series: per-request latencies in send order (batched by five), per-window hit rates, per-
window mean operation times, per-query tokens. Nothing is tuned per check or per target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BATCH", "Truncation", "mser_truncation"]

BATCH = 5  # MSER-5: observations per batch mean when the series is raw observations
MIN_BATCHES = 10
TREND_P = 0.05


@dataclass(frozen=True, slots=True)
class Truncation:
    """Where the warm-up ends: ``cut`` observations of ``n`` are warm-up.

    ``settled`` is False when the minimum fell on the half-way limit and the rest still
    trends: the series was moving when the run ended, a longer run would show its level.
    """

    cut: int
    n: int
    settled: bool


def mser_truncation(series: Sequence[float], batch: int = BATCH) -> Truncation:
    """MSER truncation of ``series`` with batch means of ``batch`` observations (1: the
    observations are already window means)."""
    n = len(series)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    means = [sum(series[i : i + batch]) / batch for i in range(0, n - n % batch, batch)]
    k = len(means)
    if k < MIN_BATCHES:  # too short to tell warm-up from noise: keep everything
        return Truncation(0, n, settled=True)
    limit = k // 2
    best_d, best = 0, float("inf")
    # suffix sums make every MSER(d) O(1): sum of squares minus the squared sum over the count
    total = sum(means)
    squares = sum(m * m for m in means)
    for d in range(limit + 1):
        left = k - d
        value = (squares - total * total / left) / (left * left)
        if value < best:
            best_d, best = d, value
        total -= means[d]
        squares -= means[d] * means[d]
    settled = best_d < limit or not _trends(means[best_d:])
    return Truncation(best_d * batch, n, settled=settled)


def _trends(values: Sequence[float]) -> bool:
    """Whether ``values`` still rise or fall: a least-squares slope with p < ``TREND_P``."""
    from scipy.stats import linregress  # noqa: PLC0415 - ~0.4 s: only a check pays it

    if len(set(values)) < 2:
        return False
    return bool(linregress(range(len(values)), values).pvalue < TREND_P)
