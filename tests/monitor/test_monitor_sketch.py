"""QuantileSketch: the stated relative error against exact percentiles, merging, snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perf.errors import ConfigurationError
from perf.monitor import QuantileSketch

GRID = [0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0]


def _sketch_of(values, batch=1024):
    sketch = QuantileSketch()
    as_list = list(values)
    for i in range(0, len(as_list), batch):
        sketch.add_many(as_list[i : i + batch])
    return sketch


def test_quantiles_within_one_percent_of_numpy_on_a_million_lognormal_samples():
    samples = np.random.default_rng(20261123).lognormal(mean=-4.0, sigma=1.5, size=1_000_000)
    sketch = _sketch_of(samples.tolist())
    qs = GRID + np.linspace(0.0, 1.0, 401).tolist()
    estimates = np.array(sketch.quantiles(qs))
    exact = np.quantile(samples, qs)
    relative_error = np.abs(estimates - exact) / exact
    assert relative_error.max() <= 0.01
    assert relative_error.max() <= sketch.relative_accuracy * 1.01  # the stated 0.5 %
    assert sketch.count == 1_000_000
    assert sketch.quantile(0.0) == samples.min() and sketch.quantile(1.0) == samples.max()
    assert sketch.total == pytest.approx(samples.sum(), rel=1e-12)
    assert sketch.bucket_count < 4_000  # memory is bounded by the value range, not the count


def test_merge_equals_one_sketch_that_saw_everything():
    rng = np.random.default_rng(7)
    a, b = rng.lognormal(-3, 1, 5_000).tolist(), rng.exponential(0.01, 3_000).tolist()
    merged = _sketch_of(a)
    merged.merge(_sketch_of(b))
    whole = _sketch_of(a + b)
    assert merged.quantiles(GRID) == whole.quantiles(GRID)
    got, want = merged.to_dict(), whole.to_dict()
    assert got.pop("total") == pytest.approx(want.pop("total"))
    assert got == want


def test_snapshot_round_trips_through_json():
    sketch = _sketch_of([0.0, 0.001, 0.002, 0.5, 3.0])
    restored = QuantileSketch.from_dict(json.loads(json.dumps(sketch.to_dict())))
    assert restored.to_dict() == sketch.to_dict()
    assert restored.quantiles(GRID) == sketch.quantiles(GRID)


def test_zero_and_negative_durations_count_as_zero():
    sketch = _sketch_of([0.0, -1e-9, 0.0, 1.0])
    assert sketch.count == 4 and sketch.min == 0.0
    assert sketch.quantile(0.5) == 0.0
    assert sketch.quantile(1.0) == 1.0


def test_empty_sketch_answers_none():
    sketch = QuantileSketch()
    assert sketch.quantiles([0.5, 0.99]) == [None, None]
    assert sketch.to_dict()["min"] is None


@pytest.mark.parametrize("accuracy", [0.0, 1.0, -0.1, 2])
def test_bad_relative_accuracy_is_a_configuration_error(accuracy):
    with pytest.raises(ConfigurationError, match="relative_accuracy"):
        QuantileSketch(accuracy)


def test_bad_quantile_and_damaged_snapshots_are_configuration_errors():
    sketch = _sketch_of([0.1, 0.2])
    with pytest.raises(ConfigurationError, match="quantiles must be within"):
        sketch.quantile(1.5)
    data = sketch.to_dict()
    with pytest.raises(ConfigurationError, match="not a sketch"):
        QuantileSketch.from_dict({k: v for k, v in data.items() if k != "keys"})
    with pytest.raises(ConfigurationError, match="do not add up"):
        QuantileSketch.from_dict({**data, "count": 99})
    with pytest.raises(ConfigurationError, match="same relative_accuracy"):
        sketch.merge(QuantileSketch(0.01))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_are_refused_and_add_nothing(bad):
    sketch = _sketch_of([0.1, 0.2])
    before = sketch.to_dict()
    with pytest.raises(ConfigurationError, match="finite"):
        sketch.add_many([0.3, bad])
    assert sketch.to_dict() == before


def test_difference_of_two_readings_is_the_window_between_them():
    earlier, later, window_only = QuantileSketch(), QuantileSketch(), QuantileSketch()
    first = [0.001 * i for i in range(1, 500)]
    second = [0.05 + 0.001 * i for i in range(300)]
    earlier.add_many(first)
    later.add_many(first)
    later.add_many(second)
    window_only.add_many(second)
    window = QuantileSketch.difference(later, earlier)
    assert window.count == 300
    assert window.total == pytest.approx(sum(second))
    for q in (0.05, 0.5, 0.95):
        assert window.quantile(q) == pytest.approx(window_only.quantile(q), rel=0.01)
    assert window.min <= min(second) and window.max >= max(second)


def test_difference_refuses_readings_of_different_sketches():
    a, b = QuantileSketch(), QuantileSketch()
    a.add_many([1.0, 2.0])
    b.add_many([3.0])
    with pytest.raises(ConfigurationError, match="not part of the later one"):
        QuantileSketch.difference(a, b)
