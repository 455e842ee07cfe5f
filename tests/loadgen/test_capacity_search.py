"""The capacity search as pure functions of the verdicts so far, and the CPU bookkeeping."""

from __future__ import annotations

import pytest

from perf.errors import ConfigurationError
from perf.loadgen.capacity_search import (
    MIN_RATE,
    CapacityOptions,
    bracket,
    knee,
    next_rate,
    ratio,
)
from perf.loadgen.cpu import CpuSampler, find_descendant, role_seconds

OPTIONS = CapacityOptions(start_rate=5, factor=2, resolution=0.1, max_steps=20)


def search(limit: float, options: CapacityOptions = OPTIONS, unsure: float = 0.0):
    """The rates a search visits against a service that sustains rates <= ``limit`` (and is
    ``inconclusive`` within ``unsure`` above it)."""
    steps: list[tuple[float, str]] = []
    while (rate := next_rate(steps, options)) is not None:
        verdict = "pass" if rate <= limit else "inconclusive" if rate <= limit + unsure else "fail"
        steps.append((rate, verdict))
    return steps


def as_records(steps):
    return [{"index": i, "offered_rate": r, "verdict": v, "achieved_rate": r * 0.99}
            for i, (r, v) in enumerate(steps, 1)]  # fmt: skip


def test_the_rate_doubles_until_a_step_fails_then_bisects_geometrically():
    steps = search(37.0)
    rates = [r for r, _ in steps]
    assert rates[:4] == [5, 10, 20, 40]
    assert rates[4] == pytest.approx((20 * 40) ** 0.5)  # between the last pass and first fail
    low, high = bracket(steps)
    assert low <= 37 < high and high / low <= 1.1
    assert len(steps) == 7  # 4 doublings, then 3 bisections: 2 ** (1 / 8) = 1.09 <= 1.1


def test_inconclusive_counts_as_not_sustained():
    steps = search(37.0, unsure=10.0)
    low, high = bracket(steps)
    assert low <= 37 < high
    assert dict(steps)[high] == "inconclusive"


def test_a_failing_first_step_searches_downwards_and_stops_at_the_floor():
    rates = [r for r, _ in search(3.0)]
    assert rates[:3] == [5, 2.5, pytest.approx(12.5**0.5)]  # down, then bisect between
    low, high = bracket(search(3.0))
    assert low <= 3.0 < high
    nothing = search(0.0, CapacityOptions(start_rate=1, max_steps=20))
    assert all(v == "fail" for _, v in nothing)
    assert min(r for r, _ in nothing) >= MIN_RATE
    assert bracket(nothing) == (None, min(r for r, _ in nothing))


def test_max_steps_ends_the_search():
    options = CapacityOptions(start_rate=5, max_steps=3)
    steps = search(1000.0, options)
    assert [r for r, _ in steps] == [5, 10, 20]
    summary = knee(as_records(steps), options)
    assert summary["rate"] == 20 and summary["bracket"] == [20, None]
    assert not summary["resolved"] and "raise --max-steps" in summary["message"]


def test_the_knee_is_the_highest_sustained_rate_with_its_bracket():
    steps = [(5, "pass"), (10, "pass"), (20, "fail"), (14.1, "pass"), (16.8, "inconclusive")]
    summary = knee(as_records(steps), OPTIONS)
    assert summary["rate"] == 14.1 and summary["bracket"] == [14.1, 16.8]
    assert summary["step"] == 4 and summary["achieved_rate"] == pytest.approx(14.1 * 0.99)
    assert summary["message"] == "sustained 14.1 requests/s; not sustained at 16.8"


def test_a_lower_rate_not_sustained_is_reported_not_hidden():
    steps = [(5, "pass"), (10, "fail"), (7.07, "fail"), (5.95, "pass"), (6.5, "pass")]
    summary = knee(as_records(steps), OPTIONS)
    assert summary["rate"] == 6.5 and summary["bracket"] == [6.5, 7.07]
    steps = [(5, "fail"), (2.5, "pass"), (3.5, "pass")]
    assert "lower rates not sustained too" not in knee(as_records(steps), OPTIONS)["message"]
    noisy = [(5, "pass"), (10, "pass"), (7, "fail"), (20, "fail")]
    assert "lower rates not sustained too: 7" in knee(as_records(noisy), OPTIONS)["message"]


def test_no_sustained_step_says_so():
    summary = knee(as_records([(5, "fail"), (2.5, "inconclusive")]), OPTIONS)
    assert summary["rate"] is None and summary["bracket"] == [None, 2.5]
    assert "no step was sustained" in summary["message"] and "--start-rate" in summary["message"]


def test_the_ratio_of_two_knees_and_its_bracket():
    got = ratio({"bracket": [10, 12]}, {"bracket": [20, 24]})
    assert got == {"rate": 2.0, "bracket": [20 / 12, 24 / 10]}
    assert ratio({"bracket": [10, None]}, {"bracket": [20, 24]})["bracket"] == [None, 2.4]
    assert ratio({"bracket": [None, 5]}, {"bracket": [20, 24]}) is None


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("start_rate", 0, "--start-rate"),
        ("factor", 1.0, "--factor must be > 1"),
        ("resolution", 0, "--resolution"),
        ("max_steps", 1, "--max-steps"),
        ("step_seconds", 1, "--step-duration"),
    ],
)
def test_bad_options_say_what_to_do(option, value, message):
    with pytest.raises(ConfigurationError, match=message):
        CapacityOptions(**{option: value})


# -- CPU per role -----------------------------------------------------------------------------

TABLE = {  # pid: (parent, cpu seconds, command line)
    1: (0, 100.0, "init"),
    10: (1, 2.0, "perf serve"),
    11: (10, 1.0, "uvicorn worker"),
    12: (10, 0.5, "python -m perf.service stub-llm --port 1"),
    13: (12, 0.25, "stub helper"),
    20: (1, 3.0, "locust"),
    30: (1, 9.0, "someone else's stub-llm"),
}


def test_each_process_counts_for_the_nearest_role_above_it():
    roles = {"service": 10, "stub": 12, "generator": 20}
    assert role_seconds(TABLE, roles) == {"service": 3.0, "stub": 0.75, "generator": 3.0}


def test_the_stub_is_found_below_the_service_only():
    assert find_descendant(TABLE, 10, "stub-llm") == 12
    assert find_descendant(TABLE, 20, "stub-llm") is None


def test_cpu_between_two_moments_is_interpolated_and_never_goes_back(monkeypatch):
    readings = iter([(0.0, 1.0), (1.0, 2.0), (2.0, 2.5), (3.0, 0.0)])  # the role exited at 3 s
    now = {"t": 0.0}

    def table():
        now["t"], seconds = next(readings)
        return {5: (1, seconds, "x")}

    monkeypatch.setattr("perf.loadgen.cpu.process_table", table)
    sampler = CpuSampler(lambda: {"role": 5}, clock=lambda: now["t"])
    for _ in range(4):
        sampler.sample()
    assert sampler.between(0.5, 1.5) == {"role": pytest.approx(0.75)}  # 1.5 -> 2.25
    assert sampler.between(0.0, 3.0) == {"role": pytest.approx(1.5)}  # kept 2.5 after exit
    assert sampler.between(2.0, 1.0) is None
