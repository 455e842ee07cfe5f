"""The SQLite tier: a persistent cache shared by processes, with per-row TTL and a size cap."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from perf.cache._validate import DEFAULT_TTL, check_db_path, check_size, check_ttl
from perf.cache.memory import MISSING
from perf.cache.serializers import JSONSerializer, Serializer
from perf.cache.sqlite_file import CacheFile
from perf.cache.stats import CacheStats
from perf.errors import ConfigurationError, SerializationError

__all__ = ["SQLiteCache"]

log = logging.getLogger(__name__)

SELECT_ROW = "SELECT value, created_at, expires_at FROM perf_cache WHERE key = ?"
UPSERT = "INSERT OR REPLACE INTO perf_cache (key, value, created_at, expires_at) VALUES (?,?,?,?)"
EVICT_SHARE = 0.1  # each eviction round drops this share of the rows, oldest write first
EVICT_TARGET = 0.9  # evict down to this share of max_bytes, so writes don't evict every time

# Faults that make a lookup a miss and a write a dropped write, never an exception in the hot
# path: a database locked past the busy timeout, or a file damaged while open.
_FAULTS = (sqlite3.OperationalError, sqlite3.DatabaseError)


class SQLiteCache:
    """A cache in one SQLite file, safe to share between threads and processes.

    WAL mode, ``synchronous=NORMAL`` and a busy timeout: a ``set`` is visible to other
    processes as soon as it returns. Expired rows are misses; they are purged on the write
    path when the file nears ``max_bytes`` (reads never write). Over the cap, the rows
    written longest ago go first.

    Faults never raise from lookups and writes: a database locked past ``busy_timeout``, a
    file damaged while open, or a row whose columns have the wrong types makes a lookup a
    miss and a write a dropped write (``errors`` and ``dropped`` in ``stats()``).

    Opening looks at the file before changing anything (``perf.cache.sqlite_file``). Locked
    past ``busy_timeout``: the cache starts ``unavailable`` and tries again ``retry_after``
    seconds later. Read-only for this process: ``read_only``, lookups only. Damaged, as
    SQLite itself reports it: moved aside to ``<path>.corrupt-<time>`` and rebuilt
    (``on_corrupt="rebuild"``) or refused (``"raise"``; always when read-only). A SQLite
    database that is not a perf cache, including an empty one whose ``user_version`` or
    ``application_id`` another program has set: refused with CacheCorruptError, untouched.
    ``stats()["mode"]`` is ``read_write``, ``read_only`` or ``unavailable``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = 20 * 1024 * 1024,
        default_ttl: float = DEFAULT_TTL,
        serializer: Serializer | None = None,
        busy_timeout: float = 1.0,
        on_corrupt: str = "rebuild",
        retry_after: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = check_db_path(path)
        self.max_bytes = check_size(max_bytes, "max_bytes")
        self.default_ttl = check_ttl(default_ttl, "default_ttl")
        if on_corrupt not in ("rebuild", "raise"):
            raise ConfigurationError(f"on_corrupt must be 'rebuild' or 'raise', got {on_corrupt!r}")
        if busy_timeout < 0:
            raise ConfigurationError(f"busy_timeout must be >= 0 seconds, got {busy_timeout!r}")
        check_ttl(retry_after, "retry_after")
        self._serializer = serializer or JSONSerializer()
        self._clock = clock
        self._lock = threading.Lock()
        self._stats = CacheStats()
        self._dropped = 0
        self._written_since_check = 0
        self._check_every = max(self.max_bytes // 64, 4096)
        self._file = CacheFile(
            self.path,
            busy_timeout=busy_timeout,
            on_corrupt=on_corrupt,
            retry_after=retry_after,
            clock=clock,
            on_fault=self._write_fault,
        )

    # -- lookups ---------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` when absent, expired or unreadable."""
        value, _created, _expires = self.get_entry(key)
        return default if value is MISSING else value

    def get_entry(self, key: str, max_age: float | None = None) -> tuple[Any, float, float]:
        """``(value, created_at, expires_at)``, or ``(MISSING, 0, 0)`` on a miss.

        ``max_age`` also turns entries written more than that many seconds ago into misses.
        """
        _check_key(key)
        try:
            with self._lock:
                row = self._file.connection().execute(SELECT_ROW, (key,)).fetchone()
        except _FAULTS as exc:
            return self._read_fault("read", exc)
        now = self._clock()
        if row is not None and not _well_typed(row):
            types = ", ".join(type(column).__name__ for column in row)
            return self._read_fault(f"read of {key!r}", TypeError(f"column types {types}"))
        if row is None or (max_age is not None and row[1] + max_age <= now):
            self._stats.misses += 1
            return MISSING, 0.0, 0.0
        if row[2] <= now:
            self._stats.expirations += 1
            self._stats.misses += 1
            return MISSING, 0.0, 0.0
        try:
            value = self._serializer.loads(row[0])
        except Exception as exc:  # a bad row is a miss, whatever the serializer raised
            return self._read_fault(f"decode of {key!r}", exc)
        self._stats.hits += 1
        return value, row[1], row[2]

    # -- writes ----------------------------------------------------------------------------

    def set(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` for ``ttl`` seconds; False if the database refused the write."""
        ttl = self.default_ttl if ttl is None else check_ttl(ttl)
        now = self._clock()
        return self._write([(_check_key(key), self._encode(value), now, now + ttl)])

    def set_many(
        self, items: Mapping[str, Any] | Iterable[tuple[str, Any]], ttl: float | None = None
    ) -> bool:
        """Store many values in one transaction; False if the database refused the write."""
        ttl = self.default_ttl if ttl is None else check_ttl(ttl)
        now = self._clock()
        pairs = items.items() if isinstance(items, Mapping) else items
        return self._write([(_check_key(k), self._encode(v), now, now + ttl) for k, v in pairs])

    def delete(self, key: str) -> bool:
        """Drop ``key``; True if it was present."""
        return self._delete("key = ?", (_check_key(key),)) > 0

    def invalidate_prefix(self, prefix: str) -> int:
        """Drop every key that starts with ``prefix``; returns how many."""
        if not prefix:
            return self._delete("1", ())
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return self._delete("key >= ? AND key < ?", (prefix, upper))

    def invalidate_suffix(self, suffix: str) -> int:
        """Drop every key that ends with ``suffix`` (a scan); returns how many."""
        return self._delete("substr(key, -?) = ?", (len(suffix), suffix))

    def purge_expired(self) -> int:
        """Drop every expired row now; returns how many."""
        dropped = self._delete("expires_at <= ?", (self._clock(),))
        self._stats.expirations += dropped
        return dropped

    def clear(self) -> None:
        """Drop every entry."""
        self._delete("1", ())

    # -- introspection ---------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return int(
                self._file.connection().execute("SELECT COUNT(*) FROM perf_cache").fetchone()[0]
            )

    def size_bytes(self) -> int:
        """Bytes of the database in use (pages not on the free list)."""
        with self._lock:
            return _used_bytes(self._file.connection())

    def stats(self) -> dict[str, Any]:
        """Hits, misses, hit_rate, sets, evictions, expirations, errors, dropped (writes not
        stored), size, bytes and mode (read_write, read_only or unavailable).

        ``size`` and ``bytes`` are None while the file cannot be read.
        """
        try:
            size: int | None = len(self)
            used: int | None = self.size_bytes()
        except _FAULTS:
            size = used = None
        return self._stats.as_dict(
            dropped=self._dropped, size=size, bytes=used, max_bytes=self.max_bytes, mode=self.mode
        )

    @property
    def mode(self) -> str:
        """``read_write``, ``read_only``, or ``unavailable`` (locked at open; retried later)."""
        return self._file.mode

    def reset_stats(self) -> None:
        self._stats.reset()
        self._dropped = 0

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> SQLiteCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _write(self, rows: list[tuple[str, bytes, float, float]]) -> bool:
        try:
            with self._lock:
                conn = self._file.connection()
                if len(rows) == 1:
                    conn.execute(UPSERT, rows[0])  # one statement: its own transaction
                else:
                    with self._transaction(conn):
                        conn.executemany(UPSERT, rows)
                self._stats.sets += len(rows)
                self._written_since_check += (
                    len(rows[0][1]) if len(rows) == 1 else sum(len(row[1]) for row in rows)
                )
                if self._written_since_check >= self._check_every:
                    self._written_since_check = 0
                    self._enforce_size(conn)
        except _FAULTS as exc:
            self._dropped += len(rows)
            return self._write_fault("write", exc)
        return True

    def _encode(self, value: Any) -> bytes:
        data = self._serializer.dumps(value)
        if len(data) > self.max_bytes // 4:
            raise SerializationError(
                f"a value of {len(data)} bytes is too big for a cache of max_bytes="
                f"{self.max_bytes} (at most a quarter of it); raise max_bytes or store less"
            )
        return data

    @staticmethod
    @contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _delete(self, where: str, params: tuple[object, ...]) -> int:
        try:
            with self._lock:
                conn = self._file.connection()
                return conn.execute(f"DELETE FROM perf_cache WHERE {where}", params).rowcount
        except _FAULTS as exc:
            self._write_fault("delete", exc)
            return 0

    def _enforce_size(self, conn: sqlite3.Connection) -> None:
        """Under the lock: purge expired rows, then evict the oldest writes."""
        if _used_bytes(conn) <= self.max_bytes:
            return
        purged = conn.execute(
            "DELETE FROM perf_cache WHERE expires_at <= ?", (self._clock(),)
        ).rowcount
        self._stats.expirations += purged
        while _used_bytes(conn) > self.max_bytes * EVICT_TARGET:
            rows = conn.execute("SELECT COUNT(*) FROM perf_cache").fetchone()[0]
            if rows == 0:
                break
            self._stats.evictions += conn.execute(
                "DELETE FROM perf_cache WHERE rowid IN "
                "(SELECT rowid FROM perf_cache ORDER BY rowid LIMIT ?)",
                (max(1, int(rows * EVICT_SHARE)),),
            ).rowcount

    def _read_fault(self, what: str, exc: Exception) -> tuple[Any, float, float]:
        self._stats.misses += 1
        self._write_fault(what, exc)
        return MISSING, 0.0, 0.0

    def _write_fault(self, what: str, exc: Exception) -> bool:
        # Every fault is counted; the first is logged as a warning, the rest at debug level,
        # so a broken cache file cannot flood the service's log.
        self._stats.errors += 1
        level = logging.WARNING if self._stats.errors == 1 else logging.DEBUG
        log.log(
            level, "perf cache %s: %s failed (%s); carrying on without it", self.path, what, exc
        )
        return False


def _used_bytes(conn: sqlite3.Connection) -> int:
    pages, free, size = (
        conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("page_count", "freelist_count", "page_size")
    )
    return int((pages - free) * size)


def _well_typed(row: tuple[Any, Any, Any]) -> bool:
    """A row as this cache writes it: bytes, then two numbers (SQLite columns are loose)."""
    value, created_at, expires_at = row
    return (
        isinstance(value, bytes)
        and isinstance(created_at, int | float)
        and isinstance(expires_at, int | float)
    )


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise SerializationError(
            f"SQLite cache keys are str, got {type(key).__name__} {key!r}; build a string key"
        )
    return key
