"""SQLite connection pragmas, applied on every new connection of an engine.

Under aiosqlite the ``connect`` event receives SQLAlchemy's adapter object, not a
``sqlite3.Connection``; a listener that checks ``isinstance(conn, sqlite3.Connection)`` silently
does nothing. This one only uses the DB-API ``cursor()``/``execute()`` that both provide.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, event
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["install_sqlite_pragmas", "is_memory_sqlite", "sqlite_pragmas"]


def is_memory_sqlite(url: URL) -> bool:
    """True for ``sqlite://``, ``:memory:`` and ``mode=memory`` URLs."""
    database = url.database or ""
    return database in {"", ":memory:"} or url.query.get("mode") == "memory"


def sqlite_pragmas(*, busy_timeout_ms: int, wal: bool) -> list[str]:
    """The pragma statements run on each new connection, in order."""
    pragmas = [f"PRAGMA busy_timeout = {int(busy_timeout_ms)}", "PRAGMA foreign_keys = ON"]
    if wal:  # WAL needs a file; a memory database keeps its own journal mode
        pragmas += ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"]
    return pragmas


def install_sqlite_pragmas(engine: AsyncEngine, *, busy_timeout_ms: int, wal: bool) -> None:
    """Run :func:`sqlite_pragmas` on every connection ``engine`` opens from now on."""
    statements = sqlite_pragmas(busy_timeout_ms=busy_timeout_ms, wal=wal)

    def apply_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()

    event.listen(engine.sync_engine, "connect", apply_pragmas)
