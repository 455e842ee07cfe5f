"""The workload: who asks what, how often. Pure Python (no Locust), so it is unit-tested.

Defaults are chosen to resemble one real home with a handful of people using a chat assistant,
and are recorded in the run manifest. Never tune them to make a target pass: a hit rate is what
it is, and the cold-miss share is reported beside it.

- ``zipf_s = 1.0``: entity popularity follows Zipf with exponent 1 (a few devices - the kitchen
  light, the thermostat - are asked about most; the long tail rarely), the classic skew of
  item popularity and the same skew the service's ``sample_queries`` uses.
- ``entity_count = 0``: every primary (non-diagnostic) entity of the synthetic home
  (about 300 at dataset scale 1.0); set it to draw from the most popular N only.
- ``repeat_share = 0.25``: a quarter of queries repeat an earlier query verbatim (the same
  question asked again, re-sent from history, asked by a second person).
- ``think_min_s..think_max_s = 1..3``: seconds a closed-model user waits between actions,
  compressed from a real reading time (tens of seconds) so a one-minute run has enough samples.
- ``weights``: per action, 8 queries : 1 health check : 1 stats read.
- ``turns_per_conversation = 4``: follow-ups share a ``conversation_id`` for about 4 turns.
- ``stream = 0``: which population of users, with the same ``seed`` (the same home, the same
  popular devices): another stream asks new questions in new conversations. The steps of
  ``perf load --find-capacity`` each use their own, so no step replays another's queries.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from perf.errors import ConfigurationError
from perf.service.data import build_dataset

__all__ = [
    "ACTIONS",
    "Catalog",
    "QueryGenerator",
    "WorkloadParams",
    "catalog_from_dataset",
    "compose_query",
    "parse_workload",
    "zipf_cumulative",
]

ACTIONS = ("query", "health", "stats")


@dataclass(frozen=True, slots=True)
class WorkloadParams:
    zipf_s: float = 1.0
    entity_count: int = 0
    repeat_share: float = 0.25
    think_min_s: float = 1.0
    think_max_s: float = 3.0
    query_weight: int = 8
    health_weight: int = 1
    stats_weight: int = 1
    turns_per_conversation: int = 4
    seed: int = 1234
    stream: int = 0  # another stream of users (new questions) in the same home; see above
    dataset_seed: int = 42
    dataset_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.zipf_s < 0:
            raise ValueError(f"zipf_s must be >= 0, got {self.zipf_s}")
        if not 0.0 <= self.repeat_share <= 1.0:
            raise ValueError(f"repeat_share must be within [0, 1], got {self.repeat_share}")
        if not 0.0 <= self.think_min_s <= self.think_max_s:
            raise ValueError("think time needs 0 <= think_min_s <= think_max_s")
        if min(self.query_weight, self.health_weight, self.stats_weight) < 0:
            raise ValueError("action weights must be >= 0")

    @property
    def weights(self) -> tuple[int, int, int]:
        return (self.query_weight, self.health_weight, self.stats_weight)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> WorkloadParams:
        """Parameters from strings or numbers (env vars, CLI options); unknown keys ignored."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if values.get(f.name) not in (None, ""):
                kwargs[f.name] = (float if f.type == "float" else int)(values[f.name])
        return cls(**kwargs)


def parse_workload(items: Iterable[str], base: Mapping[str, str] | None = None) -> WorkloadParams:
    """``--workload KEY=VALUE`` overrides on top of ``base``; a ConfigurationError names a bad
    item and the keys there are."""
    values = dict(base or {})
    known = WorkloadParams.__dataclass_fields__
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ConfigurationError(
                f"bad --workload {item!r}: use KEY=VALUE with KEY one of {sorted(known)}"
            )
        values[key] = value
    try:
        return WorkloadParams.from_mapping(values)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"bad workload parameter: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Catalog:
    """What queries can mention: entities (popularity rank order) and area names."""

    entity_ids: tuple[str, ...]
    friendly_names: tuple[str, ...]
    areas: tuple[str, ...]


def catalog_from_dataset(params: WorkloadParams) -> Catalog:
    """The entities of the service's synthetic home, in a seeded popularity order."""
    data = build_dataset(seed=params.dataset_seed, scale=params.dataset_scale)
    primaries = [e for e in data.entities if not e["entity_id"].startswith("sensor.")]
    random.Random(f"popularity:{params.seed}").shuffle(primaries)  # noqa: S311 - seeded
    if params.entity_count:
        primaries = primaries[: params.entity_count]
    return Catalog(
        entity_ids=tuple(e["entity_id"] for e in primaries),
        friendly_names=tuple(e["friendly_name"] for e in primaries),
        areas=tuple(a["name"] for a in data.areas),
    )


def zipf_cumulative(n: int, s: float) -> list[float]:
    """Cumulative Zipf weights for ranks 1..n (``s = 0`` is uniform)."""
    if n < 1:
        raise ValueError("a Zipf distribution needs at least one item")
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


def _pick(rng: random.Random, cumulative: Sequence[float]) -> int:
    return bisect.bisect_left(cumulative, rng.random() * cumulative[-1])


def compose_query(
    rng: random.Random,
    catalog: Catalog,
    cumulative: Sequence[float],
    history: Sequence[str],
    repeat_share: float,
) -> tuple[str, bool]:
    """One query and whether it repeats an earlier one verbatim (then drawn from ``history``).

    Pure given ``rng``'s state: the same seed yields the same stream of queries.
    """
    if history and rng.random() < repeat_share:
        return rng.choice(history), True
    a, b, c = (_pick(rng, cumulative) for _ in range(3))
    names, ids = catalog.friendly_names, catalog.entity_ids
    template = rng.randrange(5)
    if template == 0:
        text = f"Suggest an automation for the {names[a]}."
    elif template == 1:
        text = f"Why does the {names[a]} change when the {names[b]} does?"
    elif template == 2:
        text = f"What usually happens in the {rng.choice(catalog.areas)} with the {names[a]}?"
    elif template == 3:
        text = (
            f"Compare the {names[a]}, the {names[b]} and the {names[c]}: can they share a routine?"
        )
    else:
        text = f"Is {ids[a]} related to {ids[b]}?"
    return text, False


class QueryGenerator:
    """A seeded stream of queries and actions for one simulated user."""

    def __init__(self, params: WorkloadParams, catalog: Catalog, user_index: int) -> None:
        self.params = params
        self.catalog = catalog
        # stream 0 keeps the seeding of runs recorded before streams existed
        stream = f"{params.stream}:" if params.stream else ""
        self.rng = random.Random(f"user:{params.seed}:{stream}{user_index}")  # noqa: S311
        self._prefix = f"load-{params.seed}-{stream.replace(':', '-')}{user_index}"
        self._cumulative = zipf_cumulative(len(catalog.entity_ids), params.zipf_s)
        self._history: list[str] = []
        self._turn = 0
        self._conversation = 0

    def next_action(self) -> str:
        return self.rng.choices(ACTIONS, weights=self.params.weights)[0]

    def next_query(self) -> tuple[str, str]:
        """``(query text, conversation id)``; conversations last a few turns."""
        if self._turn >= self.params.turns_per_conversation:
            self._turn, self._conversation = 0, self._conversation + 1
        self._turn += 1
        text, _ = compose_query(
            self.rng, self.catalog, self._cumulative, self._history, self.params.repeat_share
        )
        self._history.append(text)
        return text, f"{self._prefix}-{self._conversation}"

    def think_time(self) -> float:
        return self.rng.uniform(self.params.think_min_s, self.params.think_max_s)
