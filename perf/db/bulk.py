"""Write many rows in chunks: one ``executemany`` per chunk instead of one ``INSERT`` per row.

Both helpers take an ``AsyncSession`` or ``AsyncConnection`` and do not commit: the caller owns
the transaction. Every row must have the same keys (the first row of each chunk decides the
columns). Rows may come from any iterable, including a generator, and are consumed chunk by
chunk, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Table, insert, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from perf.errors import ConfigurationError

__all__ = ["DEFAULT_CHUNK_SIZE", "bulk_insert", "bulk_upsert"]

DEFAULT_CHUNK_SIZE = 1000

Rows = Iterable[Mapping[str, Any]]


async def bulk_insert(
    db: AsyncSession | AsyncConnection,
    target: type[Any] | Table,
    rows: Rows,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Insert ``rows`` into ``target`` (a model class or ``Table``); the number inserted."""
    table = _table_of(target)
    written = 0
    for chunk in _chunks(rows, chunk_size):
        await db.execute(insert(table), chunk)
        written += len(chunk)
    return written


async def bulk_upsert(
    db: AsyncSession | AsyncConnection,
    target: type[Any] | Table,
    rows: Rows,
    *,
    index_elements: Sequence[str] | None = None,
    update_columns: Sequence[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Insert ``rows``, updating the existing row where ``index_elements`` conflict.

    ``index_elements`` default to the primary key and must match a unique index.
    ``update_columns`` default to every other column present in the rows; an empty list means
    "insert or leave alone" (``ON CONFLICT DO NOTHING``). SQLite and PostgreSQL only.
    Returns the number of rows sent.
    """
    table = _table_of(target)
    keys = list(index_elements or [column.name for column in table.primary_key.columns])
    if not keys:
        raise ConfigurationError(
            f"Table {table.name!r} has no primary key: pass index_elements= naming the "
            "columns of a unique index to detect conflicts on."
        )
    dialect = _dialect_name(db)
    written = 0
    for chunk in _chunks(rows, chunk_size):
        columns = update_columns
        if columns is None:
            columns = [name for name in chunk[0] if name not in keys]
        await db.execute(_upsert_statement(dialect, table, keys, columns), chunk)
        written += len(chunk)
    return written


def _upsert_statement(dialect: str, table: Table, keys: list[str], columns: Sequence[str]) -> Any:
    statement: Any
    if dialect == "sqlite":
        statement = sqlite.insert(table)
    elif dialect == "postgresql":
        statement = postgresql.insert(table)
    else:
        raise ConfigurationError(
            f"bulk_upsert supports SQLite and PostgreSQL, not {dialect!r}; use bulk_insert "
            "or your database's own upsert statement."
        )
    if not columns:
        return statement.on_conflict_do_nothing(index_elements=keys)
    updates = {name: statement.excluded[name] for name in columns}
    return statement.on_conflict_do_update(index_elements=keys, set_=updates)


def _table_of(target: type[Any] | Table) -> Table:
    if isinstance(target, Table):
        return target
    table = inspect(target).local_table
    if not isinstance(table, Table):
        raise ConfigurationError(f"{target!r} is not mapped to a single table.")
    return table


def _dialect_name(db: AsyncSession | AsyncConnection) -> str:
    if isinstance(db, AsyncSession):
        return db.get_bind().dialect.name
    return db.dialect.name


def _chunks(rows: Rows, size: int) -> Iterator[list[Mapping[str, Any]]]:
    if size < 1:
        raise ConfigurationError(f"chunk_size must be at least 1, got {size}.")
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk
