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

from perf.db.batch import check_size
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
    ``update_columns`` default to every other column present in the rows except the primary
    key (an upsert on another unique index must not rewrite the existing row's id); an empty
    list means "insert or leave alone" (``ON CONFLICT DO NOTHING``). SQLite and PostgreSQL
    only. Returns the number of rows sent.
    """
    table = _table_of(target)
    primary_key = [column.name for column in table.primary_key.columns]
    keys = _known_columns(table, "index_elements", index_elements or primary_key)
    if not keys:
        raise ConfigurationError(
            f"Table {table.name!r} has no primary key: pass index_elements= naming the "
            "columns of a unique index to detect conflicts on."
        )
    if update_columns is not None:
        update_columns = _known_columns(table, "update_columns", update_columns)
    dialect = _dialect_name(db)
    written = 0
    for chunk in _chunks(rows, chunk_size):
        columns = update_columns
        if columns is None:
            columns = [name for name in chunk[0] if name not in keys and name not in primary_key]
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


def _known_columns(table: Table, argument: str, names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        raise ConfigurationError(f"{argument} must be a list of column names, write [{names!r}].")
    unknown = [name for name in names if name not in table.columns]
    if unknown:
        raise ConfigurationError(
            f"{argument} names {', '.join(map(repr, unknown))}, not columns of {table.name!r}; "
            f"its columns: {', '.join(table.columns.keys())}."
        )
    return list(names)


def _dialect_name(db: AsyncSession | AsyncConnection) -> str:
    if isinstance(db, AsyncSession):
        return db.get_bind().dialect.name
    return db.dialect.name


def _chunks(rows: Rows, size: int) -> Iterator[list[Mapping[str, Any]]]:
    check_size("chunk_size", size)
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk
