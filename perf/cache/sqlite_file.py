"""Opening a SQLite cache file without harming it: look first, change second.

``open_cache_file`` reads the file before it writes anything, and sorts it into one of:

- a perf cache, or an empty SQLite file (no tables, ``user_version`` and ``application_id``
  0, as a fresh file is): opened, given the schema if it lacks it, switched to WAL;
- damaged, which only SQLite itself decides ("database disk image is malformed", "file is
  not a database"): ``DamagedFile``, for the cache to move aside or refuse;
- locked past the busy timeout by another connection: ``FileLocked``, for the cache to
  degrade to misses and dropped writes and try again later (a lock is not damage);
- someone else's: tables other than ours, another cache format, or no tables but a
  ``user_version``/``application_id`` another program has set (it has claimed the file):
  ``CacheCorruptError``, and the file is left exactly as it was;
- read-only (the file or its directory is not writable by this process): opened with
  ``mode=ro`` and nothing changed, so lookups work and writes are dropped.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from perf.errors import CacheCorruptError, CacheError

__all__ = ["FORMAT", "CacheFile", "DamagedFile", "FileLocked", "open_cache_file", "open_or_rebuild"]

log = logging.getLogger("perf.cache.sqlite")

FORMAT = "perf-cache-1"
SCHEMA = (
    "CREATE TABLE perf_cache_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"INSERT INTO perf_cache_meta VALUES ('format', '{FORMAT}')",
    "CREATE TABLE perf_cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
    "created_at REAL NOT NULL, expires_at REAL NOT NULL)",
)
_DAMAGE = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class DamagedFile(Exception):
    """SQLite reports the file as malformed or not a database; ``cause`` is its error."""

    def __init__(self, cause: sqlite3.Error) -> None:
        super().__init__(str(cause))
        self.cause = cause


class FileLocked(sqlite3.OperationalError):
    """Another connection held a lock past the busy timeout (or the cache is waiting to
    retry its open): a miss or a dropped write now, never a reason to touch the file."""


class CacheFile:
    """The connection to one cache file: opened safely, and opened again after a lock.

    The owner serializes calls (the cache's lock) and gets faults through ``on_fault``.
    """

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float,
        on_corrupt: str,
        retry_after: float,
        clock: Callable[[], float],
        on_fault: Callable[[str, Exception], object],
    ) -> None:
        self.path = path
        self.read_only = False
        self._busy_timeout = busy_timeout
        self._on_corrupt = on_corrupt
        self._retry_after = retry_after
        self._clock = clock
        self._on_fault = on_fault
        self._conn: sqlite3.Connection | None = None
        self._retry_at = 0.0
        self._open(first=True)

    @property
    def mode(self) -> str:
        if self._conn is None:
            return "unavailable"
        return "read_only" if self.read_only else "read_write"

    def connection(self) -> sqlite3.Connection:
        """The open connection, or one more try at opening once it is due; else FileLocked."""
        if self._conn is None:
            if self._clock() < self._retry_at:
                raise FileLocked(f"{self.path} could not be opened yet; waiting to try again")
            self._open()
            if self._conn is None:
                raise FileLocked(f"{self.path} is still locked by another connection")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _open(self, *, first: bool = False) -> None:
        # Raises (CacheError) only on the first open, from the cache's constructor: a later
        # try that fails is a fault like any other, and the cache stays unavailable.
        try:
            self._conn, self.read_only = open_or_rebuild(
                self.path, self._busy_timeout, self._on_corrupt
            )
        except FileLocked as exc:
            self._retry_at = self._clock() + self._retry_after
            self._on_fault(f"open (next try in {self._retry_after:g} s)", exc)
        except CacheError as exc:
            if first:
                raise
            self._retry_at = self._clock() + self._retry_after
            self._on_fault("open", exc)
        else:
            if self.read_only:
                log.warning("perf cache %s is read-only for this process: lookups only", self.path)


def open_cache_file(path: Path, busy_timeout: float) -> tuple[sqlite3.Connection, bool]:
    """A connection to the cache at ``path`` and whether it is read-only.

    Raises DamagedFile, FileLocked, or CacheError (CacheCorruptError for a file that is not
    ours) saying what was wrong and what to do.
    """
    read_only = not _writable(path)
    if read_only and not path.exists():
        raise CacheError(
            f"cannot create the cache file {path}: directory {path.parent} is not writable by "
            "this process; make it writable or choose another cache directory"
        )
    try:
        conn = _connect(path, busy_timeout, read_only)
    except sqlite3.Error as exc:
        raise _classified(exc, path) from exc
    try:
        missing = _inspect(conn, path)
        if read_only and missing:
            raise CacheError(
                f"{path} holds no cache yet and is read-only for this process, so none can "
                "be created; make it writable or choose another path"
            )
        if not read_only:
            _prepare(conn, path, missing)
    except sqlite3.Error as exc:
        conn.close()
        raise _classified(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn, read_only


def open_or_rebuild(
    path: Path, busy_timeout: float, on_corrupt: str
) -> tuple[sqlite3.Connection, bool]:
    """``open_cache_file``; a damaged file is moved aside and a new cache built in its place
    (``on_corrupt="rebuild"``, when this process may write it) or refused."""
    try:
        return open_cache_file(path, busy_timeout)
    except DamagedFile as damaged:
        exc = damaged.cause
        if on_corrupt == "raise" or not _writable(path):
            raise CacheCorruptError(
                f"{path} is not a readable SQLite database ({exc}); delete or move it"
                + (
                    ", or pass on_corrupt='rebuild' to move it aside automatically"
                    if on_corrupt == "raise"
                    else " (it is read-only for this process, so it was left in place)"
                )
            ) from exc
        aside = path.with_name(f"{path.name}.corrupt-{time.time_ns()}")
        try:
            path.rename(aside)
        except OSError as moving:
            raise CacheCorruptError(
                f"{path} is damaged ({exc}) and cannot be moved aside ({moving}); delete it, "
                "or make its directory writable"
            ) from moving
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        log.warning("perf cache %s was corrupt (%s); moved it to %s and rebuilt", path, exc, aside)
        return open_cache_file(path, busy_timeout)


def _base_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _classified(exc: sqlite3.Error, path: Path) -> Exception:
    code = _base_code(exc)
    if code in _DAMAGE:
        return DamagedFile(exc)
    if code in _BUSY:
        return FileLocked(f"{path} is locked by another connection ({exc})")
    name = getattr(exc, "sqlite_errorname", type(exc).__name__)
    if code == sqlite3.SQLITE_READONLY:
        return CacheError(
            f"cannot read the cache file {path} read-only: its directory is not writable by "
            "this process and no writer has the cache open, so SQLite cannot create the -shm "
            f"file a WAL reader needs ({exc}, {name}); make the directory writable"
        )
    return CacheError(
        f"cannot open the cache file {path}: {exc} ({name}); check that this process may "
        "read it and write its directory, or choose another path"
    )


def _writable(path: Path) -> bool:
    # WAL needs the -wal and -shm files beside the database: the directory must be writable.
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return False
    return not path.exists() or os.access(path, os.R_OK | os.W_OK)


def _connect(path: Path, busy_timeout: float, read_only: bool) -> sqlite3.Connection:
    target = str(path)
    if read_only:
        # On a read-only file system nobody can change the file: SQLite may then skip the
        # -shm file a WAL reader otherwise needs (and cannot create in such a directory).
        frozen = os.statvfs(path.parent).f_flag & os.ST_RDONLY
        target = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if frozen else "")
    return sqlite3.connect(
        target,
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        uri=read_only,
    )


def _inspect(conn: sqlite3.Connection, path: Path) -> tuple[str, ...]:
    """Reads only: raise unless the file is ours or empty; the schema statements it lacks."""
    tables = _tables(conn)
    if "perf_cache_meta" not in tables:
        if tables:
            raise CacheCorruptError(
                f"{path} is a SQLite database but not a perf cache (tables: "
                f"{', '.join(sorted(tables))}); refusing to touch it: choose another path"
            )
        claims = [
            f"{pragma}={value}"
            for pragma in ("user_version", "application_id")
            if (value := conn.execute(f"PRAGMA {pragma}").fetchone()[0])
        ]
        if claims:
            raise CacheCorruptError(
                f"{path} is an empty SQLite database that another program has claimed "
                f"({', '.join(claims)}); refusing to touch it: choose another path, or delete "
                "the file if it is not needed"
            )
        return SCHEMA
    found = conn.execute("SELECT value FROM perf_cache_meta WHERE name='format'").fetchone()
    if found is None or found[0] != FORMAT:
        raise CacheCorruptError(
            f"{path} holds cache format {found and found[0]!r}, this perf reads "
            f"{FORMAT!r}: delete the file to start a new cache, or use another path"
        )
    return () if "perf_cache" in tables else SCHEMA[2:]


def _prepare(conn: sqlite3.Connection, path: Path, missing: tuple[str, ...]) -> None:
    """Create what the schema lacks (looking again under the write lock), then WAL mode."""
    if missing:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _inspect(conn, path):  # another process may have been first
                conn.execute(statement)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
