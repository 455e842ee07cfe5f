"""The query path's context stages: entity extraction, entity context, enrichment, correlations.

Every stage reads through its cache first and goes to the database only for the misses, in
batches with eager loading, so the number of SQL statements per query is bounded whatever the
number of entities mentioned (the N+1 guard in the tests checks this).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perf.cache import Cache, CorrelationCache
from perf.db import QueryOptimizer
from perf.monitor import PerformanceMonitor
from perf.service.correlate import hourly_counts, series_correlation
from perf.service.models import Area, Device, Entity, Event, Pattern, Synergy

__all__ = ["ContextStages", "Extraction", "QueryContext"]

_EXPLICIT_ID = re.compile(r"\b[a-z_]+\.[a-z0-9_]+\b")
_WORD = re.compile(r"[a-z0-9]+")
_AREA_ENTITIES = 4  # an area named in a query stands for this many of its main entities
_ENRICH = "enrich:"  # enrichment cache key prefix, one entry per entity


@dataclass(slots=True)
class Extraction:
    entity_ids: list[str]
    unknown_ids: list[str]
    registry_cached: bool


@dataclass(slots=True)
class QueryContext:
    entities: list[dict[str, Any]] = field(default_factory=list)
    patterns: list[dict[str, Any]] = field(default_factory=list)
    synergies: list[dict[str, Any]] = field(default_factory=list)
    correlations: list[dict[str, Any]] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)


class ContextStages:
    """The stages that turn a query into context, each through its own cache."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        monitor: PerformanceMonitor,
        *,
        registry: Cache,
        entity_context: Cache,
        enrichment: Cache,
        correlations: CorrelationCache,
        entity_ttl: float,
        correlation_ttl: float,
        max_entities: int,
        correlation_prefetch: int = 0,
    ) -> None:
        self.sessions = sessions
        self.monitor = monitor
        self.registry = registry
        self.entity_context = entity_context
        self.enrichment = enrichment
        self.correlations = correlations
        self.entity_ttl = entity_ttl
        self.correlation_ttl = correlation_ttl
        self.max_entities = max_entities
        self.series_hours = range(0)  # set by the service from the events' time span
        # Pre-loading by popularity: an entity seen in a correlation miss is correlated with
        # this many of the most mentioned entities at once, so the pairs a popular entity
        # forms later are hits, not first-time misses. Its series stay in memory for that.
        self.correlation_prefetch = correlation_prefetch
        self.mentions: Counter[str] = Counter()  # counted by the pipeline, per query
        self._series: dict[str, dict[int, int]] = {}
        self._spread: set[str] = set()  # entities already correlated with the popular ones

    # -- 1. extraction ---------------------------------------------------------------------

    async def registry_index(self) -> tuple[dict[str, list[str]], bool]:
        """phrase -> entity ids (friendly names, area names), from the registry cache."""
        index = self.registry.get("index")
        if index is not None:
            return index, True
        async with self.monitor.track("db.entity_registry"), self.sessions() as session:
            rows = (
                await session.execute(
                    select(Entity.entity_id, Entity.friendly_name, Area.name)
                    .join(Device, Entity.device_id == Device.id)
                    .join(Area, Device.area_id == Area.id)
                    .order_by(Entity.id)
                )
            ).all()
        index = {}
        for entity_id, friendly_name, area in rows:
            index.setdefault(" ".join(_WORD.findall(friendly_name.lower())), []).append(entity_id)
            index.setdefault("#" + entity_id, [entity_id])
            if not entity_id.startswith("sensor."):
                members = index.setdefault(" ".join(_WORD.findall(area.lower())), [])
                if len(members) < _AREA_ENTITIES:
                    members.append(entity_id)
        self.registry.set("index", index, self.entity_ttl)
        return index, False

    async def extract(self, query: str) -> Extraction:
        """The entities ``query`` names: explicit ids, friendly names, areas (longest match)."""
        index, cached = await self.registry_index()
        text = query.lower()
        found: list[str] = []
        unknown: list[str] = []
        for explicit in _EXPLICIT_ID.findall(text):
            (found if "#" + explicit in index else unknown).append(explicit)
        words = _WORD.findall(_EXPLICIT_ID.sub(" ", text))
        i = 0
        while i < len(words):
            for n in range(min(8, len(words) - i), 0, -1):
                hit = index.get(" ".join(words[i : i + n]))
                if hit is not None:
                    found.extend(hit)
                    i += n
                    break
            else:
                i += 1
        entity_ids = list(dict.fromkeys(found))[: self.max_entities]
        return Extraction(entity_ids, sorted(set(unknown)), cached)

    # -- 2. entity context -----------------------------------------------------------------

    async def entities(self, entity_ids: Sequence[str], ctx: QueryContext) -> None:
        """Each entity with its device, area and state; misses in one eager-loaded batch."""
        found: dict[str, dict[str, Any]] = {}
        misses: list[str] = []
        for entity_id in entity_ids:
            hit = self.entity_context.get("ctx:" + entity_id)
            if hit is None:
                misses.append(entity_id)
            else:
                found[entity_id] = hit
        if misses:
            for entity_id, row in (await self.load_entities(misses)).items():
                found[entity_id] = row
        ctx.entities = [found[e] for e in entity_ids if e in found]
        ctx.cache["entity_context"] = {"hits": len(entity_ids) - len(misses), "misses": len(misses)}

    async def load_entities(self, entity_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Fetch and cache the context of ``entity_ids`` (also used by the warm-up)."""
        options = QueryOptimizer.eager_load_options(Entity, ["device", "device.area"], strict=True)
        async with self.monitor.track("db.entity_context"), self.sessions() as session:
            rows = await QueryOptimizer.batch_fetch(
                session,
                lambda ids: select(Entity).options(*options).where(Entity.entity_id.in_(ids)),
                entity_ids,
            )
            loaded = {row.entity_id: _entity_dict(row) for row in rows}
        for entity_id, value in loaded.items():
            self.entity_context.set("ctx:" + entity_id, value, self.entity_ttl)
        return loaded

    # -- 3. enrichment: patterns, synergies, correlations ----------------------------------

    async def enrich(self, entity_ids: Sequence[str], ctx: QueryContext) -> None:
        """Patterns and synergies, cached per entity; the misses in one batch round.

        A query's enrichment is assembled from its entities' pieces, so a new combination of
        known entities costs no database work. The synergies are the strongest
        ``3 * len(entity_ids)`` involving any of the entities, as one query over all of them
        would return: each entity keeps its own strongest ``3 * max_entities``, which holds
        every pair the assembled top list can need.
        """
        found: dict[str, dict[str, Any]] = {}
        misses: list[str] = []
        for entity_id in entity_ids:
            hit = self.enrichment.get(_ENRICH + entity_id)
            if hit is None:
                misses.append(entity_id)
            else:
                found[entity_id] = hit
        if misses:
            found.update(await self.load_enrichment(misses))
        ctx.patterns = [p for e in entity_ids for p in found[e]["patterns"]]
        pairs = {(s["a"], s["b"]): s for e in entity_ids for s in found[e]["synergies"]}
        ctx.synergies = sorted(pairs.values(), key=_strongest_first)[: 3 * len(entity_ids)]
        ctx.cache["enrichment"] = {"hits": len(entity_ids) - len(misses), "misses": len(misses)}

    async def load_enrichment(self, entity_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Fetch and cache each entity's patterns and synergies (also used by the warm-up).

        Two statements per batch of ids, whatever their number; entities without patterns
        or synergies are cached too (as empty lists), so asking again costs nothing.
        """
        loaded: dict[str, dict[str, Any]] = {
            e: {"patterns": [], "synergies": []} for e in entity_ids
        }
        async with self.monitor.track("db.enrichment"), self.sessions() as session:
            patterns = await QueryOptimizer.batch_fetch(
                session, lambda ids: select(Pattern).where(Pattern.entity_id.in_(ids)), entity_ids
            )
            synergies = await QueryOptimizer.batch_fetch(
                session,
                lambda ids: select(Synergy).where(
                    or_(Synergy.entity_a.in_(ids), Synergy.entity_b.in_(ids))
                ),
                entity_ids,
            )
        for p in patterns:
            loaded[p.entity_id]["patterns"].append(
                {"entity_id": p.entity_id, "hour": p.hour_of_day, "confidence": p.confidence}
            )
        keep = 3 * self.max_entities
        seen: set[tuple[str, str]] = set()  # a pair of two ids can come from two batches
        for s in sorted(synergies, key=lambda s: (-s.score, s.entity_a, s.entity_b)):
            if (s.entity_a, s.entity_b) in seen:
                continue
            seen.add((s.entity_a, s.entity_b))
            row = {"a": s.entity_a, "b": s.entity_b, "score": s.score}
            for entity_id in (s.entity_a, s.entity_b):
                own = loaded.get(entity_id)
                if own is not None and len(own["synergies"]) < keep:
                    own["synergies"].append(row)
        for entity_id, value in loaded.items():
            self.enrichment.set(_ENRICH + entity_id, value, self.entity_ttl)
        return loaded

    def forget_enrichment(self) -> int:
        """Drop every cached enrichment and event series (after the analysis rewrote
        patterns, synergies and correlations)."""
        self._series.clear()
        self._spread.clear()
        return self.enrichment.invalidate_prefix(_ENRICH)

    async def correlate(self, entity_ids: Sequence[str], ctx: QueryContext) -> None:
        """r for every pair of mentioned entities: cached, else computed from event series."""
        pairs = list(itertools.combinations(sorted(entity_ids), 2))
        values: dict[tuple[str, str], float] = {}
        missing: list[tuple[str, str]] = []
        for a, b in pairs:
            value = self.correlations.get(a, b, ttl_seconds=self.correlation_ttl)
            if value is None:
                missing.append((a, b))
            else:
                values[(a, b)] = value
        if missing:
            values.update(await self.compute_correlations(missing))
        ctx.correlations = [{"a": a, "b": b, "r": values[(a, b)]} for a, b in pairs]
        ctx.cache["correlation"] = {"hits": len(pairs) - len(missing), "misses": len(missing)}

    async def compute_correlations(
        self, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], float]:
        """Correlate the pairs from their event series (read in one query, those not in memory)
        and cache the results; then correlate each entity seen here for the first time with
        the most mentioned ones (``correlation_prefetch``)."""
        involved = {e for pair in pairs for e in pair}
        new = sorted(involved - self._spread)
        popular = [e for e, _ in self.mentions.most_common(self.correlation_prefetch)]
        series = await self._event_series(involved | (set(popular) if new else set()))
        results = {(a, b): series_correlation(series, a, b, self.series_hours) for a, b in pairs}
        computed = dict(results)
        for entity_id in new:
            for other in popular:
                a, b = sorted((entity_id, other))
                if a != b and (a, b) not in computed:
                    computed[(a, b)] = series_correlation(series, a, b, self.series_hours)
        # One write for all of them: one round trip to the second tier, not one per pair.
        self.correlations.set_many(computed, ttl_seconds=self.correlation_ttl)
        self._spread.update(new)
        return results

    async def _event_series(self, entity_ids: set[str]) -> dict[str, dict[int, int]]:
        """Hourly event counts of ``entity_ids``; those not yet in memory read in one query."""
        needed = sorted(entity_ids - self._series.keys())
        if needed:
            async with self.monitor.track("db.event_series"), self.sessions() as session:
                rows = await QueryOptimizer.batch_fetch(
                    session,
                    lambda ids: select(Event.entity_id, Event.ts).where(Event.entity_id.in_(ids)),
                    needed,
                    scalars=False,
                )
            stamps: dict[str, list[int]] = {entity_id: [] for entity_id in needed}
            for entity_id, ts in rows:
                stamps[entity_id].append(ts)
            self._series.update((e, hourly_counts(ts)) for e, ts in stamps.items())
        return {e: self._series[e] for e in entity_ids}


def _strongest_first(synergy: dict[str, Any]) -> tuple[float, str, str]:
    return (-synergy["score"], synergy["a"], synergy["b"])


def _entity_dict(entity: Entity) -> dict[str, Any]:
    return {
        "entity_id": entity.entity_id,
        "name": entity.friendly_name,
        "domain": entity.domain,
        "state": entity.state,
        "last_changed": entity.last_changed,
        "device": entity.device.name,
        "device_kind": entity.device.kind,
        "area": entity.device.area.name,
    }
