"""Fetch many rows by id in a few ``IN`` queries instead of one query per id.

``SQLAlchemy`` sends an ``IN`` list as one bound parameter per element and never splits it;
upstream SQLite refuses statements with more than 32,766 host parameters (999 before SQLite
3.32; some distributions raise the limit, Debian to 250,000), and PostgreSQL's wire protocol
stops at 65,535. ``batch_fetch`` chunks the ids below the lowest of those limits.

The default chunk of 500 ids was measured (aiosqlite, file database, ``benchmarks/bench_db.py``
and a sweep): each extra round trip costs ~0.65 ms, about as much as reading 70 rows. Fetching
1,000 rows took 16.9 ms in chunks of 100, 12.6 ms in 250, 10.5 ms in 500 and 10.2 ms as one
``IN``; 5,000 rows took 102 / 71 / 60 ms in chunks of 100 / 250 / 500 and 46-52 ms in chunks
of 2,000-5,000. Chunks of 100 cost 1.6-2x the fewest round trips; 500 stays within 1.05x
(1,000 rows) to 1.3x (5,000 rows) of them while keeping each statement to 500 parameters
(shorter SQL, and on PostgreSQL smaller prepared statements). Pass ``batch_size`` to trade
differently.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from perf.errors import ConfigurationError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH_SIZE",
    "batch_fetch",
    "check_size",
    "chunked",
    "max_batch_size_for",
    "unique_in_order",
]

DEFAULT_BATCH_SIZE = 500
# SQLite >= 3.32 allows 32,766 host parameters; leave room for the query's own parameters.
MAX_BATCH_SIZE = 32_000
_OLD_SQLITE_MAX_BATCH_SIZE = 900  # SQLite < 3.32 allows 999

IdT = TypeVar("IdT", bound=Hashable)
T = TypeVar("T")


def unique_in_order(ids: Iterable[IdT]) -> list[IdT]:
    """``ids`` without repeats, each at its first position.

    A string, a single id or unhashable ids raise ConfigurationError: ``"123"`` would
    otherwise be fetched as the ids ``"1"``, ``"2"``, ``"3"`` and silently find nothing.
    """
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise ConfigurationError(
            f"ids must be an iterable of ids (a list, set, range or generator), got {ids!r:.80}; "
            "wrap a single id in a list: [id]"
        )
    try:
        return list(dict.fromkeys(ids))
    except TypeError as exc:
        raise ConfigurationError(
            f"ids must be hashable values such as ints or strings ({exc}); pass the ids "
            "themselves, not rows or lists"
        ) from exc


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    check_size("chunk size", size)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def max_batch_size_for(db: AsyncSession | AsyncConnection) -> int:
    """The largest ``IN`` list that is safe on ``db``'s database."""
    dialect = db.get_bind().dialect if isinstance(db, AsyncSession) else db.dialect
    if dialect.name == "sqlite":
        version = getattr(dialect.dbapi, "sqlite_version_info", (3, 32, 0))
        if tuple(version) < (3, 32, 0):
            return _OLD_SQLITE_MAX_BATCH_SIZE
    return MAX_BATCH_SIZE


async def batch_fetch(
    db: AsyncSession | AsyncConnection,
    query_factory: Callable[[list[IdT]], Executable],
    ids: Iterable[IdT],
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    key: Callable[[Any], Hashable] | None = None,
    scalars: bool = True,
) -> list[Any]:
    """Run ``query_factory(chunk)`` for each chunk of the de-duplicated ``ids``; all results.

    ``ids`` may be any iterable (generator, set, list with repeats); repeats are dropped.
    ``batch_size`` is capped at the database's host-parameter limit. With ``scalars=True``
    (the default) each result is the row's first element, e.g. the ORM object of
    ``select(Model)``; with ``scalars=False`` it is the whole ``Row``.

    Order: chunks follow the ids' first appearance, and within a chunk rows come in the
    database's order (the statement's ``ORDER BY``, if any). Pass ``key`` (e.g.
    ``key=lambda user: user.id``) to get the results sorted into the order of ``ids``
    instead; rows sharing a key keep their relative order, rows with a key not among ``ids``
    go last.
    """
    check_size("batch_size", batch_size)
    unique_ids = unique_in_order(ids)
    size = min(batch_size, max_batch_size_for(db))
    results: list[Any] = []
    for chunk in chunked(unique_ids, size):
        result = await db.execute(query_factory(list(chunk)))
        results.extend(result.scalars().all() if scalars else result.all())
    if key is None:
        return results
    position: dict[Hashable, int] = {id_: index for index, id_ in enumerate(unique_ids)}
    last = len(position)
    return sorted(results, key=lambda row: position.get(key(row), last))


def check_size(name: str, size: object) -> None:
    """ConfigurationError unless ``size`` is a whole number >= 1."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigurationError(f"{name} must be a whole number >= 1, got {size!r}.")
