"""The daily analysis: hourly bins, patterns, synergies and correlations, incrementally.

``run_analysis`` reads only the events after the persisted watermark (``full=True``: all of
them), folds them into ``hour_bins`` in one aggregate query, then recomputes the patterns of
the touched entities and the synergies of the touched areas. Areas are independent, so they are
read in parallel with ``asyncio.gather`` under a concurrency limit and written in one
transaction. Synergy scores are the same Pearson r the query path computes, so they also fill
the correlation cache. ``warm_caches`` pre-loads the most active entities and the strongest
pairs at service start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perf.cache import CorrelationCache
from perf.db import QueryOptimizer, bulk_insert, bulk_upsert
from perf.monitor import PerformanceMonitor
from perf.service.context import ContextStages
from perf.service.correlate import pearson
from perf.service.models import (
    AnalysisWatermark,
    Device,
    Entity,
    EntityUsage,
    Event,
    HourBin,
    Pattern,
    Synergy,
)

__all__ = ["AnalysisReport", "run_analysis", "save_usage", "series_hours", "warm_caches"]

JOB = "daily"
TOP_ENTITIES_PER_AREA = 20  # synergy candidates: the most active entities of each area
MIN_SYNERGY = 0.3
_INVALIDATE_ONE_BY_ONE = 200  # more touched entities than this: clear the correlation cache


@dataclass(frozen=True, slots=True)
class AnalysisReport:
    mode: str  # full | incremental
    watermark_before: int
    watermark_after: int
    events_read: int
    entities_touched: int
    areas_recomputed: int
    patterns_written: int
    synergies_written: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def series_hours(sessions: async_sessionmaker[AsyncSession]) -> range:
    """The hours the correlations span: first to last event hour."""
    async with sessions() as session:
        low, high = (await session.execute(select(func.min(Event.ts), func.max(Event.ts)))).one()
    return range(0) if low is None else range(low // 3600, high // 3600 + 1)


async def run_analysis(
    sessions: async_sessionmaker[AsyncSession],
    *,
    full: bool = False,
    concurrency: int = 4,
    correlations: CorrelationCache | None = None,
    correlation_ttl: float = 86_400.0,
    monitor: PerformanceMonitor | None = None,
) -> AnalysisReport:
    """Bring bins, patterns and synergies up to date; move and persist the watermark."""
    start = time.perf_counter()
    monitor = monitor or PerformanceMonitor()
    async with monitor.track("analysis.run"), sessions() as session:
        mark = await session.get(AnalysisWatermark, JOB)
        before = 0 if full or mark is None else mark.last_event_id
        last_id = (await session.execute(select(func.max(Event.id)))).scalar_one() or 0
        if full:
            for model in (HourBin, Pattern, Synergy):
                await session.execute(delete(model))
        bins = (
            await session.execute(
                select(Event.entity_id, Event.ts // 3600, func.count())
                .where(Event.id > before, Event.id <= last_id)
                .group_by(Event.entity_id, Event.ts // 3600)
            )
        ).all()
        await _add_bins(session, [{"entity_id": e, "hour": h, "count": c} for e, h, c in bins])
        touched = sorted({row[0] for row in bins})
        patterns = await _patterns(session, touched)
        await bulk_upsert(session, Pattern, patterns)
        areas = await _areas_of(session, touched)
        await session.commit()
    hours = await series_hours(sessions)
    limit = asyncio.Semaphore(concurrency)

    async def one_area(area_id: int) -> list[dict[str, Any]]:
        async with limit, sessions() as area_session:
            return await _area_synergies(area_session, area_id, hours)

    results = await asyncio.gather(*(one_area(a) for a in areas))
    synergies = [row for rows in results for row in rows]
    async with sessions() as session:
        if areas:
            await session.execute(delete(Synergy).where(Synergy.area_id.in_(areas)))
        await bulk_insert(session, Synergy, synergies)
        await bulk_upsert(
            session, AnalysisWatermark,
            [{"job": JOB, "last_event_id": last_id, "updated_at": int(time.time())}],
        )  # fmt: skip
        await session.commit()
    if correlations is not None:
        _refresh_correlations(correlations, touched, synergies, correlation_ttl, full)
    return AnalysisReport(
        "full" if full else "incremental", before, last_id, sum(c for *_, c in bins),
        len(touched), len(areas), len(patterns), len(synergies), time.perf_counter() - start,
    )  # fmt: skip


async def _add_bins(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Upsert hourly counts, adding to the count already stored."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(HourBin)
    statement = statement.on_conflict_do_update(
        index_elements=["entity_id", "hour"],
        set_={"count": HourBin.count + statement.excluded["count"]},
    )
    for start in range(0, len(rows), 5000):
        await session.execute(statement, rows[start : start + 5000])


async def _bins_of(session: AsyncSession, entity_ids: Sequence[str]) -> dict[str, dict[int, int]]:
    rows = await QueryOptimizer.batch_fetch(
        session,
        lambda ids: select(HourBin.entity_id, HourBin.hour, HourBin.count).where(
            HourBin.entity_id.in_(ids)
        ),
        entity_ids,
        scalars=False,
    )
    series: dict[str, dict[int, int]] = {}
    for entity_id, hour, count in rows:
        series.setdefault(entity_id, {})[hour] = count
    return series


async def _patterns(session: AsyncSession, entity_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Each entity's peak hour of day, with the share of its events in that hour."""
    rows = []
    for entity_id, series in (await _bins_of(session, entity_ids)).items():
        by_hour = [0] * 24
        for hour, count in series.items():
            by_hour[hour % 24] += count
        total = sum(by_hour)
        peak = max(range(24), key=by_hour.__getitem__)
        rows.append(
            {"entity_id": entity_id, "kind": "daily_peak", "hour_of_day": peak,
             "confidence": round(by_hour[peak] / total, 4), "support": total}
        )  # fmt: skip
    return rows


async def _areas_of(session: AsyncSession, entity_ids: Sequence[str]) -> list[int]:
    areas: set[int] = set()
    for start in range(0, len(entity_ids), 500):
        chunk = entity_ids[start : start + 500]
        rows = await session.scalars(
            select(Device.area_id)
            .distinct()
            .join(Entity, Entity.device_id == Device.id)
            .where(Entity.entity_id.in_(chunk))
        )
        areas.update(rows)
    return sorted(areas)


async def _area_synergies(
    session: AsyncSession, area_id: int, hours: range
) -> list[dict[str, Any]]:
    """Pairs among the area's most active entities whose hourly activity correlates."""
    top = (
        (
            await session.execute(
                select(HourBin.entity_id)
                .join(Entity, Entity.entity_id == HourBin.entity_id)
                .join(Device, Entity.device_id == Device.id)
                .where(Device.area_id == area_id)
                .group_by(HourBin.entity_id)
                .order_by(func.sum(HourBin.count).desc(), HourBin.entity_id)
                .limit(TOP_ENTITIES_PER_AREA)
            )
        )
        .scalars()
        .all()
    )
    series = await _bins_of(session, top)
    ranked = sorted(top)
    rows = []
    for i, a in enumerate(ranked):
        for b in ranked[i + 1 :]:
            r = round(pearson(series.get(a, {}), series.get(b, {}), hours), 6)
            if r >= MIN_SYNERGY:
                rows.append({"entity_a": a, "entity_b": b, "area_id": area_id, "score": r})
    return rows


def _refresh_correlations(
    cache: CorrelationCache,
    touched: Sequence[str],
    synergies: Sequence[dict[str, Any]],
    ttl: float,
    full: bool,
) -> None:
    if full or len(touched) > _INVALIDATE_ONE_BY_ONE:
        cache.clear()
    else:
        for entity_id in touched:
            cache.invalidate(entity_id)
    scores = {(row["entity_a"], row["entity_b"]): row["score"] for row in synergies}
    cache.set_many(scores, ttl_seconds=ttl)  # one round trip to the second tier


async def save_usage(
    sessions: async_sessionmaker[AsyncSession], mentions: Mapping[str, int]
) -> None:
    """Add this run's entity mention counts to ``entity_usage`` (for the next warm-up)."""
    if not mentions:
        return
    async with sessions() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(EntityUsage)
        statement = statement.on_conflict_do_update(
            index_elements=["entity_id"],
            set_={"mentions": EntityUsage.mentions + statement.excluded["mentions"]},
        )
        rows = [{"entity_id": e, "mentions": n} for e, n in mentions.items()]
        await session.execute(statement, rows)
        await session.commit()


async def warm_caches(stages: ContextStages, *, entities: int, pairs: int) -> dict[str, int]:
    """Pre-load the registry, the most used (else most active) entities with their enrichment,
    and the strongest pairs."""
    await stages.registry_index()
    async with stages.sessions() as session:
        used = (
            (
                await session.execute(
                    select(EntityUsage.entity_id)
                    .order_by(EntityUsage.mentions.desc(), EntityUsage.entity_id)
                    .limit(entities)
                )
            )
            .scalars()
            .all()
        )
        active = (
            (
                await session.execute(
                    select(HourBin.entity_id)
                    .group_by(HourBin.entity_id)
                    .order_by(func.sum(HourBin.count).desc(), HourBin.entity_id)
                    .limit(entities)
                )
            )
            .scalars()
            .all()
        )
        top = list(dict.fromkeys([*used, *active]))[:entities]
        strongest = (
            await session.execute(
                select(Synergy.entity_a, Synergy.entity_b, Synergy.score)
                .order_by(Synergy.score.desc())
                .limit(pairs)
            )
        ).all()
    loaded = await stages.load_entities(top) if top else {}
    enriched = await stages.load_enrichment(top) if top else {}
    scores = {(a, b): score for a, b, score in strongest}
    stages.correlations.set_many(scores, ttl_seconds=stages.correlation_ttl)
    return {"entities": len(loaded), "enrichment": len(enriched), "pairs": len(strongest)}
