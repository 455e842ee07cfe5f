"""The reference workload's cache traces, and what policy and size each cache would want.

    .venv/bin/python scripts/cache_trace_study.py --queries 2000 --out /tmp/trace-study

Starts the service in-process (its app and lifespan, as the tests do, with the LLM stub at no
latency), traces every cache's lookups at ``--rate`` (``perf.cache.trace``, through the
library's ``start_trace``: the service itself is not changed), sends ``--queries`` queries of
the reference workload (``perf.loadgen.workload``, ``--users`` simulated users) through
``POST /query``, and writes a run folder with ``cache_traces.json`` beside a manifest, so
``perf report`` shows its ``cache_sizing`` notebook. Prints, per cache: lookups, the share of
first-time lookups, the hit rate measured, and LRU against SIEVE over a range of sizes, with
the smallest SIEVE size reaching LRU's hit rate at each size where LRU evicts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import httpx

from perf.cache import miss_ratio_curve
from perf.cache.trace import start_trace, stop_trace, write_traces
from perf.loadgen.workload import QueryGenerator, WorkloadParams, catalog_from_dataset
from perf.results.files import CACHE_TRACES
from perf.results.runs import create_run
from perf.service.app import create_app
from perf.service.runtime import CACHE_TYPES
from perf.service.settings import ServiceSettings
from perf.service.stub import StubConfig, create_stub_app

ROOT = Path(__file__).resolve().parent.parent


async def drive(queries: int, users: int, rate: float, scale: float, home: Path) -> dict:
    settings = ServiceSettings(
        database_path=home / "home.sqlite",
        cache_dir=home / "cache",
        dataset_scale=scale,
        dataset_days=3,
    )
    stub = create_stub_app(StubConfig(latency_median_s=0.0, seed=7))
    app = create_app(settings, llm_transport=httpx.ASGITransport(app=stub))
    params = WorkloadParams(dataset_scale=scale)
    catalog = catalog_from_dataset(params)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service", timeout=60
        ) as client,
    ):
        caches = {name: app.state.runtime.caches.cache(name) for name in CACHE_TYPES}
        for cache in caches.values():
            start_trace(cache, rate)

        async def user(index: int, count: int) -> None:
            generator = QueryGenerator(params, catalog, index)
            for _ in range(count):
                text, conversation = generator.next_query()
                response = await client.post(
                    "/query", json={"query": text, "conversation_id": conversation}
                )
                response.raise_for_status()

        await asyncio.gather(*(user(i, queries // users) for i in range(users)))
        traces = {name: stop_trace(cache) for name, cache in caches.items()}
        stats = {name: cache.stats() for name, cache in caches.items()}
    return {"traces": traces, "stats": stats, "settings": settings}


def report(traces: dict, stats: dict) -> None:
    for name, trace in sorted(traces.items()):
        if trace is None or not trace.keys:
            print(f"{name}: no lookups")
            continue
        keys = trace.keys
        distinct = len(set(keys))
        sizes = sorted({max(1, round(distinct * f)) for f in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7)})
        kw = {"sample_rate": trace.rate, "lookups": trace.lookups, "optimal": False}
        lru = miss_ratio_curve(keys, sizes, "lru", **kw)
        sieve_sizes = sorted({max(1, round(s * f / 20)) for s in sizes for f in range(1, 21)})
        sieve = miss_ratio_curve(keys, sieve_sizes, "sieve", **kw)
        measured = stats[name].get("hit_rate")
        print(
            f"{name}: {trace.lookups} lookups, {distinct} keys, "
            f"first-time {lru.cold_miss_ratio:.1%}, "
            f"hit rate measured {float(measured or 0):.1%} at {trace.max_entries} entries"
        )
        for size, hit in zip(lru.sizes, lru.hit_rates, strict=True):
            match = sieve.smallest_size(hit)
            ratio = f"{match / size:.2f}x" if match else "-"
            print(f"  {size:>6} entries: LRU {hit:.1%}; SIEVE reaches it with {match} ({ratio})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        result = asyncio.run(drive(args.queries, args.users, args.rate, args.scale, Path(home)))
    run = create_run(args.out, repo=ROOT)
    write_traces(run.path / CACHE_TRACES, result["traces"])
    report(result["traces"], result["stats"])
    print(run.path)


if __name__ == "__main__":
    main()
