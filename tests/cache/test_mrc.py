"""miss_ratio_curve: exact against brute force, within 2 points of libCacheSim, SHARDS-sampled
curves close to the full ones, and the bounds (cold misses, Belády) below every policy."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perf import miss_ratio_curve
from perf.cache.mrc import POLICIES, lru_stack_distances, optimal_misses
from perf.cache.trace import KeyTrace, zipf_trace
from perf.errors import ConfigurationError

SIZES = [20, 100, 300, 700, 1_000, 2_000]


def brute_lru_misses(keys, size) -> int:
    order: OrderedDict = OrderedDict()
    misses = 0
    for key in keys:
        if key in order:
            order.move_to_end(key)
            continue
        misses += 1
        if len(order) >= size:
            order.popitem(last=False)
        order[key] = None
    return misses


def brute_optimal_misses(keys, size) -> int:
    """Every choice tried (keep or bypass the new key, evict any resident): the true minimum."""

    @cache
    def best(t: int, resident: frozenset) -> int:
        if t == len(keys):
            return 0
        key = keys[t]
        if key in resident:
            return best(t + 1, resident)
        if len(resident) < size:
            return 1 + best(t + 1, resident | {key})
        options = [best(t + 1, resident)]  # bypass
        options += [best(t + 1, (resident - {out}) | {key}) for out in resident]
        return 1 + min(options)

    return best(0, frozenset())


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 15), max_size=200), st.integers(1, 12))
def test_lru_curve_is_exact(keys, size):
    curve = miss_ratio_curve(keys, [size], optimal=False)
    assert curve.miss_ratios[0] * max(len(keys), 1) == pytest.approx(brute_lru_misses(keys, size))


def test_stack_distances_by_hand():
    assert lru_stack_distances("abcab a".replace(" ", "")) == [-1, -1, -1, 2, 2, 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=14), st.integers(1, 3))
def test_belady_is_the_true_optimum(keys, size):
    assert optimal_misses(keys, size) == brute_optimal_misses(tuple(keys), size)


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_bounds_hold_at_every_size(policy):
    keys = zipf_trace(3_000, 0.9, 20_000, seed=2)
    curve = miss_ratio_curve(keys, SIZES, policy)
    assert curve.optimal is not None
    for miss, best in zip(curve.miss_ratios, curve.optimal, strict=True):
        assert curve.cold_miss_ratio <= best <= miss
    assert curve.cold_miss_ratio == pytest.approx(len(set(keys)) / len(keys))
    assert curve.hit_rates == tuple(1 - m for m in curve.miss_ratios)


# -- against libCacheSim ---------------------------------------------------------------------

LCS = {"lru": "LRU", "sieve": "Sieve", "s3fifo": "S3FIFO", "wtinylfu": "WTinyLFU"}


@pytest.fixture
def lcs():
    """libCacheSim (the dev extra): the reference simulator (Yang et al.), C with bindings."""
    return pytest.importorskip("libcachesim")


def libcachesim_miss_ratios(lcs, keys, sizes, policy, folder: Path) -> list[float]:
    path = folder / "trace.txt"
    path.write_text("".join(f"{k}\n" for k in keys), encoding="utf-8")
    out = []
    for size in sizes:
        reader = lcs.TraceReader(str(path), lcs.TraceType.PLAIN_TXT_TRACE)
        out.append(getattr(lcs, LCS[policy])(size).process_trace(reader)[0])
    return out


@pytest.mark.parametrize(("policy", "alpha"), list(itertools.product(sorted(LCS), [0.8, 1.0])))
def test_within_two_points_of_libcachesim(lcs, policy, alpha, tmp_path):
    keys = zipf_trace(20_000, alpha, 60_000, seed=21)
    # libCacheSim's W-TinyLFU window is 1 % rounded down: below 100 entries it has none and
    # misses everything, so its curve starts at 100
    sizes = [s for s in SIZES if policy != "wtinylfu" or s >= 100]
    ours = miss_ratio_curve(keys, sizes, policy, optimal=False).miss_ratios
    theirs = libcachesim_miss_ratios(lcs, keys, sizes, policy, tmp_path)
    gaps = [abs(a - b) for a, b in zip(ours, theirs, strict=True)]
    assert max(gaps) <= 0.02, list(zip(sizes, ours, theirs, strict=True))
    if policy == "lru":
        assert max(gaps) < 1e-9  # stack distances are exact


def test_belady_within_two_points_of_libcachesim(lcs):
    keys = zipf_trace(5_000, 1.0, 20_000, seed=5)
    upcoming, seen = [0] * len(keys), {}
    for t in range(len(keys) - 1, -1, -1):
        upcoming[t] = seen.get(keys[t], 2**62)
        seen[keys[t]] = t
    for size in (50, 500, 1_500):
        belady = lcs.Belady(size)
        misses = sum(
            not belady.get(lcs.Request(obj_size=1, obj_id=k, next_access_vtime=upcoming[t]))
            for t, k in enumerate(keys)
        )
        ours = optimal_misses(keys, size)
        assert ours <= misses  # ours may bypass, so it is the lower of the two
        assert (misses - ours) / len(keys) <= 0.02


# -- SHARDS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "seed"), [("lru", 0), ("lru", 1), ("lru", 2), ("sieve", 3)])
def test_a_sampled_trace_gives_the_curve_of_the_whole_stream(policy, seed):
    """A tenth of 100,000 keys (Zipf 0.8): within 3 points of the whole stream's curve. The
    error depends on which popular keys fall in the sample (README, "Access traces")."""
    keys = zipf_trace(100_000, 0.8, 150_000, seed=seed)
    sampler = KeyTrace(rate=0.1)
    sample = [k for k in keys if sampler.key_id(k) is not None]
    assert 0.09 < len(set(sample)) / len(set(keys)) < 0.11  # a tenth of the keys
    sizes = [500, 2_000, 5_000]
    full = miss_ratio_curve(keys, sizes, policy, optimal=False)
    estimate = miss_ratio_curve(
        sample, sizes, policy, sample_rate=0.1, lookups=len(keys), optimal=False
    )
    for a, b in zip(full.miss_ratios, estimate.miss_ratios, strict=True):
        assert abs(a - b) <= 0.03, (full.miss_ratios, estimate.miss_ratios)
    assert abs(full.cold_miss_ratio - estimate.cold_miss_ratio) <= 0.03


# -- the API ---------------------------------------------------------------------------------


def test_smallest_size_and_the_ceiling():
    keys = [1, 2, 3, 1, 2, 3, 1, 2, 3, 4]
    curve = miss_ratio_curve(keys, [1, 2, 3, 4], "lru")
    assert curve.miss_ratios == (1.0, 1.0, 0.4, 0.4)
    assert curve.smallest_size(0.6) == 3
    assert curve.smallest_size(0.61) is None
    assert curve.max_hit_rate == pytest.approx(0.6)


def test_a_policy_factory_works_as_a_name():
    keys = zipf_trace(500, 1.0, 3_000, seed=1)
    by_name = miss_ratio_curve(keys, [50], "sieve", optimal=False)
    by_factory = miss_ratio_curve(keys, [50], POLICIES["sieve"], optimal=False)
    assert by_factory.policy == "SievePolicy"
    assert by_name.miss_ratios == by_factory.miss_ratios


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sizes": []}, "sizes must be positive"),
        ({"sizes": [0, 5]}, "sizes must be positive"),
        ({"policy": "arc"}, "unknown policy 'arc'; known: lru, s3fifo, sieve, wtinylfu"),
        ({"sample_rate": 0.0}, "sample_rate must be in"),
    ],
)
def test_bad_input_says_what_is_wrong(kwargs, message):
    arguments = {"sizes": [1], **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        miss_ratio_curve([1, 2], **arguments)
