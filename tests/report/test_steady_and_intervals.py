"""perf.report.steady (MSER-5) on series with a known change point, and perf.report.intervals'
intervals and three-way verdicts on samples with known answers."""

from __future__ import annotations

import random

import pytest

from perf.monitor.sketch import QuantileSketch
from perf.report.intervals import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Interval,
    batch_ratio_interval,
    decide,
    mean_interval,
    percentile_interval,
    rank_interval,
    samples_to_settle,
    sketch_percentile_interval,
)
from perf.report.steady import mser_truncation


@pytest.mark.parametrize("change", [50, 150, 300])
def test_mser_cuts_a_warm_up_of_known_length(change: int) -> None:
    rng = random.Random(change)
    warm = [rng.gauss(500, 50) for _ in range(change)]
    steady = [rng.gauss(100, 10) for _ in range(1000 - change)]
    cut = mser_truncation(warm + steady)
    assert change <= cut.cut <= change + 10  # to the batch of five, plus noise
    assert cut.settled


def test_mser_keeps_a_stationary_series_almost_whole() -> None:
    rng = random.Random(1)
    series = [rng.gauss(100, 10) for _ in range(1000)]
    assert mser_truncation(series).cut < 500
    assert mser_truncation(series).settled


def test_a_series_still_climbing_at_the_end_is_not_settled() -> None:
    series = [float(i) for i in range(200)]
    cut = mser_truncation(series)
    assert cut.cut == 100  # the half-way limit
    assert not cut.settled


def test_a_short_series_is_kept_whole() -> None:
    assert mser_truncation([9.0, 1.0, 1.0, 1.0]).cut == 0
    assert mser_truncation([]).n == 0


def test_window_means_use_batches_of_one() -> None:
    rng = random.Random(2)
    rates = [0.3, 0.5, 0.7] + [0.9 + rng.uniform(-0.01, 0.01) for _ in range(20)]
    cut = mser_truncation(rates, batch=1).cut
    assert 3 <= cut <= 11  # all of the warm-up, and never past the half-way limit


def test_rank_interval_covers_the_percentile_at_the_stated_confidence() -> None:
    """Coverage checked by simulation: the true P95 of U(0, 1) is 0.95."""
    rng = random.Random(7)
    covered = 0
    for _ in range(400):
        values = [rng.random() for _ in range(200)]
        iv = percentile_interval(values, 0.95)
        covered += iv.low <= 0.95 <= iv.high
    assert covered / 400 >= 0.92  # 95 % nominal, minus simulation noise
    assert rank_interval(10, 0.95) == (8, 10)


def test_the_sketch_interval_agrees_with_the_exact_one() -> None:
    rng = random.Random(3)
    values = [rng.expovariate(1 / 0.02) for _ in range(5000)]
    sketch = QuantileSketch()
    sketch.add_many(values)
    exact, approx = percentile_interval(values, 0.95), sketch_percentile_interval(sketch, 0.95)
    for a, b in ((exact.low, approx.low), (exact.high, approx.high)):
        assert b == pytest.approx(a, rel=0.02)


def test_batch_means_widen_the_interval_for_correlated_lookups() -> None:
    """Windows whose hit rates swing together give a wider interval than their lookup count
    alone would: the point of batch means."""
    steady = batch_ratio_interval([80] * 20, [100] * 20)
    swinging = batch_ratio_interval([60, 100] * 10, [100] * 20)
    assert steady.estimate == swinging.estimate == pytest.approx(0.8)
    assert steady.high - steady.low < 1e-9
    assert swinging.high - swinging.low > 0.1  # a binomial interval on 2,000 lookups: ~0.035
    assert batch_ratio_interval([5], [10]).low == 0.0  # one window: no interval


def test_mean_interval_is_the_t_interval() -> None:
    iv = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert iv.estimate == 3.0
    assert (iv.low, iv.high) == pytest.approx((1.0368, 4.9632), abs=1e-3)


@pytest.mark.parametrize(
    ("low", "high", "op", "verdict"),
    [
        (10, 20, "<", PASS), (60, 70, "<", FAIL), (40, 60, "<", INCONCLUSIVE),
        (0.85, 0.9, ">", PASS), (0.5, 0.6, ">", FAIL), (0.75, 0.85, ">", INCONCLUSIVE),
    ],
)  # fmt: skip
def test_three_way_verdicts(low: float, high: float, op: str, verdict: str) -> None:
    limit = 50 if op == "<" else 0.8
    iv = Interval((low + high) / 2, low, high, 100, "test")
    assert decide(iv, op, limit) == verdict


def test_samples_to_settle_scales_with_the_square_of_the_half_width() -> None:
    iv = Interval(45.0, 40.0, 50.0, 100, "test")  # half-width 5, 5 from the limit 50: on it
    assert samples_to_settle(iv, 50.0) == 100
    assert samples_to_settle(Interval(48.0, 43.0, 53.0, 100, "test"), 50.0) == 625
    assert samples_to_settle(Interval(50.0, 45.0, 55.0, 100, "test"), 50.0) is None
