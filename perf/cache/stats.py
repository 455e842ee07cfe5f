"""Hit and miss counters shared by every cache tier."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from perf._cache_reports import HitRate, as_hit_rate

__all__ = ["CacheStats", "HitRate", "hit_rate"]


def hit_rate(hits: int, misses: int) -> HitRate:
    """Hits over lookups, a fraction (0.0 before the first lookup) that prints as a percent.

    See ``perf._cache_reports.HitRate``: ``rate > 0.8`` compares the fraction, and
    ``f"{rate}%"`` reads ``"80.0%"``.
    """
    return as_hit_rate(hits, misses)


@dataclass(slots=True)
class CacheStats:
    """Counters of one cache. The owner updates them under its own lock."""

    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    expirations: int = 0
    errors: int = 0

    def reset(self) -> None:
        """Zero every counter, in place (closures over this object stay valid)."""
        self.hits = self.misses = self.sets = self.evictions = self.expirations = self.errors = 0

    def as_dict(self, **extra: Any) -> dict[str, Any]:
        """JSON-ready counters plus ``hit_rate`` and whatever the owner adds (size, ...)."""
        return {**asdict(self), "hit_rate": hit_rate(self.hits, self.misses), **extra}
