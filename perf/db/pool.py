"""An instrumented async queue pool: statistics, and a clear error when it runs dry.

SQLAlchemy's own queue pool raises ``sqlalchemy.exc.TimeoutError`` with a terse message when no
connection frees up within ``pool_timeout``; this subclass counts checkouts that had to wait and
the ones that timed out, and raises :class:`perf.errors.PoolExhaustedError` instead, saying what
to change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, Pool, QueuePool

from perf.errors import PoolExhaustedError

__all__ = ["InstrumentedAsyncQueuePool", "PoolCounters", "PoolStats", "pool_stats"]


@dataclass(slots=True)
class PoolCounters:
    """Cumulative counts for one engine's pool; they survive ``engine.dispose()``."""

    checkouts: int = 0
    waits: int = 0
    timeouts: int = 0


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of one pool. ``as_dict()`` is JSON-ready (for the monitor and the service)."""

    pool: str
    size: int
    max_overflow: int
    timeout_seconds: float | None
    checked_in: int
    checked_out: int
    overflow: int
    checkouts: int = 0
    waits: int = 0
    timeouts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("extra"))
        return data


class InstrumentedAsyncQueuePool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` that counts waits/timeouts and raises ``PoolExhaustedError``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counters = PoolCounters()

    def recreate(self) -> QueuePool:
        fresh = super().recreate()
        if isinstance(fresh, InstrumentedAsyncQueuePool):
            fresh.counters = self.counters
        return fresh

    def _do_get(self) -> ConnectionPoolEntry:
        self.counters.checkouts += 1
        if self.checkedin() == 0 and self.overflow() >= self._max_overflow:
            self.counters.waits += 1
        try:
            return super()._do_get()
        except sa_exc.TimeoutError as error:
            self.counters.timeouts += 1
            raise PoolExhaustedError(
                f"No database connection became free within {self.timeout():g} s: all "
                f"{self.size()} pooled + {self._max_overflow} overflow connections are checked "
                "out. Release sessions promptly (`async with` around each unit of work, no "
                "session held across an LLM call), lower the concurrency, or raise "
                "pool_size/max_overflow/pool_timeout in create_shared_db_engine()."
            ) from error


def pool_stats(engine: AsyncEngine) -> dict[str, Any]:
    """Size, checked in/out, overflow, waits and timeouts of ``engine``'s pool, as a dict."""
    return _snapshot(engine.pool).as_dict()


def _snapshot(pool: Pool) -> PoolStats:
    name = type(pool).__name__
    if not isinstance(pool, QueuePool):
        return PoolStats(name, 0, 0, None, 0, 0, 0, extra={"status": pool.status()})
    counters = pool.counters if isinstance(pool, InstrumentedAsyncQueuePool) else PoolCounters()
    return PoolStats(
        pool=name,
        size=pool.size(),
        max_overflow=pool._max_overflow,
        timeout_seconds=pool.timeout(),
        checked_in=pool.checkedin(),
        checked_out=pool.checkedout(),
        overflow=max(0, pool.overflow()),
        checkouts=counters.checkouts,
        waits=counters.waits,
        timeouts=counters.timeouts,
    )
