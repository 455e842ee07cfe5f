"""One pooled ``AsyncEngine`` per database URL per process, shared by every service in it.

* File SQLite (``sqlite+aiosqlite:///path``): an instrumented queue pool of ``pool_size`` +
  ``max_overflow`` connections; WAL, ``synchronous=NORMAL``, a busy timeout and foreign keys
  are set on every new connection.
* In-memory SQLite: the database lives inside one connection, so the pool holds exactly one
  (``pool_size``/``max_overflow`` do not apply). Concurrent sessions take turns on it instead
  of silently sharing one transaction, as SQLAlchemy's default ``StaticPool`` would make them.
  Use a file when you need real concurrency.
* Server databases (``postgresql+asyncpg://...``): the same queue pool, plus ``pool_pre_ping``
  (drop connections the server closed) and ``pool_recycle`` (renew before idle timeouts).

Call :func:`dispose_shared_engines` at shutdown (and between event loops, in tests).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from perf.db.pool import InstrumentedAsyncQueuePool, pool_stats
from perf.db.sqlite_pragmas import install_sqlite_pragmas, is_memory_sqlite
from perf.errors import ConfigurationError

__all__ = [
    "EngineSettings",
    "create_shared_db_engine",
    "dispose_shared_engines",
    "shared_engine_stats",
]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """The settings a shared engine was built with; a second call must ask for the same."""

    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_recycle: int
    pool_pre_ping: bool
    sqlite_busy_timeout_ms: int
    engine_kwargs: str  # repr of the extra keyword arguments, compared as text


_lock = threading.Lock()
_engines: dict[str, tuple[AsyncEngine, EngineSettings]] = {}


def create_shared_db_engine(
    database_url: str | URL,
    pool_size: int = 10,
    max_overflow: int = 5,
    *,
    pool_timeout: float = 30.0,
    pool_recycle: int = 1800,
    pool_pre_ping: bool = True,
    sqlite_busy_timeout_ms: int = 5000,
    **engine_kwargs: Any,
) -> AsyncEngine:
    """The process-wide ``AsyncEngine`` for ``database_url``, created on first use.

    ``pool_size`` connections stay open; up to ``max_overflow`` more open under load. A checkout
    that finds none free within ``pool_timeout`` seconds raises ``PoolExhaustedError``.
    ``pool_recycle`` and ``pool_pre_ping`` apply to server databases, ``sqlite_busy_timeout_ms``
    to SQLite. Extra keyword arguments go to ``create_async_engine``. Asking again for the same
    URL with different settings raises ``ConfigurationError``.
    """
    url = make_url(database_url)
    _validate(pool_size, max_overflow, pool_timeout, pool_recycle, sqlite_busy_timeout_ms)
    _check_engine_kwargs(engine_kwargs)
    settings = EngineSettings(
        pool_size,
        max_overflow,
        float(pool_timeout),
        pool_recycle,
        pool_pre_ping,
        sqlite_busy_timeout_ms,
        repr(sorted(engine_kwargs.items())),
    )
    key = url.render_as_string(hide_password=False)
    with _lock:
        existing = _engines.get(key)
        if existing is not None:
            engine, old = existing
            if old != settings:
                raise ConfigurationError(
                    f"A shared engine for {url!r} already exists with {old}; asked for "
                    f"{settings}. Pass the same settings everywhere in the process, or call "
                    "dispose_shared_engines() before changing them."
                )
            return engine
        engine = _build_engine(url, settings, engine_kwargs)
        _engines[key] = (engine, settings)
        return engine


async def dispose_shared_engines() -> None:
    """Close every shared engine's connections and forget the engines (for shutdown)."""
    with _lock:
        engines = [engine for engine, _ in _engines.values()]
        _engines.clear()
    for engine in engines:
        await engine.dispose()


def shared_engine_stats() -> dict[str, dict[str, Any]]:
    """Pool statistics of every shared engine, keyed by URL (password hidden), JSON-ready."""
    with _lock:
        engines = [engine for engine, _ in _engines.values()]
    return {
        engine.url.render_as_string(hide_password=True): pool_stats(engine) for engine in engines
    }


def _build_engine(url: URL, settings: EngineSettings, engine_kwargs: dict[str, Any]) -> AsyncEngine:
    if url.get_backend_name() == "sqlite":
        memory = is_memory_sqlite(url)
        engine = create_async_engine(
            url,
            poolclass=InstrumentedAsyncQueuePool,
            pool_size=1 if memory else settings.pool_size,
            max_overflow=0 if memory else settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            **engine_kwargs,
        )
        install_sqlite_pragmas(
            engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms, wal=not memory
        )
        return engine
    return create_async_engine(
        url,
        poolclass=InstrumentedAsyncQueuePool,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        **engine_kwargs,
    )


def _validate(
    pool_size: int, max_overflow: int, pool_timeout: float, pool_recycle: int, busy_ms: int
) -> None:
    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not whole(pool_size) or pool_size < 1:
        raise ConfigurationError(f"pool_size must be a whole number >= 1, got {pool_size!r}.")
    if not whole(max_overflow) or max_overflow < 0:
        raise ConfigurationError(f"max_overflow must be a whole number >= 0, got {max_overflow!r}.")
    if not (
        isinstance(pool_timeout, int | float)
        and not isinstance(pool_timeout, bool)
        and 0 < pool_timeout < math.inf
    ):
        raise ConfigurationError(
            f"pool_timeout must be a finite number of seconds > 0, got {pool_timeout!r}; "
            "an exhausted pool should fail in time, not hang."
        )
    if not whole(pool_recycle):
        raise ConfigurationError(
            f"pool_recycle must be whole seconds (-1 for never), got {pool_recycle!r}."
        )
    if not whole(busy_ms) or busy_ms < 0:
        raise ConfigurationError(
            f"sqlite_busy_timeout_ms must be a whole number >= 0, got {busy_ms!r}."
        )


def _check_engine_kwargs(engine_kwargs: dict[str, Any]) -> None:
    # The pool is chosen here; passing one again fails deep inside create_async_engine with
    # "got multiple values for keyword argument 'poolclass'".
    clash = sorted({"poolclass", "pool"} & engine_kwargs.keys())
    if clash:
        raise ConfigurationError(
            f"create_shared_db_engine chooses the pool itself, so {', '.join(clash)}= cannot "
            "be passed; tune it with pool_size, max_overflow and pool_timeout, or, for another "
            "pool (e.g. NullPool), call sqlalchemy's create_async_engine directly."
        )
