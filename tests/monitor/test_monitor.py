"""PerformanceMonitor, track_performance and track: counting, errors, windows, merge, caches."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import random
import threading

import pytest
from support import FakeClock

from perf.errors import ConfigurationError
from perf.monitor import PerformanceMonitor, get_performance_monitor, track_performance
from perf.monitor.operation import OperationRecorder, parse_recorder_dict


def make_monitor(start: float = 1000.0, wall: float = 1_700_000_000.0):
    clock, wall_clock = FakeClock(start), FakeClock(wall)
    return PerformanceMonitor(clock=clock, wall_clock=wall_clock), clock, wall_clock


def test_sync_decorator_records_exact_durations_and_keeps_the_function_identity():
    monitor, clock, _ = make_monitor()

    @track_performance("work", monitor=monitor)
    def work(seconds: float) -> str:
        """Pretend to work."""
        clock.advance(seconds)
        return f"took {seconds}"

    results = [work(s) for s in (0.1, 0.2, 0.3, 0.4)]
    assert results[0] == "took 0.1"
    assert work.__name__ == "work" and work.__doc__ == "Pretend to work."
    stats = monitor.get_stats()["operations"]["work"]
    assert stats["count"] == 4 and stats["errors"] == 0
    assert stats["min_time"] == pytest.approx(0.1) and stats["max_time"] == pytest.approx(0.4)
    assert stats["total_time"] == pytest.approx(1.0)
    assert stats["avg_time"] == pytest.approx(0.25)
    # Same interpolation as numpy's default: the median of 0.1..0.4 is 0.25.
    assert stats["p50"] == pytest.approx(0.25, rel=0.01)
    assert stats["p999"] == pytest.approx(0.3997, rel=0.01)


def test_async_decorator_is_a_coroutine_function_and_records():
    monitor, clock, _ = make_monitor()

    @track_performance("fetch", monitor=monitor)
    async def fetch(item: int) -> int:
        await asyncio.sleep(0)
        clock.advance(0.05)
        return item * 2

    async def main():
        return await asyncio.gather(*(fetch(i) for i in range(10)))

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(main()) == [i * 2 for i in range(10)]
    stats = monitor.get_stats()["operations"]["fetch"]
    assert stats["count"] == 10 and stats["errors"] == 0
    assert stats["min_time"] > 0


def test_errors_are_counted_and_the_same_exception_propagates():
    monitor, clock, _ = make_monitor()
    raised = ValueError("bad row")

    @track_performance("parse", monitor=monitor)
    def parse(fail: bool) -> int:
        clock.advance(0.01)
        if fail:
            raise raised
        return 1

    @track_performance("aparse", monitor=monitor)
    async def aparse() -> None:
        raise raised

    parse(False)
    with pytest.raises(ValueError) as caught:
        parse(True)
    assert caught.value is raised
    with pytest.raises(ValueError) as caught_async:
        asyncio.run(aparse())
    assert caught_async.value is raised
    ops = monitor.get_stats()["operations"]
    assert (ops["parse"]["count"], ops["parse"]["errors"]) == (2, 1)
    assert (ops["aparse"]["count"], ops["aparse"]["errors"]) == (1, 1)
    assert ops["parse"]["recent"]["errors"] == 1


def test_track_as_with_and_async_with_including_errors():
    monitor, clock, _ = make_monitor()
    with monitor.track("block"):
        clock.advance(0.5)
    with pytest.raises(KeyError), monitor.track("block"):
        raise KeyError("missing")

    async def main():
        async with monitor.track("ablock"):
            clock.advance(0.25)
        try:
            async with monitor.track("ablock"):
                raise RuntimeError("boom")
        except RuntimeError as exc:
            return exc
        return None

    assert isinstance(asyncio.run(main()), RuntimeError)
    ops = monitor.get_stats()["operations"]
    assert (ops["block"]["count"], ops["block"]["errors"]) == (2, 1)
    assert ops["block"]["max_time"] == pytest.approx(0.5)
    assert (ops["ablock"]["count"], ops["ablock"]["errors"]) == (2, 1)
    assert ops["ablock"]["max_time"] == pytest.approx(0.25)


def test_recent_window_holds_only_the_last_minute():
    monitor, clock, _ = make_monitor(start=0.0)
    for _ in range(5):
        monitor.record("q", 2.0)
    clock.advance(120.0)
    for _ in range(3):
        monitor.record("q", 0.5, error=True)
    stats = monitor.get_stats()["operations"]["q"]
    assert stats["count"] == 8 and stats["errors"] == 3
    assert stats["max_time"] == 2.0
    recent = stats["recent"]
    assert (recent["count"], recent["errors"], recent["max_time"]) == (3, 3, 0.5)
    clock.advance(59.0)  # the slot of the last records is still inside the window
    assert monitor.get_stats()["operations"]["q"]["recent"]["count"] == 3
    clock.advance(1000.0)  # nothing recent any more; the whole run keeps everything
    stats = monitor.get_stats()["operations"]["q"]
    assert stats["recent"]["count"] == 0 and stats["recent"]["p99"] is None
    assert stats["count"] == 8


def test_merge_of_two_monitors_equals_one_that_saw_every_sample():
    worker_a, _, _ = make_monitor(start=50.0)
    worker_b, _, _ = make_monitor(start=9_000.0)  # another process, another clock origin
    single, _, _ = make_monitor(start=50.0)
    samples = [(i % 7 == 0, 0.001 * (1 + (i * 37) % 500)) for i in range(3000)]
    for i, (error, seconds) in enumerate(samples):
        worker = worker_a if i % 2 else worker_b
        worker.record("db.query", seconds, error=error)
        single.record("db.query", seconds, error=error)
    worker_a.register_cache("entity", lambda: {"hits": 8, "misses": 2})
    worker_b.register_cache("entity", lambda: {"hits": 1, "misses": 9})

    combined, _, _ = make_monitor(start=123.0)
    for worker in (worker_a, worker_b):
        combined.merge(json.loads(json.dumps(worker.snapshot())))
    got = combined.get_stats()
    want = single.get_stats()["operations"]["db.query"]
    merged = got["operations"]["db.query"]
    assert merged.pop("total_time") == pytest.approx(want.pop("total_time"))
    assert merged["recent"].pop("total_time") == pytest.approx(want["recent"].pop("total_time"))
    assert merged == want
    assert merged["count"] == 3000 and merged["recent"]["count"] == 3000
    assert got["cache_stats"]["entity"] == {"hits": 9, "misses": 11, "hit_rate": 9 / 20}


def test_merge_rejects_foreign_or_incompatible_snapshots():
    monitor, _, _ = make_monitor()
    with pytest.raises(ConfigurationError, match="snapshot"):
        monitor.merge({"operations": {}})
    other = PerformanceMonitor(relative_accuracy=0.01)
    with pytest.raises(ConfigurationError, match="configure both monitors alike"):
        monitor.merge(other.snapshot())


def test_cache_stats_registration():
    monitor, _, _ = make_monitor()

    class TinyCache:  # shaped like perf.cache: stats() returns a dict
        def __init__(self):
            self.hits, self.misses = 3, 1

        def stats(self):
            return {"hits": self.hits, "misses": self.misses, "size": 4}

    cache = TinyCache()
    monitor.register_cache("memory", cache.stats)
    monitor.register_cache("sqlite", lambda: {"hits": 0, "misses": 0})
    monitor.register_cache("given", lambda: {"hits": 1, "misses": 1, "hit_rate": 0.5})
    cache.hits = 7  # read live, at get_stats time
    stats = monitor.get_stats()["cache_stats"]
    assert stats["memory"] == {"hits": 7, "misses": 1, "hit_rate": 7 / 8, "size": 4}
    assert stats["sqlite"]["hit_rate"] == 0.0
    assert stats["given"]["hit_rate"] == 0.5
    monitor.unregister_cache("given")
    assert "given" not in monitor.get_stats()["cache_stats"]
    json.dumps(monitor.get_stats())


def test_bad_cache_registrations_are_configuration_errors():
    monitor, _, _ = make_monitor()
    with pytest.raises(ConfigurationError, match="callable"):
        monitor.register_cache("x", {"hits": 1, "misses": 2})
    with pytest.raises(ConfigurationError, match="non-empty"):
        monitor.register_cache("", dict)
    monitor.register_cache("broken", lambda: {"size": 3})
    with pytest.raises(ConfigurationError, match="'hits' and 'misses'"):
        monitor.get_stats()


@pytest.mark.parametrize("seconds", [-0.001, float("nan"), float("inf")])
def test_bad_durations_are_configuration_errors(seconds):
    monitor, _, _ = make_monitor()
    with pytest.raises(ConfigurationError, match="finite number of seconds"):
        monitor.record("op", seconds)
    assert monitor.get_stats()["operations"] == {}


def test_empty_names_are_configuration_errors():
    monitor, _, _ = make_monitor()
    with pytest.raises(ConfigurationError, match="non-empty string"):
        monitor.record("", 0.1)
    with pytest.raises(ConfigurationError, match="non-empty string"):
        monitor.track("  ")
    with pytest.raises(ConfigurationError, match="non-empty string"):
        track_performance("", monitor=monitor)


def test_reset_forgets_samples_but_decorators_keep_recording():
    monitor, _, _ = make_monitor()
    noop = track_performance("noop", monitor=monitor)(lambda: None)
    noop()
    monitor.register_cache("c", lambda: {"hits": 1, "misses": 0})
    monitor.reset()
    assert monitor.get_stats()["operations"] == {}
    assert monitor.get_stats()["cache_stats"]["c"]["hits"] == 1  # registrations stay
    noop()
    assert monitor.get_stats()["operations"]["noop"]["count"] == 1


def test_concurrent_threads_lose_no_samples():
    monitor = PerformanceMonitor()
    per_thread, threads = 5_000, 4

    def hammer():
        for _ in range(per_thread):
            monitor.record("shared", 0.001)

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stats = monitor.get_stats()["operations"]["shared"]
    assert stats["count"] == per_thread * threads
    assert stats["total_time"] == pytest.approx(0.001 * per_thread * threads)


def test_process_wide_monitor_is_shared_by_default():
    monitor = get_performance_monitor()
    assert get_performance_monitor() is monitor
    name = "test_monitor.process_wide"
    before = monitor.get_stats()["operations"].get(name, {}).get("count", 0)
    track_performance(name)(lambda: None)()
    assert monitor.get_stats()["operations"][name]["count"] == before + 1


def test_a_damaged_snapshot_is_refused_whole_and_changes_nothing():
    worker, _, _ = make_monitor()
    worker.record("good", 0.1)
    worker.record("bad", 0.2)
    worker.register_cache("c", lambda: {"hits": 1, "misses": 1})
    snapshot = json.loads(json.dumps(worker.snapshot()))
    snapshot["operations"]["bad"]["retired"]["errors"] = "many"
    combined, _, _ = make_monitor()
    with pytest.raises(ConfigurationError, match="damaged monitor snapshot"):
        combined.merge(snapshot)
    broken_cache = json.loads(json.dumps(worker.snapshot()))
    broken_cache["cache_stats"]["c"]["hits"] = "x"
    with pytest.raises(ConfigurationError, match="damaged monitor snapshot"):
        combined.merge(broken_cache)
    assert combined.get_stats() == {"operations": {}, "cache_stats": {}, "gauges": {}}
    assert combined.snapshot()["operations"] == {}  # no empty recorders left behind


def test_a_cache_provider_that_raises_degrades_to_an_error_entry():
    monitor, _, _ = make_monitor()
    monitor.record("op", 0.1)

    def closed():
        raise RuntimeError("database is closed")

    monitor.register_cache("sqlite", closed)
    monitor.register_cache("memory", lambda: {"hits": 3, "misses": 1})
    stats = monitor.get_stats()
    assert stats["operations"]["op"]["count"] == 1
    assert stats["cache_stats"]["memory"]["hit_rate"] == 0.75
    assert stats["cache_stats"]["sqlite"] == {
        "error": "RuntimeError: database is closed",
        "hits": 0,
        "misses": 0,
        "hit_rate": 0.0,
    }
    json.dumps(stats)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"recent_window": float("inf")}, "finite recent_window"),
        ({"slot_seconds": "10"}, "finite recent_window"),
        ({"recent_window": 5, "slot_seconds": 10}, "finite recent_window"),
        ({"relative_accuracy": "1%"}, "relative_accuracy"),
        ({"relative_accuracy": 0}, "relative_accuracy"),
    ],
)
def test_bad_monitor_settings_are_configuration_errors(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        PerformanceMonitor(**kwargs)


def test_names_and_durations_of_the_wrong_type_are_configuration_errors():
    monitor, _, _ = make_monitor()
    with pytest.raises(ConfigurationError, match="non-empty string"):
        monitor.record(["db", "query"], 0.1)
    with pytest.raises(ConfigurationError, match="finite number of seconds"):
        monitor.record("op", "0.1")
    with pytest.raises(ConfigurationError, match=r'@track_performance\("name"\)'):
        track_performance(lambda: None)  # used without the parentheses
    assert monitor.get_stats()["operations"] == {}


def test_reads_between_writes_agree_with_a_recorder_read_only_once():
    """The closed slots' sums are kept between reads: reads interleaved with writes, slot
    changes, a moving window and merged figures must give what a cold read gives."""
    rng = random.Random(3)
    warm = OperationRecorder("op", 0.01, slot_seconds=1.0, window_slots=3)
    now = 0.0
    events = []
    for _ in range(400):
        now += rng.expovariate(20.0)
        seconds = rng.lognormvariate(-5, 1)
        failed = rng.random() < 0.05
        events.append((seconds, now, failed))
        (warm.add_error if failed else warm.add)(seconds, now)
        if rng.random() < 0.2:
            read_at = now + rng.choice([0.0, 0.5, 2.5])  # later reads: the window moves on
            cold = OperationRecorder("op", 0.01, slot_seconds=1.0, window_slots=3)
            for s, t, f in events:
                (cold.add_error if f else cold.add)(s, t)
            got = [summary.stats() for summary in warm.summaries(read_at)]
            expected = [summary.stats() for summary in cold.summaries(read_at)]
            for mine, theirs in zip(got, expected, strict=True):
                assert mine.keys() == theirs.keys()
                for key, value in mine.items():  # the totals may differ in the last bit
                    same = value == theirs[key] or math.isclose(value, theirs[key], rel_tol=1e-12)
                    assert same, (key, value, theirs[key])
    other = OperationRecorder("op", 0.01, slot_seconds=1.0, window_slots=3)
    other.add(0.5, now - 1.5)  # into a closed slot of ``warm``
    warm.summaries(now)
    retired, incoming = parse_recorder_dict(other.to_dict(0.0), 0.0, 1.0)
    warm.merge_parsed(retired, incoming, now)
    whole, _ = warm.summaries(now)
    assert whole.sketch.count == len(events) + 1 and whole.sketch.max == 0.5
