"""SQLiteCache never discards a healthy cache: locks, read-only files, damaged rows, files
that are not ours. Faults that need another process get a real one."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perf.cache import CorrelationCache, SQLiteCache
from perf.errors import CacheCorruptError

# A writer in another process: takes the write lock, writes part of a batch, says "holding",
# and commits only when told (a line on stdin), so it holds the lock as long as the test needs.
HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute(sys.argv[2])
    if sys.argv[3] == "insert":
        conn.execute("INSERT INTO perf_cache VALUES ('from-writer', x'37', 0, 9e18)")
    print("holding", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    """
)


class Holder:
    """A process holding a SQLite lock on ``path`` until ``release()``."""

    def __init__(self, path: Path, begin: str = "BEGIN IMMEDIATE", insert: bool = False):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), begin, "insert" if insert else "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "holding\n"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.communicate("commit\n", timeout=30)
        assert self.proc.returncode == 0


@pytest.fixture
def holders():
    """Start lock holders with ``holders(path, ...)``; each is released at the end."""
    started: list[Holder] = []

    def start(path: Path, begin: str = "BEGIN IMMEDIATE", insert: bool = False) -> Holder:
        started.append(Holder(path, begin, insert))
        return started[-1]

    yield start
    for holder in started:
        holder.release()


def aside(path: Path) -> list[Path]:
    return list(path.parent.glob(f"{path.name}.corrupt-*"))


# --- locks ---------------------------------------------------------------------------------


def test_open_while_another_process_writes_keeps_the_cache_and_its_rows(tmp_path, holders):
    path = tmp_path / "c.sqlite"
    with SQLiteCache(path) as first:
        first.set("k", 1)
    writer = holders(path, insert=True)  # mid-batch, past our busy timeout
    cache = SQLiteCache(path, busy_timeout=0.05)
    assert aside(path) == []  # not moved aside, not rebuilt
    assert cache.get("k") == 1  # WAL: reads go on under another writer
    assert cache.set("k2", 2) is False  # the write waits busy_timeout, then is dropped
    stats = cache.stats()
    assert (stats["dropped"], stats["errors"], stats["mode"]) == (1, 1, "read_write")
    writer.release()
    assert cache.get("from-writer") == 7  # the writer's rows landed in the cache we use
    assert cache.set("k2", 2) is True and cache.get("k2") == 2


def test_locked_at_open_degrades_then_opens_on_a_later_try(tmp_path, holders, clock):
    path = tmp_path / "c.sqlite"
    path.touch()  # a new, empty file another process holds exclusively (no WAL yet)
    holder = holders(path, begin="BEGIN EXCLUSIVE")
    cache = SQLiteCache(path, busy_timeout=0.05, retry_after=30, clock=clock)
    assert cache.stats()["mode"] == "unavailable"
    assert cache.get("k", "miss") == "miss"
    assert cache.set("k", 1) is False
    stats = cache.stats()
    assert (stats["misses"], stats["dropped"], stats["size"]) == (1, 1, None)
    assert stats["errors"] >= 3  # the open, the lookup, the write
    holder.release()
    assert cache.set("k", 1) is False  # not due yet: no new try before retry_after
    clock.advance(31)
    assert cache.set("k", 1) is True
    assert cache.get("k") == 1 and cache.stats()["mode"] == "read_write"
    assert aside(path) == []


# --- read-only files and directories --------------------------------------------------------

# Root may write any file: as root, the reader runs without the capabilities that bypass file
# permissions (setpriv), so read-only means read-only for it too.
DROP_OVERRIDE = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


@pytest.fixture
def shared_dir(tmp_path):
    """A directory the test may make read-only; made writable again for the clean-up."""
    path = tmp_path / "shared"
    path.mkdir()
    yield path
    path.chmod(0o755)
    for sub in path.iterdir():
        sub.chmod(0o644)


def run_as_reader(code: str, *args: str) -> str:
    """Run ``code`` in another process, one that may not write what the test made read-only."""
    prefix = DROP_OVERRIDE if os.geteuid() == 0 else []
    done = subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


READ_ONLY_USE = """
    import sys
    from perf.cache import SQLiteCache
    cache = SQLiteCache(sys.argv[1])
    stats = cache.get("k"), cache.set("k2", 2), cache.get("k2"), cache.stats()
    print(stats[:3], stats[3]["mode"], stats[3]["dropped"])
"""


def test_read_only_file_serves_lookups_and_drops_writes(shared_dir):
    path = shared_dir / "c.sqlite"
    with SQLiteCache(path) as cache:
        cache.set("k", 1)
    path.chmod(0o444)
    before = path.read_bytes()
    assert run_as_reader(READ_ONLY_USE, str(path)) == "(1, False, None) read_only 1"
    assert path.read_bytes() == before and aside(path) == []


def test_read_only_directory_with_a_writer_running_serves_lookups(shared_dir):
    path = shared_dir / "c.sqlite"
    writer = SQLiteCache(path)  # open, so its -wal and -shm files exist
    writer.set("k", 1)
    shared_dir.chmod(0o555)
    assert run_as_reader(READ_ONLY_USE, str(path)) == "(1, False, None) read_only 1"
    writer.close()


def test_read_only_directory_without_a_writer_is_a_clear_error(shared_dir):
    path = shared_dir / "c.sqlite"
    with SQLiteCache(path) as cache:
        cache.set("k", 1)
    shared_dir.chmod(0o555)
    before = path.read_bytes()
    out = run_as_reader(
        """
        import sys
        from perf.cache import SQLiteCache
        from perf.errors import CacheError
        try:
            SQLiteCache(sys.argv[1])
        except CacheError as exc:
            print(type(exc).__name__, exc)
        """,
        str(path),
    )
    assert out.startswith("CacheError cannot read the cache file")
    assert "make the directory writable" in out
    assert path.read_bytes() == before and aside(path) == []


def test_read_only_directory_and_no_file_is_a_clear_error(shared_dir):
    shared_dir.chmod(0o555)
    out = run_as_reader(
        """
        import sys
        from perf.cache import SQLiteCache
        from perf.errors import CacheError
        try:
            SQLiteCache(sys.argv[1])
        except CacheError as exc:
            print(type(exc).__name__, exc)
        """,
        str(shared_dir / "c.sqlite"),
    )
    assert out.startswith("CacheError cannot create the cache file")
    assert "not writable" in out


def test_damaged_file_in_a_read_only_directory_is_refused_not_renamed(shared_dir):
    path = shared_dir / "c.sqlite"
    path.write_bytes(b"not a database" * 100)
    shared_dir.chmod(0o555)
    out = run_as_reader(
        """
        import sys
        from perf.cache import SQLiteCache
        from perf.errors import CacheCorruptError
        try:
            SQLiteCache(sys.argv[1])
        except CacheCorruptError as exc:
            print(exc)
        """,
        str(path),
    )
    assert "is not a readable SQLite database" in out and "left in place" in out
    assert path.read_bytes().startswith(b"not a database") and aside(path) == []


# --- damaged rows -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [("expires_at", "tomorrow"), ("created_at", "yesterday"), ("value", "text, not bytes")],
)
def test_row_with_wrong_column_types_is_a_counted_miss(tmp_path, column, value):
    path = tmp_path / "c.sqlite"
    cache = SQLiteCache(path)
    cache.set("k", 1)
    cache.set("ok", 2)
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE perf_cache SET {column} = ? WHERE key = 'k'", (value,))
    assert cache.get("k", "miss") == "miss"
    assert cache.get_entry("k", max_age=60)[0] is not None  # MISSING, no TypeError either
    assert cache.get("ok") == 2
    stats = cache.stats()
    assert (stats["misses"], stats["errors"], stats["hits"]) == (2, 2, 1)


def test_damaged_row_through_the_correlation_cache_is_a_miss(tmp_path):
    path = tmp_path / "c.sqlite"
    CorrelationCache(path).set("a", "b", 0.5)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE perf_cache SET expires_at = 'never'")
    assert CorrelationCache(path).get("a", "b") is None


# --- files that are not ours -------------------------------------------------------------------


def file_state(path: Path) -> tuple[bytes, int, int]:
    with sqlite3.connect(path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    return path.read_bytes(), mode, version


def test_foreign_database_is_refused_before_anything_changes(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users VALUES (1, 'ada')")
    before = file_state(path)
    assert before[1] == "delete"
    with pytest.raises(CacheCorruptError, match="not a perf cache"):
        SQLiteCache(path)
    assert file_state(path) == before  # same bytes: journal mode not switched to WAL
    assert not Path(f"{path}-wal").exists()


def test_empty_database_claimed_by_another_program_is_refused(tmp_path):
    # Decision: an empty SQLite file is ours only if nobody has claimed it; a non-zero
    # user_version (or application_id) means another program set it up for its own use.
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 7")
    before = file_state(path)
    with pytest.raises(CacheCorruptError, match=r"claimed \(user_version=7\)"):
        SQLiteCache(path)
    assert file_state(path) == before


def test_empty_unclaimed_file_becomes_a_cache(tmp_path):
    path = tmp_path / "c.sqlite"
    sqlite3.connect(path).close()  # an empty SQLite file, user_version 0
    path.touch()
    with SQLiteCache(path) as cache:
        assert cache.set("k", 1) and cache.get("k") == 1
    assert file_state(path)[1:] == ("wal", 0)
