"""perf compare's statistics on synthetic samples with known effects (no benchmark runs)."""

from __future__ import annotations

import numpy as np
import pytest

from perf.report.compare import (
    FASTER,
    INCONCLUSIVE,
    NEW,
    REMOVED,
    SLOWER,
    UNCHANGED,
    Policy,
    compare_counts,
    compare_samples,
    compare_suite,
    exit_code,
    format_comparisons,
    holm,
    ratio_interval,
    trimmed,
    verdict,
)


def processes(median: float, *, count: int = 5, n: int = 200, spread: float = 0.02,
              drift: list[float] | None = None, seed: int = 0) -> list[list[float]]:  # fmt: skip
    """``count`` processes of ``n`` lognormal samples around ``median``; ``drift`` multiplies
    each process (a noisy neighbour), and the first sample of each is a slow warm-up call."""
    rng = np.random.default_rng(seed)
    drift = drift or [1.0] * count
    out = []
    for factor in drift:
        samples = median * factor * np.exp(rng.normal(0, spread, n))
        samples[0] *= 20  # the warm-up call
        out.append(samples.tolist())
    return out


def test_holm_matches_the_textbook_example() -> None:
    # p sorted: 0.01, 0.02, 0.03, 0.04 with m = 4 -> 0.04, 0.06, 0.06, 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_warm_up_samples_are_dropped_unless_too_few_remain() -> None:
    kept = trimmed([[9.0, 1.0, 1.0], [9.0, 1.0], []], warmup=1)
    assert [p.tolist() for p in kept] == [[1.0, 1.0], [9.0, 1.0]]


def test_a_known_20_percent_slowdown_is_slower_with_its_interval_around_it() -> None:
    base = processes(1e-3, seed=1)
    head = processes(1.2e-3, seed=2)
    [c] = compare_suite({"b": base}, {"b": head})
    assert c.verdict == SLOWER
    assert c.ratio == pytest.approx(1.2, rel=0.01)
    assert c.low is not None and c.high is not None
    assert 1.15 < c.low < 1.2 < c.high < 1.25
    assert c.p_adjusted is not None and c.p_adjusted < 1e-6
    assert exit_code([c]) == 1


def test_a_known_speed_up_is_faster_and_does_not_fail() -> None:
    [c] = compare_suite({"b": processes(1e-3, seed=1)}, {"b": processes(0.8e-3, seed=2)})
    assert c.verdict == FASTER
    assert exit_code([c]) == 0


def test_identical_distributions_are_unchanged() -> None:
    [c] = compare_suite({"b": processes(1e-3, seed=1)}, {"b": processes(1e-3, seed=2)})
    assert c.verdict == UNCHANGED
    assert c.ratio == pytest.approx(1.0, abs=0.01)


def test_a_significant_effect_below_the_minimum_is_not_slower() -> None:
    """2 % slower, measured precisely: real, significant, and too small to fail CI for."""
    base = processes(1e-3, n=2000, spread=0.01, seed=1)
    head = processes(1.02e-3, n=2000, spread=0.01, seed=2)
    [c] = compare_suite({"b": base}, {"b": head})
    assert c.p_adjusted is not None and c.p_adjusted < 1e-6
    assert c.verdict == UNCHANGED


def test_one_disturbed_pair_does_not_make_a_false_alarm() -> None:
    """A/A where a neighbour slowed one head process 2x: the rank test on pooled samples is
    fooled (p tiny) but the process-level ratio and interval are not."""
    base = processes(1e-3, seed=1)
    head = processes(1e-3, drift=[1, 1, 2.0, 1, 1], seed=2)
    [c] = compare_suite({"b": base}, {"b": head})
    assert c.p_value is not None and c.p_value < 1e-6
    assert c.verdict != SLOWER
    assert c.ratio == pytest.approx(1.0, abs=0.02)


def test_drift_shared_by_a_pair_cancels() -> None:
    """The machine's speed changes 2x between pairs but equally within each pair (A/A)."""
    drift = [1.0, 1.6, 0.8, 2.0, 1.2]
    [c] = compare_suite(
        {"b": processes(1e-3, drift=drift, seed=1)}, {"b": processes(1e-3, drift=drift, seed=2)}
    )
    assert c.verdict == UNCHANGED
    base = processes(1e-3, drift=drift, seed=1)
    head = processes(1.1e-3, drift=drift, seed=2)
    [c] = compare_suite({"b": base}, {"b": head})
    assert c.verdict == SLOWER  # a 10 % effect under 2x drift


def test_noisy_processes_are_inconclusive_not_slower() -> None:
    """Processes that scatter +-20 % independently: a 6 % effect cannot be told apart."""
    rng = np.random.default_rng(5)
    base = processes(1e-3, drift=list(rng.uniform(0.8, 1.2, 5)), seed=1)
    head = processes(1.06e-3, drift=list(rng.uniform(0.8, 1.2, 5)), seed=2)
    [c] = compare_suite({"b": base}, {"b": head})
    assert c.verdict == INCONCLUSIVE


def test_holm_keeps_one_real_effect_among_many_unchanged() -> None:
    base = {f"b{i}": processes(1e-3, seed=i) for i in range(30)}
    head = {f"b{i}": processes(1e-3, seed=100 + i) for i in range(30)}
    head["b7"] = processes(1.1e-3, seed=999)
    found = {c.name: c.verdict for c in compare_suite(base, head)}
    assert [n for n, v in found.items() if v == SLOWER] == ["b7"]


def test_unpaired_sides_fall_back_to_medians_of_medians() -> None:
    base = processes(1e-3, count=4, seed=1)
    head = processes(1.2e-3, count=5, seed=2)
    c = compare_samples("b", base, head)
    assert c.ratio == pytest.approx(1.2, rel=0.02)
    assert (c.base_processes, c.head_processes) == (4, 5)


def test_new_and_removed_benchmarks_have_no_verdict_on_speed() -> None:
    found = {c.name: c for c in compare_suite({"old": processes(1e-3)}, {"new": processes(1e-3)})}
    assert (found["old"].verdict, found["new"].verdict) == (REMOVED, NEW)
    assert exit_code(found.values()) == 0
    assert "new" in format_comparisons(found.values())


def test_the_interval_is_reproducible_and_covers_the_ratio() -> None:
    base = [np.asarray(p) for p in processes(1e-3, seed=1)]
    head = [np.asarray(p) for p in processes(1.1e-3, seed=2)]
    first = ratio_interval(base, head, Policy())
    assert first == ratio_interval(base, head, Policy())
    ratio, low, high = first
    assert low <= ratio <= high


def test_identical_constant_samples_do_not_crash() -> None:
    [c] = compare_suite({"b": [[1.0] * 5] * 3}, {"b": [[1.0] * 5] * 3})
    assert (c.ratio, c.p_value, c.verdict) == (1.0, 1.0, UNCHANGED)


def test_verdict_rules() -> None:
    p = Policy(min_effect=1.05)
    assert verdict(1.10, 1.06, 1.14, 0.001, p) == SLOWER
    assert verdict(1.10, 1.06, 1.14, 0.2, p) == INCONCLUSIVE  # not significant
    assert verdict(1.04, 1.02, 1.06, 0.001, p) == INCONCLUSIVE  # below the minimum effect
    assert verdict(1.06, 0.99, 1.12, 0.001, p) == INCONCLUSIVE  # the interval reaches 1
    assert verdict(0.90, 0.86, 0.94, 0.001, p) == FASTER
    assert verdict(1.01, 0.97, 1.04, 0.5, p) == UNCHANGED


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="min_effect"):
        Policy(min_effect=0.9)
    with pytest.raises(ValueError, match="alpha"):
        Policy(alpha=1.5)


# -- instruction counts: one figure per hash seed, paired by seed ----------------------------


def test_counts_pair_by_seed_so_layout_differences_between_seeds_cancel() -> None:
    # seed 1's layout costs 2 % more on both sides: unpaired that would straddle 1 %, paired
    # each seed's ratio is exactly 1
    base = {"get": {0: 1000.0, 1: 1020.0}}
    [same] = compare_counts(base, {"get": {0: 1000.0, 1: 1020.0}})
    assert (same.verdict, same.ratio, same.low, same.high) == (UNCHANGED, 1.0, 1.0, 1.0)
    assert same.unit == "instructions" and same.p_value is None
    [slower] = compare_counts(base, {"get": {0: 1100.0, 1: 1112.0}})
    assert slower.verdict == SLOWER
    assert (slower.low, slower.high) == (pytest.approx(1112 / 1020), pytest.approx(1.1))
    [faster] = compare_counts(base, {"get": {0: 900.0, 1: 920.0}})
    assert faster.verdict == FASTER


def test_counts_below_the_minimum_effect_or_split_across_it_are_not_slower() -> None:
    base = {"get": {0: 1000.0, 1: 1000.0}}
    [small] = compare_counts(base, {"get": {0: 1005.0, 1: 1006.0}})  # 0.5 %: under 1 %
    assert small.verdict == UNCHANGED
    [split] = compare_counts(base, {"get": {0: 995.0, 1: 1030.0}})  # one seed faster, one 3 %
    assert split.verdict == INCONCLUSIVE and exit_code([split]) == 0


def test_counts_on_one_side_only_and_counts_not_above_the_harness() -> None:
    found = compare_counts(
        {"old": {0: 5.0}, "tiny": {0: -3.0, 1: 2.0}},
        {"new": {0: 5.0}, "tiny": {0: 4.0, 1: 2.0}},
    )
    assert [(c.name, c.verdict) for c in found] == [
        ("new", NEW), ("old", REMOVED), ("tiny", INCONCLUSIVE)
    ]  # fmt: skip
    assert "not above the harness" in found[2].notes[0]
    line = format_comparisons(compare_counts({"get": {0: 2410.0}}, {"get": {0: 2410.0}}))
    assert (
        line == "unchanged    get: 1.000x [1.000, 1.000] (2,410 instructions -> 2,410 "
        "instructions, p_holm -)"
    )
