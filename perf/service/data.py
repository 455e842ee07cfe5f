"""The synthetic smart home: deterministic from (seed, scale), written through ``perf.db``.

Scale 1.0 is 300 devices and about 3,000 entities in 20 areas; the entity count grows linearly
with the scale (100k entities near scale 33). Each entity changes state a few times a day, mostly
around its area's routine hours, so entities of one area correlate: that is what the analysis
job and the correlation cache find. ``sample_queries`` writes natural-language queries that
mention real entities and areas, for tests, benchmarks and load tests.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DATASET_START",
    "Dataset",
    "build_dataset",
    "iter_events",
    "sample_queries",
]

DATASET_START = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so the data never depends on now
DAY = 86_400

_AREAS = (
    "Kitchen", "Living Room", "Bedroom", "Bathroom", "Hallway", "Office", "Garage", "Garden",
    "Dining Room", "Basement", "Laundry", "Guest Room", "Kids Room", "Porch", "Attic", "Patio",
    "Study", "Pantry", "Gym", "Workshop",
)  # fmt: skip
# kind -> (primary domain, events per day of the primary entity, on/off states)
_KINDS: dict[str, tuple[str, float, tuple[str, str]]] = {
    "Ceiling Light": ("light", 8.0, ("on", "off")),
    "Motion Sensor": ("binary_sensor", 14.0, ("on", "off")),
    "Thermostat": ("climate", 6.0, ("heat", "idle")),
    "Smart Plug": ("switch", 5.0, ("on", "off")),
    "Door Sensor": ("binary_sensor", 6.0, ("open", "closed")),
    "Media Player": ("media_player", 4.0, ("playing", "idle")),
    "Window Blind": ("cover", 3.0, ("open", "closed")),
    "Air Purifier": ("fan", 3.0, ("on", "off")),
}
_DIAGNOSTICS = (
    "Battery", "Signal Strength", "Temperature", "Humidity", "Power", "Energy", "Illuminance",
    "Voltage", "Uptime", "Firmware", "Link Quality", "Last Seen",
)  # fmt: skip
_DIAGNOSTIC_EVENTS_PER_DAY = 1.5


def _slug(text: str) -> str:
    return text.lower().replace(" ", "_")


@dataclass(slots=True)
class Dataset:
    """Rows for the ``areas``, ``devices`` and ``entities`` tables, plus the routines."""

    seed: int
    scale: float
    areas: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    # entity_id -> (events per day, routine hours of its area, its two states)
    behaviour: dict[str, tuple[float, tuple[int, ...], tuple[str, str]]] = field(
        default_factory=dict
    )


def build_dataset(seed: int = 42, scale: float = 1.0) -> Dataset:
    """Areas, devices and entities for ``seed`` and ``scale`` (same inputs, same rows)."""
    rng = random.Random(f"home:{seed}")  # noqa: S311 - simulation, not security
    n_devices = max(4, round(300 * scale))
    n_areas = max(2, min(len(_AREAS) * 10, round(20 * scale**0.5)))
    data = Dataset(seed, scale)
    routines: list[tuple[int, ...]] = []
    for index in range(n_areas):
        base = _AREAS[index % len(_AREAS)]
        name = base if index < len(_AREAS) else f"{base} {index // len(_AREAS) + 1}"
        data.areas.append({"id": index + 1, "name": name})
        routines.append(tuple(sorted(rng.sample(range(6, 24), 2))))
    kinds = list(_KINDS)
    per_area_kind: dict[tuple[int, str], int] = {}
    for device_index in range(n_devices):
        area_id = rng.randrange(n_areas) + 1
        kind = rng.choice(kinds)
        number = per_area_kind[(area_id, kind)] = per_area_kind.get((area_id, kind), 0) + 1
        area_name = data.areas[area_id - 1]["name"]
        device_name = f"{area_name} {kind} {number}"
        device_id = device_index + 1
        data.devices.append(
            {"id": device_id, "name": device_name, "kind": kind, "area_id": area_id}
        )
        domain, rate, states = _KINDS[kind]
        stem = _slug(device_name)
        extra = rng.randint(5, 12)  # ~10 entities per device on average, as in real homes
        members = [(f"{domain}.{stem}", device_name, rate, states)]
        members += [
            (
                f"sensor.{stem}_{_slug(d)}",
                f"{device_name} {d}",
                _DIAGNOSTIC_EVENTS_PER_DAY,
                ("", ""),
            )
            for d in _DIAGNOSTICS[:extra]
        ]
        for entity_id, friendly, events_per_day, two_states in members:
            data.entities.append(
                {
                    "id": len(data.entities) + 1,
                    "entity_id": entity_id,
                    "domain": entity_id.split(".", 1)[0],
                    "friendly_name": friendly,
                    "device_id": device_id,
                    "state": two_states[1] or "0",
                    "last_changed": DATASET_START,
                }
            )
            data.behaviour[entity_id] = (events_per_day, routines[area_id - 1], two_states)
    return data


def iter_events(
    data: Dataset, *, first_day: int, days: int, entity_fraction: float = 1.0, salt: str = ""
) -> Iterator[dict[str, Any]]:
    """State changes for days ``first_day .. first_day + days - 1`` (rows for ``events``).

    ``entity_fraction`` < 1 picks that share of the entities (a quiet day); ``salt`` makes a
    different but still deterministic day.
    """
    rng = random.Random(f"events:{data.seed}:{first_day}:{days}:{entity_fraction}:{salt}")  # noqa: S311 - simulation, not security
    for entity in data.entities:
        if entity_fraction < 1.0 and rng.random() >= entity_fraction:
            continue
        entity_id = entity["entity_id"]
        rate, routine, states = data.behaviour[entity_id]
        times: list[int] = []
        for day in range(first_day, first_day + days):
            day_start = DATASET_START + day * DAY
            count = int(rate) + (rng.random() < rate - int(rate))
            for _ in range(count):
                if rng.random() < 0.75:  # around one of the area's routine hours
                    hour = rng.choice(routine) + rng.gauss(0.0, 0.4)
                else:
                    hour = rng.uniform(0.0, 24.0)
                times.append(day_start + int(min(max(hour, 0.0), 23.999) * 3600))
        times.sort()
        for n, ts in enumerate(times):
            state = states[n % 2] if states[0] else f"{rng.uniform(0, 100):.1f}"
            yield {"entity_id": entity_id, "ts": ts, "state": state}


def sample_queries(data: Dataset, count: int, seed: int = 0) -> list[str]:
    """Natural-language queries about real entities, devices and areas of ``data``."""
    rng = random.Random(f"queries:{data.seed}:{seed}")  # noqa: S311 - simulation, not security
    primaries = [e for e in data.entities if not e["entity_id"].startswith("sensor.")]
    # Popularity is skewed, as in real use: a few devices are asked about most of the time.
    weights = [1.0 / (rank + 1) for rank in range(len(primaries))]
    areas = [a["name"] for a in data.areas]
    queries: list[str] = []
    for _ in range(count):
        picked = rng.choices(primaries, weights, k=3)
        a, b, c = (e["friendly_name"] for e in picked)
        template = rng.randrange(5)
        if template == 0:
            queries.append(f"Suggest an automation for the {a}.")
        elif template == 1:
            queries.append(f"Why does the {a} change when the {b} does?")
        elif template == 2:
            queries.append(f"What usually happens in the {rng.choice(areas)} in the evening?")
        elif template == 3:
            queries.append(f"Compare the {a}, the {b} and the {c}: can they share a routine?")
        else:
            queries.append(f"Is {picked[0]['entity_id']} related to {picked[1]['entity_id']}?")
    return queries
