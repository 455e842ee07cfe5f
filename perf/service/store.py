"""The service's database: the shared engine, the schema, and loading the synthetic home."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from perf.db import bulk_insert, create_shared_db_engine
from perf.errors import ConfigurationError
from perf.service.data import Dataset, build_dataset, iter_events
from perf.service.models import Area, Base, DatasetInfo, Device, Entity, Event
from perf.service.settings import ServiceSettings

__all__ = ["DatasetSummary", "append_events", "ensure_dataset", "open_engine", "session_factory"]


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    areas: int
    devices: int
    entities: int
    events: int
    created: bool  # False: the file already held this dataset


def open_engine(settings: ServiceSettings) -> AsyncEngine:
    """The shared pooled engine for the settings' database (its folder is created)."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return create_shared_db_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        sqlite_busy_timeout_ms=settings.db_busy_timeout_ms,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ensure_dataset(
    engine: AsyncEngine, seed: int, scale: float, days: int
) -> tuple[Dataset, DatasetSummary]:
    """Create the schema and load the home for (seed, scale, days) unless it is there already."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    wanted = {"seed": str(seed), "scale": repr(float(scale)), "days": str(days)}
    data = build_dataset(seed, scale)
    sessions = session_factory(engine)
    async with sessions() as session:
        found = dict((await session.execute(select(DatasetInfo.key, DatasetInfo.value))).all())
        created = False
        if not found:
            await _load(session, data, days, wanted)
            created = True
        elif {k: found.get(k) for k in wanted} != wanted:
            raise ConfigurationError(
                f"the database {engine.url} holds the dataset {found}, not {wanted}; point "
                "PERF_DATABASE_PATH at another file or delete this one"
            )
        counts = [
            (await session.execute(select(func.count()).select_from(model))).scalar_one()
            for model in (Area, Device, Entity, Event)
        ]
    areas, devices, entities, events = counts
    return data, DatasetSummary(areas, devices, entities, events, created)


async def _load(session: AsyncSession, data: Dataset, days: int, info: dict[str, str]) -> None:
    for model in (Event, Entity, Device, Area, DatasetInfo):
        await session.execute(delete(model))
    await bulk_insert(session, Area, data.areas)
    await bulk_insert(session, Device, data.devices)
    await bulk_insert(session, Entity, data.entities)
    await bulk_insert(session, Event, iter_events(data, first_day=0, days=days), chunk_size=5000)
    await bulk_insert(session, DatasetInfo, [{"key": k, "value": v} for k, v in info.items()])
    await session.commit()


async def append_events(
    engine: AsyncEngine, data: Dataset, *, day: int, entity_fraction: float = 0.1, salt: str = ""
) -> int:
    """Add one more day of events for a share of the entities (new work for the analysis)."""
    async with session_factory(engine)() as session:
        rows = iter_events(data, first_day=day, days=1, entity_fraction=entity_fraction, salt=salt)
        written = await bulk_insert(session, Event, rows, chunk_size=5000)
        await session.commit()
    return written
