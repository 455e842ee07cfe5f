"""CorrelationCache: a two-tier cache of values computed for an unordered pair of entities."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from perf._cache_reports import report_cache
from perf.cache._validate import DEFAULT_TTL, check_options
from perf.cache.tiered import TwoTierCache

__all__ = ["CorrelationCache", "pair_key"]

SEPARATOR = "\x1f"  # ASCII unit separator: cannot appear in an entity id
TIER_OPTIONS = frozenset(inspect.signature(TwoTierCache).parameters) - {"cache_db_path"}


class CorrelationCache:
    """Pairwise results (correlations, synergy scores) keyed by an unordered entity pair.

    ``get(a, b)`` finds ``set(b, a, ...)``. ``ttl_seconds`` on ``set`` is how long the entry
    lives; on ``get`` it is the oldest entry the caller accepts. Entries live in a
    ``TwoTierCache`` (``self.store``: memory, then the SQLite file at ``cache_db_path``, or
    memory only when it is None); the other keyword arguments configure it (see
    TwoTierCache; an unknown one is a TypeError), or ``store`` shares an existing one (the
    cache manager's ``correlation`` cache).

    While it lives, its stats appear in the process-wide monitor under ``name``:
    ``get_performance_monitor().get_stats()["cache_stats"]["correlation"]["hit_rate"]``.
    """

    def __init__(
        self,
        cache_db_path: str | Path | None = None,
        *,
        store: TwoTierCache | None = None,
        name: str = "correlation",
        **options: Any,
    ) -> None:
        check_options("CorrelationCache", options, TIER_OPTIONS | {"name", "store"})
        if store is not None and (cache_db_path is not None or options):
            given = ["cache_db_path"] * (cache_db_path is not None) + sorted(options)
            raise TypeError(
                f"CorrelationCache: pass either store or cache_db_path and options, not both "
                f"(got store and {', '.join(given)}); configure the shared store where it is made"
            )
        self.store = store if store is not None else TwoTierCache(cache_db_path, **options)
        self.name = name
        report_cache(name, self.store)

    def get(self, entity1: str, entity2: str, ttl_seconds: float = DEFAULT_TTL) -> Any:
        """The cached value for the pair, or None."""
        return self.store.get(pair_key(entity1, entity2), None, max_age=ttl_seconds)

    def set(self, entity1: str, entity2: str, value: Any, ttl_seconds: float = DEFAULT_TTL) -> bool:
        """Cache ``value`` for the pair; False if the disk tier dropped the write."""
        return self.store.set(pair_key(entity1, entity2), value, ttl_seconds)

    def set_many(
        self, values: Mapping[tuple[str, str], Any], ttl_seconds: float = DEFAULT_TTL
    ) -> bool:
        """Cache each pair's value, the disk tier in one round trip; False if it dropped them."""
        items = [(pair_key(a, b), value) for (a, b), value in values.items()]
        return self.store.set_many(items, ttl_seconds)

    def invalidate(self, entity: str) -> int:
        """Drop every pair that ``entity`` is part of; returns how many pairs went."""
        check_entity(entity)
        dropped = self.store.memory.invalidate_if(
            lambda key: isinstance(key, str) and entity in key.split(SEPARATOR)
        )
        if self.store.disk is not None:
            on_disk = self.store.disk.invalidate_prefix(entity + SEPARATOR)
            on_disk += self.store.disk.invalidate_suffix(SEPARATOR + entity)
            dropped = max(dropped, on_disk)
        return dropped

    def stats(self) -> dict[str, Any]:
        """Hits per tier (memory, disk), misses and the overall hit rate."""
        return self.store.stats()

    def clear(self) -> None:
        self.store.clear()

    def close(self) -> None:
        self.store.close()


def check_entity(entity: object) -> str:
    if not isinstance(entity, str) or not entity:
        raise TypeError(f"entity ids are non-empty str, got {type(entity).__name__} {entity!r}")
    if SEPARATOR in entity:
        raise ValueError(f"entity id {entity!r} contains the reserved character \\x1f")
    return entity


def pair_key(entity1: str, entity2: str) -> str:
    """The key of an unordered pair: the two ids, sorted, joined by the separator."""
    a, b = check_entity(entity1), check_entity(entity2)
    return f"{a}{SEPARATOR}{b}" if a <= b else f"{b}{SEPARATOR}{a}"
