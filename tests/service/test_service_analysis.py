"""The synthetic home, the incremental analysis, the scheduler and the warm-up."""

from __future__ import annotations

import asyncio
import random
import statistics

from sqlalchemy import select
from support import DAYS, SCALE, primary_names, running_app, small_settings

from perf.cache import CorrelationCache
from perf.service.analysis import AnalysisReport, run_analysis
from perf.service.correlate import pearson
from perf.service.data import build_dataset, iter_events, sample_queries
from perf.service.models import AnalysisWatermark, HourBin, Pattern, Synergy
from perf.service.scheduler import AnalysisScheduler
from perf.service.store import append_events, ensure_dataset, open_engine, session_factory


def test_dataset_is_deterministic_from_seed_and_scale():
    a, b, other = build_dataset(1, 0.1), build_dataset(1, 0.1), build_dataset(2, 0.1)
    assert a.entities == b.entities and a.devices == b.devices
    assert a.entities != other.entities
    assert len(a.devices) == 30 and 200 <= len(a.entities) <= 450
    assert list(iter_events(a, first_day=0, days=1)) == list(iter_events(b, first_day=0, days=1))
    assert len({e["entity_id"] for e in a.entities}) == len(a.entities)
    queries = sample_queries(a, 20)
    assert queries == sample_queries(b, 20) and len(set(queries)) > 10


async def _table(sessions, model, *columns):
    async with sessions() as session:
        return sorted((await session.execute(select(*columns))).all())


def test_incremental_analysis_reads_only_new_events_and_matches_a_full_recompute(tmp_path):
    settings = small_settings(tmp_path)

    async def scenario():
        engine = open_engine(settings)
        try:
            data, _ = await ensure_dataset(engine, 42, SCALE, DAYS)
            sessions = session_factory(engine)
            correlations = CorrelationCache(tmp_path / "corr.sqlite")
            first = await run_analysis(sessions, correlations=correlations)
            added = await append_events(engine, data, day=DAYS, entity_fraction=0.2)
            incremental = await run_analysis(sessions, correlations=correlations)
            mark = await _table(sessions, AnalysisWatermark, AnalysisWatermark.last_event_id)
            state = [
                await _table(sessions, HourBin, HourBin.entity_id, HourBin.hour, HourBin.count),
                await _table(sessions, Pattern, Pattern.entity_id, Pattern.hour_of_day),
                await _table(sessions, Synergy, Synergy.entity_a, Synergy.entity_b, Synergy.score),
            ]
            full = await run_analysis(sessions, full=True, correlations=correlations)
            state_full = [
                await _table(sessions, HourBin, HourBin.entity_id, HourBin.hour, HourBin.count),
                await _table(sessions, Pattern, Pattern.entity_id, Pattern.hour_of_day),
                await _table(sessions, Synergy, Synergy.entity_a, Synergy.entity_b, Synergy.score),
            ]
            pair = state_full[2][0]
            cached = correlations.get(pair[0], pair[1])
            correlations.close()
            return first, added, incremental, mark, state, full, state_full, pair, cached
        finally:
            await engine.dispose()

    first, added, incremental, mark, state, full, state_full, pair, cached = asyncio.run(scenario())
    assert first.mode == "incremental" and first.watermark_before == 0
    assert added > 0
    assert incremental.events_read == added
    assert incremental.watermark_before == first.watermark_after
    assert incremental.entities_touched < first.entities_touched
    assert mark == [(incremental.watermark_after,)]  # persisted
    assert full.events_read == first.events_read + added
    assert state == state_full  # incremental bins, patterns, synergies == recomputed ones
    assert cached == pair[2]  # synergy scores fill the correlation cache


def test_scheduler_runs_the_job_each_interval_and_counts_failures():
    ticks: asyncio.Queue[None] = asyncio.Queue()
    outcomes = iter([None, RuntimeError("disk full"), None])
    report = AnalysisReport("incremental", 0, 5, 5, 1, 1, 1, 0, 0.0)

    async def job():
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        return report

    async def fake_sleep(seconds):
        assert seconds == 86_400
        await ticks.get()

    async def scenario():
        scheduler = AnalysisScheduler(job, 86_400, sleep=fake_sleep)
        scheduler.start()
        for done in range(1, 4):
            ticks.put_nowait(None)
            for _ in range(100):  # let the loop task take its turn; no clock involved
                if scheduler.runs + scheduler.failures == done:
                    break
                await asyncio.sleep(0)
        running = scheduler.running
        await scheduler.stop()
        return scheduler, running

    scheduler, running = asyncio.run(scenario())
    assert running and not scheduler.running
    assert (scheduler.runs, scheduler.failures) == (2, 1)
    status = scheduler.status()
    assert "disk full" in status["last_error"]
    assert status["last_report"]["watermark_after"] == 5


def test_warm_start_preloads_the_entities_queries_used(tmp_path):
    settings = small_settings(tmp_path, warm_up_entities=5)
    names = primary_names(8)[5:8]  # not among the most active ones the warm-up would pick

    async def one_run(warm):
        async with running_app(settings.model_copy(update={"warm_up": warm})) as (_, client):
            bodies = [
                (await client.post("/query", json={"query": f"the {n}"})).json() for n in names
            ]
            return [(b["cache"]["entity_context"]["hits"], b["cache"]["enrichment"]["hits"])
                    for b in bodies]  # fmt: skip

    cold = asyncio.run(one_run(False))
    warm = asyncio.run(one_run(True))  # the first run saved which entities were asked about
    assert cold == [(0, 0)] * 3
    assert warm == [(1, 1)] * 3  # entity context and enrichment both pre-loaded


def test_sparse_pearson_equals_the_dense_definition():
    rng = random.Random(5)
    hours = range(100, 300)
    a = {h: rng.randint(1, 3) for h in rng.sample(range(90, 310), 60)}
    b = {h: rng.randint(1, 3) for h in rng.sample(range(90, 310), 60)}
    dense_a, dense_b = ([s.get(h, 0) for h in hours] for s in (a, b))
    assert abs(pearson(a, b, hours) - statistics.correlation(dense_a, dense_b)) < 1e-12
    assert pearson(a, {}, hours) == 0.0
