import random
import statistics

import pytest

from perf.results.bars import (
    bar_verdict,
    check_bars,
    format_bars,
    median_interval,
    paired_ratio,
)


def entry(name, median, **extra):
    return {"name": name, "stats": {"median": median}, "extra_info": extra}


def paired_samples(ratio, n, seed, burst_share=0.0, noise=0.05):
    """Ours and a peer at a known ratio, block by block, as the benchmark conftest stores them.

    Each block shares a slowdown factor (a burst multiplies both sides of ``burst_share`` of
    the blocks by 3-10x), and each round has its own log-normal jitter of ``noise``."""
    rng = random.Random(seed)
    ours, peer = [], []
    for _ in range(n):
        shared = rng.uniform(3, 10) if rng.random() < burst_share else 1.0
        peer_time = 1e-3 * shared * rng.lognormvariate(0, noise)
        peer.append(peer_time)
        ours.append(1e-3 * ratio * shared * rng.lognormvariate(0, noise))
    return ours, peer


def interleaved_entry(name, peer, bar, ours, theirs, confidence=0.9875):
    return entry(
        name,
        statistics.median(ours),
        bars={peer: bar},
        interleaved={"ours": ours, "peers": {peer: theirs}, "confidence": confidence},
    )


# -- the interval ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "confidence", "k"),
    [
        (5, 0.95, None),  # 2 / 2**5 = 0.0625 > 0.05: no interval
        (6, 0.95, 1),  # [min, max] covers 1 - 2/64 = 96.9 %
        (10, 0.95, 2),  # 1 - 2 * 11/1024 = 97.9 %; k = 3 would be 89.1 %
        (8, 0.9875, 1),  # the least n at the per-look confidence the benchmarks use
        (7, 0.9875, None),
        (100, 0.95, 40),  # the textbook [x_(40), x_(61)]
    ],
)
def test_median_interval_takes_the_order_statistics_of_the_binomial(n, confidence, k):
    values = list(range(1, n + 1))
    random.Random(n).shuffle(values)
    interval = median_interval(values, confidence)
    if k is None:
        assert interval is None
    else:
        assert interval == (k, n + 1 - k)


def test_median_interval_refuses_a_confidence_outside_zero_one():
    with pytest.raises(ValueError, match="confidence"):
        median_interval([1.0, 2.0], 1.0)


def test_paired_ratio_refuses_unpaired_samples():
    with pytest.raises(ValueError, match="paired"):
        paired_ratio([1.0, 2.0], [1.0], 0.95)


def test_the_interval_covers_the_known_ratio_in_most_synthetic_runs():
    covered = 0
    for seed in range(200):
        ours, peer = paired_samples(0.8, 60, seed, noise=0.2)
        _, (low, high) = paired_ratio(ours, peer, 0.95)
        covered += low <= 0.8 <= high
    assert covered >= 180  # 95 % nominal; exact for the median, so ~190 expected


def test_bar_verdict_is_three_way():
    assert bar_verdict((0.8, 0.95), 1.0) == "pass"
    assert bar_verdict((0.8, 1.0), 1.0) == "pass"  # at the bar is within it
    assert bar_verdict((1.01, 1.2), 1.0) == "fail"
    assert bar_verdict((0.9, 1.1), 1.0) == "inconclusive"
    assert bar_verdict(None, 1.0) == "inconclusive"


# -- bars on paired samples ---------------------------------------------------------------------


def test_a_ratio_well_under_the_bar_passes():
    ours, peer = paired_samples(0.5, 200, seed=1)
    (check,) = check_bars([interleaved_entry("ours", "peer", 1.0, ours, peer)])
    assert check.verdict == "pass" and check.passed
    assert check.low <= 0.5 <= check.high < 1.0
    assert check.ratio == pytest.approx(0.5, rel=0.02)
    assert check.pairs == 200 and check.method == "paired" and check.confidence == 0.9875


def test_a_ratio_well_over_the_bar_fails():
    ours, peer = paired_samples(2.0, 200, seed=2)
    (check,) = check_bars([interleaved_entry("ours", "peer", 1.0, ours, peer)])
    assert check.verdict == "fail" and not check.passed
    assert 1.0 < check.low <= 2.0 <= check.high


def test_a_ratio_at_the_bar_is_inconclusive():
    ours, peer = paired_samples(1.0, 200, seed=3)
    (check,) = check_bars([interleaved_entry("ours", "peer", 1.0, ours, peer)])
    assert check.verdict == "inconclusive" and not check.passed
    assert check.low < 1.0 < check.high


def test_too_few_pairs_for_an_interval_is_inconclusive():
    ours, peer = paired_samples(0.1, 5, seed=4)
    (check,) = check_bars([interleaved_entry("ours", "peer", 1.0, ours, peer)])
    assert check.verdict == "inconclusive" and check.low is None and check.high is None
    assert "no interval: too few pairs" in format_bars([check])


def test_bursts_that_hit_both_sides_of_a_pair_do_not_move_the_verdict():
    """A third of the blocks run 3-10x slower on both sides: the per-pair ratio cancels it."""
    ours, peer = paired_samples(0.9, 300, seed=5, burst_share=0.33)
    (check,) = check_bars([interleaved_entry("ours", "peer", 1.0, ours, peer)])
    assert check.verdict == "pass"
    assert 0.87 < check.low <= 0.9 <= check.high < 0.93
    # Had the bursts hit ours alone (a standalone benchmark timed while the machine was busy),
    # the ratio of medians would read far over the bar.
    assert statistics.median(ours) / statistics.median(o / 3 for o in ours) > 2.9


def test_ratio_of_medians_is_reported_beside_the_median_ratio():
    ours, peer = [1.0, 2.0, 3.0, 4.0, 50.0, 1.0, 2.0, 3.0], [2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0]
    (check,) = check_bars([interleaved_entry("ours", "peer", 2.0, ours, peer)])
    assert check.ratio == 1.75  # median of [0.5, 1, 1.5, 2, 25, 1, 2, 3]
    assert check.ratio_of_medians == 1.25  # median(ours) 2.5 / median(peer) 2.0
    assert check.as_dict() == {
        "name": "ours",
        "peer": "peer",
        "max_ratio": 2.0,
        "ratio": 1.75,
        "low": 0.5,
        "high": 25.0,
        "confidence": 0.9875,
        "verdict": "inconclusive",
        "passed": False,
        "pairs": 8,
        "method": "paired",
        "ratio_of_medians": 1.25,
    }


def test_format_bars_prints_the_verdict_ratio_and_interval():
    ours, peer = paired_samples(0.5, 200, seed=1)
    fail_ours, fail_peer = paired_samples(2.0, 200, seed=2)
    checks = check_bars(
        [
            interleaved_entry("fast", "peer", 1.0, ours, peer),
            interleaved_entry("slow", "peer", 1.0, fail_ours, fail_peer),
        ]
    )
    lines = format_bars(checks).splitlines()
    fast, slow = checks
    assert lines[0] == (
        f"pass fast: {fast.ratio:.3f}x [{fast.low:.3f}, {fast.high:.3f}] of peer"
        " (bar <= 1x, 200 pairs at 98.75%)"
    )
    assert lines[1].startswith(f"FAIL slow: {slow.ratio:.3f}x [")


def test_the_paired_samples_win_over_the_peers_standalone_median():
    ours, peer = paired_samples(0.5, 100, seed=6)
    checks = check_bars(
        [
            interleaved_entry("ours", "peer", 1.0, ours, peer),
            entry("peer", 0.1e-3),  # the standalone run, hit by a burst: would read 5x
        ]
    )
    assert [c.verdict for c in checks] == ["pass"]


# -- old benchmarks.json without paired samples ---------------------------------------------


def test_old_files_fall_back_to_the_ratio_of_medians_without_an_interval():
    checks = check_bars(
        [
            entry("ours", 2.0, bars={"fast": 1.5, "slow": 0.25}),
            entry("fast", 1.0),
            entry("slow", 10.0),
            entry("single", 3.0, bar_peer="slow", bar_max_ratio=0.2),
        ]
    )
    got = {(c.name, c.peer): (c.ratio, c.verdict, c.passed, c.low) for c in checks}
    assert got == {
        ("ours", "fast"): (2.0, "fail", False, None),
        ("ours", "slow"): (0.2, "pass", True, None),
        ("single", "slow"): (0.3, "fail", False, None),
    }
    assert {c.method for c in checks} == {"medians"}
    text = format_bars(checks)
    assert "FAIL ours: 2.000x [no interval: medians only] of fast (bar <= 1.5x)" in text
    assert "pass ours: 0.200x [no interval: medians only] of slow (bar <= 0.25x)" in text


def test_a_missing_peer_fails_the_bar():
    (check,) = check_bars([entry("ours", 1.0, bars={"absent": 2.0})])
    assert check.ratio is None and not check.passed and check.verdict == "fail"
    assert "FAIL ours: peer missing of absent" in format_bars([check])


def test_a_peer_decided_early_pairs_with_the_prefix_of_ours():
    ours, peer = paired_samples(0.02, 400, seed=7)
    slow_ours, slow_peer = ours, peer[:20]  # the slow peer left the blocks after 20
    checks = check_bars(
        [
            entry(
                "ours",
                statistics.median(ours),
                bars={"slow": 0.05, "close": 0.05},
                interleaved={
                    "ours": slow_ours,
                    "peers": {"slow": slow_peer, "close": [o / 0.021 for o in ours]},
                    "confidence": 0.9875,
                },
            )
        ]
    )
    slow, close = checks
    assert (slow.pairs, slow.verdict) == (20, "pass")
    assert close.pairs == 400 and close.ratio == pytest.approx(0.021)
