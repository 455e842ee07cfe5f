"""Recording cost of perf.monitor against the usual latency recorders, side by side.

Every contender times a no-op with a ``perf_counter`` pair and records the duration:
``@track_performance`` (the whole decorator), prometheus_client ``Histogram.observe``,
hdrhistogram ``record_value`` and ddsketch ``DDSketch.add``; a bare no-op call is the floor.
Bar: our whole decorator costs at most 0.5x of (perf_counter pair + hdrhistogram.record_value),
the two measured interleaved (the ``pair`` fixture in conftest.py).
"""

from __future__ import annotations

import asyncio
import math
import random
import time

import pytest
from ddsketch import DDSketch
from hdrh.histogram import HdrHistogram
from prometheus_client import CollectorRegistry, Histogram

from perf.monitor import PerformanceMonitor, track_performance
from perf.monitor.operation import FLUSH_AT
from perf.monitor.sketch import DEFAULT_RELATIVE_ACCURACY, QuantileSketch

SYNC_GROUP = "monitor-record-sync"
ASYNC_GROUP = "monitor-record-async"
HDR_NAME = "bench_record_sync[hdrhistogram.record_value]"
ASYNC_HDR_NAME = "bench_record_async[hdrhistogram.record_value]"


def _noop() -> None:
    return None


async def _async_noop() -> None:
    return None


def _timed(record):
    """The no-op wrapped by a perf_counter pair feeding ``record(seconds)``."""
    clock = time.perf_counter

    def call() -> None:
        start = clock()
        _noop()
        record(clock() - start)

    return call


def _async_timed(record):
    clock = time.perf_counter

    async def call() -> None:
        start = clock()
        await _async_noop()
        record(clock() - start)

    return call


def _hdr_record():
    histogram = HdrHistogram(1, 3_600_000_000_000, 2)  # 1 ns .. 1 h, 2 significant digits
    return lambda seconds: histogram.record_value(int(seconds * 1e9))


def _prometheus_record():
    histogram = Histogram("bench_seconds", "bench", registry=CollectorRegistry())
    return histogram.observe


def _ddsketch_record():
    return DDSketch(relative_accuracy=0.01).add


PEERS = {
    "prometheus_client.Histogram.observe": _prometheus_record,
    "hdrhistogram.record_value": _hdr_record,
    "ddsketch.DDSketch.add": _ddsketch_record,
}


def _sync_contenders():
    monitor = PerformanceMonitor()
    contenders = {
        "noop": _noop,
        "perf.track_performance": track_performance("noop", monitor=monitor)(_noop),
    }
    contenders.update((name, _timed(make())) for name, make in PEERS.items())
    return contenders, monitor


# Calls per round: one fold of our pending buffer (every FLUSH_AT records) falls in every round,
# so each round's median pays its share of folding; it also keeps the timer's cost negligible.
SYNC_BATCH = FLUSH_AT
HDR_PEER = "hdrhistogram.record_value"


def batch_of(call):
    calls = range(SYNC_BATCH)

    def batch() -> None:
        for _ in calls:
            call()

    return batch


@pytest.mark.parametrize(
    "contender",
    ["noop", "perf.track_performance", *PEERS],
)
def bench_record_sync(benchmark, pair, contender):
    contenders, monitor = _sync_contenders()
    call = contenders[contender]
    benchmark.group = SYNC_GROUP
    benchmark.extra_info["calls_per_round"] = SYNC_BATCH
    if contender == "perf.track_performance":
        peer = batch_of(contenders[HDR_PEER])
        pair(ours=batch_of(call), peers={HDR_NAME: peer}, bars={HDR_NAME: 0.5})
    else:
        benchmark(batch_of(call))
    stats = monitor.get_stats()["operations"]
    if contender == "perf.track_performance":
        assert stats["noop"]["count"] >= 1
        benchmark.extra_info["recorded_calls"] = stats["noop"]["count"]


def _async_contenders():
    monitor = PerformanceMonitor()

    @track_performance("async-noop", monitor=monitor)
    async def decorated() -> None:
        return None

    async def with_track() -> None:
        async with monitor.track("async-with"):
            await _async_noop()

    contenders = {
        "noop": _async_noop,
        "perf.track_performance": decorated,
        "perf.monitor.track (async with)": with_track,
    }
    contenders.update((name, _async_timed(make())) for name, make in PEERS.items())
    return contenders


ASYNC_BATCH = FLUSH_AT  # as SYNC_BATCH; also one run_until_complete per round, not per call


@pytest.mark.parametrize(
    "contender",
    ["noop", "perf.track_performance", "perf.monitor.track (async with)", *PEERS],
)
def bench_record_async(benchmark, contender):
    call = _async_contenders()[contender]

    async def batch() -> None:
        for _ in range(ASYNC_BATCH):
            await call()

    loop = asyncio.new_event_loop()
    try:
        benchmark.group = ASYNC_GROUP
        benchmark.extra_info["calls_per_round"] = ASYNC_BATCH
        if contender.startswith("perf."):  # no bar in the issue: names the peer to read against
            benchmark.extra_info["ratio_peer"] = ASYNC_HDR_NAME  # nothing checks or computes it
        benchmark(lambda: loop.run_until_complete(batch()))
    finally:
        loop.close()


# -- reading percentiles: what /performance/stats does for every operation --------------------

QUANTILES = (0.5, 0.95, 0.99)
READ_GROUP = "monitor-read-percentiles"


def _latencies(count: int = 10_000) -> list[float]:
    """Log-normal seconds (median 20 ms, a long tail), as a service's latencies look."""
    rng = random.Random(7)
    return [rng.lognormvariate(math.log(0.02), 0.8) for _ in range(count)]


def _readers():
    values = _latencies()
    ours = QuantileSketch()
    ours.add_many(values)
    dd = DDSketch(relative_accuracy=DEFAULT_RELATIVE_ACCURACY)
    hdr = HdrHistogram(1, 60_000_000, 2)  # microseconds, 2 significant digits
    for value in values:
        dd.add(value)
        hdr.record_value(int(value * 1e6))
    return {
        "perf.QuantileSketch.quantiles": lambda: ours.quantiles(QUANTILES),
        "ddsketch.get_quantile_value": lambda: [dd.get_quantile_value(q) for q in QUANTILES],
        "hdrhistogram.get_value_at_percentile": lambda: [
            hdr.get_value_at_percentile(q * 100) for q in QUANTILES
        ],
    }


@pytest.mark.parametrize(
    "contender",
    ["perf.QuantileSketch.quantiles", "ddsketch.get_quantile_value",
     "hdrhistogram.get_value_at_percentile"],
)  # fmt: skip
def bench_read_percentiles(benchmark, contender):
    """P50, P95 and P99 of 10,000 recorded latencies (no bar: the read happens once per
    ``/performance/stats`` and operation, the recording once per call)."""
    read = _readers()[contender]
    benchmark.group = READ_GROUP
    result = benchmark(read)
    assert len(result) == len(QUANTILES) and all(v > 0 for v in result)


def _busy_monitor() -> PerformanceMonitor:
    """Twenty operations recorded at 20 calls/s each for two minutes (a fake clock): what
    ``/performance/stats`` reads in a load run."""
    now = [0.0]
    monitor = PerformanceMonitor(clock=lambda: now[0])
    rng = random.Random(20)
    recorders = [monitor.operation(f"op{i}") for i in range(20)]
    for step in range(120 * 20):
        now[0] = step / 20
        for recorder in recorders:
            recorder.add(rng.lognormvariate(-5, 1), now[0])
    return monitor


def bench_get_stats(benchmark):
    """``PerformanceMonitor.get_stats()`` (the heart of ``/performance/stats``) with twenty
    busy operations. No peer: it is a stall of the service's event loop, measured to keep it
    short (README, "Verdicts")."""
    monitor = _busy_monitor()
    stats = benchmark(monitor.get_stats)
    assert len(stats["operations"]) == 20
