"""CorrelationCache: a two-tier cache of values computed for an unordered pair of entities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perf.cache._validate import DEFAULT_TTL
from perf.cache.tiered import TwoTierCache

__all__ = ["CorrelationCache", "pair_key"]

SEPARATOR = "\x1f"  # ASCII unit separator: cannot appear in an entity id


class CorrelationCache:
    """Pairwise results (correlations, synergy scores) keyed by an unordered entity pair.

    ``get(a, b)`` finds ``set(b, a, ...)``. ``ttl_seconds`` on ``set`` is how long the entry
    lives; on ``get`` it is the oldest entry the caller accepts. Entries live in a
    ``TwoTierCache`` (``self.store``: memory, then the SQLite file at ``cache_db_path``, or
    memory only when it is None); the other keyword arguments configure it, or ``store``
    shares an existing one (the cache manager's ``correlation`` cache).
    """

    def __init__(
        self,
        cache_db_path: str | Path | None = None,
        *,
        store: TwoTierCache | None = None,
        **options: Any,
    ) -> None:
        if store is not None and (cache_db_path is not None or options):
            raise TypeError("pass either store or cache_db_path and options, not both")
        self.store = store if store is not None else TwoTierCache(cache_db_path, **options)

    def get(self, entity1: str, entity2: str, ttl_seconds: float = DEFAULT_TTL) -> Any:
        """The cached value for the pair, or None."""
        return self.store.get(pair_key(entity1, entity2), None, max_age=ttl_seconds)

    def set(self, entity1: str, entity2: str, value: Any, ttl_seconds: float = DEFAULT_TTL) -> bool:
        """Cache ``value`` for the pair; False if the disk tier dropped the write."""
        return self.store.set(pair_key(entity1, entity2), value, ttl_seconds)

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
