"""SQLAlchemy models of the synthetic smart home: areas, devices, entities, events, analysis.

Relationships are real (area -> devices -> entities), so the query path has something to
eager-load. Event times are whole seconds since the Unix epoch; ``HourBin`` holds the event
counts per entity and hour that the analysis job maintains incrementally.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AnalysisWatermark",
    "Area",
    "Base",
    "DatasetInfo",
    "Device",
    "Entity",
    "EntityUsage",
    "Event",
    "HourBin",
    "Pattern",
    "Synergy",
]


class Base(DeclarativeBase):
    pass


class Area(Base):
    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    devices: Mapped[list[Device]] = relationship(back_populates="area")


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    area: Mapped[Area] = relationship(back_populates="devices")
    entities: Mapped[list[Entity]] = relationship(back_populates="device")


class Entity(Base):
    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(120), unique=True)
    domain: Mapped[str] = mapped_column(String(40))
    friendly_name: Mapped[str] = mapped_column(String(160))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    state: Mapped[str] = mapped_column(String(40))
    last_changed: Mapped[int] = mapped_column(Integer)
    device: Mapped[Device] = relationship(back_populates="entities")


class EntityUsage(Base):
    """How often queries mentioned an entity (saved at shutdown; the warm-up reads it)."""

    __tablename__ = "entity_usage"

    entity_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    mentions: Mapped[int] = mapped_column(Integer)


class Event(Base):
    """One state change; ``id`` grows with insertion order (the analysis watermark)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_entity_ts", "entity_id", "ts"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("entities.entity_id"))
    ts: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(40))


class HourBin(Base):
    """Events of one entity in one hour (``hour`` = ts // 3600)."""

    __tablename__ = "hour_bins"

    entity_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class Pattern(Base):
    """A detected daily pattern: the hour of day at which an entity is most active."""

    __tablename__ = "patterns"

    entity_id: Mapped[str] = mapped_column(ForeignKey("entities.entity_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    hour_of_day: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float]
    support: Mapped[int] = mapped_column(Integer)


class Synergy(Base):
    """Two entities of one area whose hourly activity correlates (``entity_a < entity_b``)."""

    __tablename__ = "synergies"
    __table_args__ = (
        UniqueConstraint("entity_a", "entity_b"),
        Index("ix_synergies_b", "entity_b"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    entity_a: Mapped[str] = mapped_column(String(120))
    entity_b: Mapped[str] = mapped_column(String(120))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    score: Mapped[float]


class AnalysisWatermark(Base):
    """How far the analysis job has read the events table (persisted between runs)."""

    __tablename__ = "analysis_watermarks"

    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[int] = mapped_column(Integer)


class DatasetInfo(Base):
    """What generated the data: seed, scale, days (so a mismatch is noticed)."""

    __tablename__ = "dataset_info"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
