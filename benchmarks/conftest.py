"""Shared benchmark plumbing: speed bars measured interleaved with their peers.

A benchmark with a bar measures ours and its peers in one measurement with the ``pair`` fixture::

    def bench_get(pair):
        pair(
            ours=lambda: lookup_all(ours.get),
            peers={"bench_get[diskcache.Cache]": lambda: lookup_all(peer.get)},
            bars={"bench_get[diskcache.Cache]": 1.0},
        )

Block i runs one round of ours and one round of every undecided peer, in an order shuffled per
block (seeded by the benchmark's name), each round timed alone with ``time.perf_counter``.
pytest-benchmark's own stats for the benchmark are ours; the raw samples of both sides, block by
block, go into ``extra_info["interleaved"]`` (``perf/results/bars.py`` computes the ratio, its
interval and the verdict from them).

More blocks while a bar is undecided (a sequential design with a bounded number of looks):

* the first look comes after ``--bar-look-seconds`` of blocks and at least ``MIN_PAIRS`` blocks;
* a peer whose bar is decided (the interval clears or misses it) leaves the blocks there: its
  samples are a prefix of ours (``peers[name][i]`` pairs with ``ours[i]``);
* each later look comes when the blocks have doubled, or at the deadline,
  ``--bar-extra-seconds`` after the first look; at most ``--bar-max-looks`` looks; then stop,
  and a bar still straddling is ``inconclusive``.

Every look uses confidence ``1 - (1 - BAR_CONFIDENCE) / max_looks``: looking up to ``max_looks``
times and stopping at the first decided look still errs with probability at most 5 % per bar
(Bonferroni), where repeated looks at a plain 95 % interval would err more often.

The peer's own standalone benchmark (``bench_get[diskcache.Cache]``) still runs, for the tables
of medians beside the other contenders; no bar reads it. Async contenders reuse one event loop:
``ours=lambda: loop.run_until_complete(call_all())``.

Under ``--benchmark-disable`` (``make unit``) ours and every peer run once, untimed.
"""

from __future__ import annotations

import random
import time
import zlib

import pytest

from perf.results.bars import bar_verdict, check_bars, format_bars, paired_ratio

BAR_CONFIDENCE = 0.95  # per bar, across all its looks
MIN_PAIRS = 10  # before the first look; an order-statistic interval at 98.75 % needs 8
MAX_PAIRS = 20_000  # bounds the JSON (~20 bytes a sample)
WARMUP_SECONDS = 0.2  # blocks discarded first (at least one)


def pytest_addoption(parser):
    group = parser.getgroup("speed bars")
    group.addoption(
        "--bar-look-seconds",
        type=float,
        default=1.0,
        help="seconds of interleaved blocks before a bar's first look (default 1)",
    )
    group.addoption(
        "--bar-extra-seconds",
        type=float,
        default=8.0,
        help="more blocks for an undecided bar for at most this long after the first look"
        " (default 8)",
    )
    group.addoption(
        "--bar-max-looks",
        type=int,
        default=4,
        help="looks at a bar's interval, each after its blocks double (default 4)",
    )


class Interleaved:
    """``pair(ours, peers, bars, setup)``: measure ours and its peers interleaved (see module)."""

    def __init__(self, benchmark, config):
        self.benchmark = benchmark
        self.look_seconds = config.getoption("--bar-look-seconds")
        self.extra_seconds = config.getoption("--bar-extra-seconds")
        self.max_looks = max(1, config.getoption("--bar-max-looks"))
        self.confidence = 1 - (1 - BAR_CONFIDENCE) / self.max_looks

    def __call__(self, ours, peers, bars, setup=None):
        """Time ``ours()`` against every ``peers[name]()``; ``bars``: ``{peer name: max ratio}``.

        ``setup`` maps ``"ours"`` or a peer's name to a callable run, untimed, before each of
        that side's rounds. Returns what ``ours()`` returned last.
        """
        unknown = set(bars) - set(peers)
        if unknown:
            raise ValueError(f"bars for peers that are not measured: {sorted(unknown)}")
        sides = {"ours": ours, **peers}
        setup = setup or {}
        benchmark = self.benchmark
        if benchmark._mode:
            raise RuntimeError(f"the benchmark fixture was already used as {benchmark._mode}")
        benchmark._mode = "pair(...)"  # as benchmark() and pedantic() mark the fixture used
        benchmark.extra_info.setdefault("bars", {}).update(bars)
        if benchmark.disabled:
            return {name: self._round(name, sides, setup)[1] for name in sides}["ours"]

        rng = random.Random(zlib.crc32(benchmark.name.encode()))
        samples = {name: [] for name in sides}
        active = list(peers)  # peers still in the blocks
        last = {}

        def block():
            order = ["ours", *active]
            rng.shuffle(order)
            for name in order:
                seconds, result = self._round(name, sides, setup)
                samples[name].append(seconds)
                if name == "ours":
                    last["ours"] = result

        clock = time.perf_counter
        started = clock()
        warmup = 0
        while warmup == 0 or clock() - started < WARMUP_SECONDS:
            block()
            warmup += 1
        for values in samples.values():
            values.clear()

        started = clock()
        looks, next_look, deadline = 0, 0, None
        stopped = {}
        while active:
            block()
            n, now = len(samples["ours"]), clock()
            if deadline is None:  # the first look
                due = n >= MIN_PAIRS and now - started >= self.look_seconds
            else:
                due = n >= next_look or now >= deadline
            if not due and n < MAX_PAIRS:
                continue
            looks += 1
            if deadline is None:
                deadline = now + self.extra_seconds
            for peer in list(active):
                if peer not in bars or self._decided(samples, peer, bars[peer]):
                    active.remove(peer)
                    stopped[peer] = {"reason": "decided", "look": looks, "pairs": n}
            if active and (looks >= self.max_looks or now >= deadline or n >= MAX_PAIRS):
                for peer in active:
                    stopped[peer] = {"reason": "budget", "look": looks, "pairs": n}
                break
            next_look = 2 * n

        stats = benchmark._make_stats(1)  # pytest-benchmark's own stats object: ours' rounds
        for seconds in samples["ours"]:
            stats.update(seconds)
        benchmark.extra_info["interleaved"] = {
            "ours": samples["ours"],
            "peers": {name: samples[name] for name in peers},
            "confidence": self.confidence,
            "overall_confidence": BAR_CONFIDENCE,
            "looks": looks,
            "max_looks": self.max_looks,
            "stopped": stopped,
            "seconds": round(clock() - started, 3),
            "warmup_blocks": warmup,
            "order": "shuffled per block, random.Random(zlib.crc32(name))",
            "timer": "time.perf_counter",
        }
        return last["ours"]

    @staticmethod
    def _round(name, sides, setup):
        if name in setup:
            setup[name]()
        clock = time.perf_counter
        started = clock()
        result = sides[name]()
        return clock() - started, result

    def _decided(self, samples, peer, bar):
        theirs = samples[peer]
        _, interval = paired_ratio(samples["ours"][: len(theirs)], theirs, self.confidence)
        return bar_verdict(interval, bar) != "inconclusive"


@pytest.fixture
def pair(benchmark, request):
    """Measure ours and its peers interleaved, with bars (see the module docstring)."""
    return Interleaved(benchmark, request.config)


def _entries(config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return []
    return [b.as_dict(include_data=False) for b in session.benchmarks if b.stats]


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Store each bar's ratio, interval and verdict (``bar_results``) beside its benchmark."""
    by_name = {b["name"]: b for b in output_json["benchmarks"]}
    for check in check_bars(output_json["benchmarks"]):
        results = by_name[check.name]["extra_info"].setdefault("bar_results", [])
        results.append(check.as_dict())


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    checks = check_bars(_entries(config))
    if checks:
        terminalreporter.section("speed bars (median of interleaved per-pair ratios, interval)")
        terminalreporter.write_line(format_bars(checks))
