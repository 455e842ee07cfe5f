"""The reference service: incremental vs full analysis, and cold vs warm start hit rates.

* ``bench_analysis``: one new day of events for 10 % of the entities, analysed incrementally
  (only events past the watermark) vs recomputed from every event. Bar: incremental <= 0.5x,
  the two measured interleaved (the ``pair`` fixture in conftest.py).
* ``bench_start``: start the app and serve the same skewed query mix, cold (fresh cache
  folder, no warm-up) vs warm (the previous run's on-disk caches and entity usage, warm-up on).
  The hit rates per cache go in ``extra_info``, with each key design's lookups and distinct
  keys (distinct / lookups is the share of lookups a cold cache must miss).
* ``bench_worker_publish``: what one service worker pays per sync with several workers: a
  monitor snapshot of 10 operations (2,000 samples each) written as its shared figures file,
  beside the snapshot alone (the rest is JSON and the write). The file size is in
  ``extra_info``. No bar: it is a cost to know, paid once per interval (0.5 s by default).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil

import httpx
import pytest

from perf.monitor import PerformanceMonitor
from perf.service.analysis import run_analysis
from perf.service.app import create_app
from perf.service.data import sample_queries
from perf.service.settings import ServiceSettings
from perf.service.store import append_events, ensure_dataset, open_engine, session_factory
from perf.service.stub import StubConfig, create_stub_app
from perf.service.workers import WorkerStatsShare

DAYS = 7


def _scale(benchmark):
    return 0.03 if benchmark.disabled else 0.5


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


class Analysis:
    """A home database of its own: ``setup()`` appends the next day's events (10 % of the
    entities), ``run()`` analyses them, incrementally or from every event."""

    def __init__(self, path, loop, scale, full):
        self.loop, self.full = loop, full
        settings = ServiceSettings(database_path=path, dataset_scale=scale, dataset_days=DAYS)
        self.engine = open_engine(settings)
        self.data, self.summary = loop.run_until_complete(
            ensure_dataset(self.engine, 42, scale, DAYS)
        )
        self.sessions = session_factory(self.engine)
        loop.run_until_complete(run_analysis(self.sessions))
        self.days = iter(range(DAYS, DAYS + 100_000))
        self.reports = []

    def setup(self):
        self.loop.run_until_complete(
            append_events(self.engine, self.data, day=next(self.days), entity_fraction=0.1)
        )

    def run(self):
        report = self.loop.run_until_complete(run_analysis(self.sessions, full=self.full))
        self.reports.append(report)
        return report

    def close(self):
        self.loop.run_until_complete(self.engine.dispose())


@pytest.mark.parametrize("mode", ["incremental", "full"])
def bench_analysis(benchmark, pair, tmp_path, loop, mode):
    """Incremental vs full, interleaved, each on its own copy of the home (the same seed); every
    round first appends a new day, so the full analysis reads a little more each round."""
    scale = _scale(benchmark)
    ours = Analysis(tmp_path / "home.sqlite", loop, scale, full=mode == "full")
    benchmark.group = "service-analysis"
    if mode == "incremental":
        peer_name = "bench_analysis[full]"
        peer = Analysis(tmp_path / "home-full.sqlite", loop, scale, full=True)
        pair(
            ours=ours.run,
            peers={peer_name: peer.run},
            bars={peer_name: 0.5},
            setup={"ours": ours.setup, peer_name: peer.setup},
        )
        peer.close()
    else:
        benchmark.pedantic(ours.run, setup=ours.setup, rounds=5, iterations=1)
    ours.close()
    last = ours.reports[-1]
    benchmark.extra_info.update(
        events_total=ours.summary.events,
        events_read=last.events_read,
        entities_touched=last.entities_touched,
        areas_recomputed=last.areas_recomputed,
    )


async def _serve_queries(settings, queries):
    stub = create_stub_app(StubConfig(latency_median_s=0.0, seed=1))
    app = create_app(settings, llm_transport=httpx.ASGITransport(app=stub))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        # a loopback host: the admin endpoints answer loopback only (no PERF_ADMIN_TOKEN)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            reset = await client.post("/admin/reset-stats")  # count the queries, not the warm-up
            reset.raise_for_status()
            mentioned = []
            for query in queries:
                response = await client.post("/query", json={"query": query})
                response.raise_for_status()
                mentioned.append(response.json()["entities"])
            stats = (await client.get("/performance/stats")).json()["cache_stats"]
            return stats, mentioned


def _key_counts(mentioned):
    """Lookups vs distinct keys per cache key design: the cold-miss floor of each."""
    entities = [e for ids in mentioned for e in ids]
    pairs = [p for ids in mentioned for p in itertools.combinations(sorted(ids), 2)]
    sets = [frozenset(ids) for ids in mentioned if ids]
    return {
        "entity_lookups": len(entities),  # entity_context and memory (enrichment) caches
        "entity_distinct": len(set(entities)),
        "entity_cold_miss_share": round(len(set(entities)) / max(1, len(entities)), 4),
        "pair_lookups": len(pairs),  # correlation cache
        "pair_distinct": len(set(pairs)),
        "pair_cold_miss_share": round(len(set(pairs)) / max(1, len(pairs)), 4),
        "entity_set_lookups": len(sets),  # the former enrichment key: the whole set
        "entity_set_distinct": len(set(sets)),
        "entity_set_cold_miss_share": round(len(set(sets)) / max(1, len(sets)), 4),
    }


@pytest.mark.parametrize("start", ["cold", "warm"])
def bench_start(benchmark, tmp_path, loop, start):
    scale = _scale(benchmark)
    count = 20 if benchmark.disabled else 200
    base = dict(
        database_path=tmp_path / "home.sqlite", dataset_scale=scale, dataset_days=DAYS,
        warm_up_entities=100,
    )  # fmt: skip
    primed = ServiceSettings(**base, cache_dir=tmp_path / "warm-cache")
    data, _ = loop.run_until_complete(_prime(primed, count))
    rounds = iter(range(1000))
    stats = []

    def run():
        n = next(rounds)
        if start == "cold":
            cache_dir = tmp_path / f"cold-cache-{n}"
            settings = ServiceSettings(**base, cache_dir=cache_dir, warm_up=False)
        else:
            settings = primed
        queries = sample_queries(data, count, seed=100 + n)
        stats.append(loop.run_until_complete(_serve_queries(settings, queries)))
        if start == "cold":
            shutil.rmtree(settings.cache_dir, ignore_errors=True)

    benchmark.group = "service-start"
    benchmark.pedantic(run, rounds=3, iterations=1)
    last, mentioned = stats[-1]
    benchmark.extra_info.update(
        {f"hit_rate_{name}": round(last[name]["hit_rate"], 4) for name in sorted(last)}
    )
    benchmark.extra_info.update(_key_counts(mentioned))
    benchmark.extra_info["queries"] = count


async def _prime(settings, count):
    """A first run: builds the home, runs the analysis, leaves usage and disk caches behind."""
    engine = open_engine(settings)
    data, _ = await ensure_dataset(engine, 42, settings.dataset_scale, DAYS)
    await _serve_queries(settings, sample_queries(data, count, seed=0))
    return data, None


@pytest.mark.parametrize("step", ["snapshot", "snapshot+publish"])
def bench_worker_publish(benchmark, tmp_path, step):
    rng = random.Random(7)
    monitor = PerformanceMonitor()
    for operation in range(10):
        for _ in range(2000):
            monitor.record(f"op{operation}", rng.lognormvariate(-3, 1))
    share = WorkerStatsShare(tmp_path, interval_seconds=0.5)

    def publish():
        share.publish({"pid": share.pid, "monitor": monitor.snapshot()})

    benchmark.group = "worker publish"
    benchmark(monitor.snapshot if step == "snapshot" else publish)
    if step != "snapshot":
        benchmark.extra_info["file_bytes"] = (tmp_path / f"worker-{share.pid}.json").stat().st_size
