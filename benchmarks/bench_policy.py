"""Eviction policies and key traces in the memory tier, side by side in one run.

- the hit path per policy (LRU, SIEVE, S3-FIFO, W-TinyLFU): ``MemoryCache.get`` on 1,000
  present keys per call, as in ``bench_cache.py``;
- the hit path with a key trace off and on (SHARDS rates 0.01, 0.1, 1.0);
- the write path with evictions (a cache of 700 entries fed 1,000 keys round-robin);
- LRU and SIEVE, and trace off and on, *interleaved* in one benchmark: rounds alternate
  between the contenders (order flipped each round), so a load spike on this shared machine
  hits both alike; medians per key and their ratios go in ``extra_info``;
- hit rates on Zipf traces: LRU with 1,000 entries against SIEVE with 700 (issue 16's bar).

Speed bars (benchmarks/conftest.py) are ratios of medians.
"""

from __future__ import annotations

import random
import statistics
import time

import pytest

from perf.cache import LRUPolicy, MemoryCache, SievePolicy
from perf.cache.mrc import POLICIES
from perf.cache.trace import zipf_trace

N = 1_000
KEYS = [f"entity:{i}" for i in range(N)]
VALUE = {"state": "on", "brightness": 180}
RATES = {"off": None, "rate=0.01": 0.01, "rate=0.1": 0.1, "rate=1.0": 1.0}


def bar(benchmark, peer, max_ratio):
    benchmark.extra_info.setdefault("bars", {})[peer] = max_ratio


def lookup_all(get):
    for key in KEYS:
        get(key)


def filled(policy=LRUPolicy, rate=None) -> MemoryCache:
    cache = MemoryCache(10 * N, policy=policy)
    for key in KEYS:
        cache.set(key, VALUE)
    if rate is not None:
        cache.start_trace(rate)
    return cache


@pytest.mark.benchmark(group="memory get-hit by policy (1,000 keys)")
@pytest.mark.parametrize("policy", sorted(POLICIES))
def bench_policy_get_hit(benchmark, policy):
    cache = filled(POLICIES[policy])
    if policy == "sieve":  # no slower than LRU; 10 % for this machine's noise between
        bar(benchmark, "bench_policy_get_hit[lru]", 1.1)  # runs (interleaved: see below)
    benchmark(lookup_all, cache.get)


@pytest.mark.benchmark(group="memory get-hit with a key trace (1,000 keys)")
@pytest.mark.parametrize("trace", list(RATES))
def bench_trace_get_hit(benchmark, trace):
    cache = filled(rate=RATES[trace])
    # no bar: the expected cost (~1 %) is under this machine's noise between benchmarks;
    # bench_interleaved_hit_path measures it
    benchmark(lookup_all, cache.get)
    if cache.trace is not None:
        benchmark.extra_info["sampled_keys"] = len({cache.trace.key_id(k) for k in KEYS} - {None})


@pytest.mark.benchmark(group="memory set with evictions (1,000 keys, 700 entries)")
@pytest.mark.parametrize("policy", ["lru", "sieve"])
def bench_policy_set_evicting(benchmark, policy):
    cache = MemoryCache(700, policy=POLICIES[policy])

    def write_all():
        for key in KEYS:
            cache.set(key, VALUE)

    benchmark(write_all)


def _interleaved(contenders: dict[str, MemoryCache], rounds: int) -> dict[str, list[float]]:
    """ns per lookup of each contender in every round; each round runs them all, in a fresh
    random order, so drifts and load spikes of this shared machine hit them alike."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            get = contenders[name].get
            start = time.perf_counter_ns()
            lookup_all(get)
            times[name].append((time.perf_counter_ns() - start) / N)
    return times


@pytest.mark.benchmark(group="interleaved: policy and trace cost on the hit path")
def bench_interleaved_hit_path(benchmark):
    """LRU (trace off), SIEVE, and LRU with a trace at rates 0.01 and 1.0. The ratios of
    medians (and of minimums, the least disturbed rounds) are the figures to read; the
    rate-1.0 cost per lookup, times the rate, is what a sampled hit costs on average."""
    contenders = {
        "lru": filled(LRUPolicy),
        "sieve": filled(SievePolicy),
        "trace_0.01": filled(rate=0.01),
        "trace_1.0": filled(rate=1.0),
    }
    rounds = 600
    times = benchmark.pedantic(_interleaved, (contenders, rounds), rounds=1, iterations=1)
    median = {name: statistics.median(t) for name, t in times.items()}
    least = {name: min(t) for name, t in times.items()}
    benchmark.extra_info.update(
        {f"{name}_median_ns": round(value, 1) for name, value in median.items()}
        | {f"{name}_min_ns": round(value, 1) for name, value in least.items()},
        sieve_over_lru=median["sieve"] / median["lru"],
        sieve_over_lru_min=least["sieve"] / least["lru"],
        trace_0_01_over_off=median["trace_0.01"] / median["lru"],
        trace_0_01_over_off_min=least["trace_0.01"] / least["lru"],
        trace_1_0_over_off=median["trace_1.0"] / median["lru"],
        trace_1_0_over_off_min=least["trace_1.0"] / least["lru"],
        rounds=rounds,
    )


TRACES = {alpha: zipf_trace(20_000, alpha, 100_000, seed=11) for alpha in (0.8, 1.0)}


@pytest.mark.benchmark(group="hit rate on Zipf (20,000 keys, 100,000 lookups)")
@pytest.mark.parametrize("alpha", [0.8, 1.0])
@pytest.mark.parametrize(("policy", "entries"), [("lru", 1_000), ("sieve", 700), ("sieve", 1_000)])
def bench_policy_hit_rate(benchmark, policy, entries, alpha):
    keys = TRACES[alpha]

    def run():
        cache = MemoryCache(entries, policy=POLICIES[policy])
        get, put = cache.get, cache.set
        for key in keys:
            if get(key) is None:
                put(key, key)
        return cache.stats()["hit_rate"]

    hit_rate = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(
        hit_rate=float(hit_rate),
        cold_miss_share=len(set(keys)) / len(keys),
        workload=f"zipf s={alpha} over 20,000 keys, 100,000 lookups, seed 11, {entries} entries",
    )
