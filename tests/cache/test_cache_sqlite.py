from __future__ import annotations

import logging
import pickle
import sqlite3
import subprocess
import sys
import threading

import pytest

from perf.cache import PickleSerializer, SQLiteCache
from perf.errors import CacheCorruptError, ConfigurationError, SerializationError


def test_persists_across_instances(tmp_path, clock):
    path = tmp_path / "c.sqlite"
    with SQLiteCache(path, clock=clock) as first:
        first.set("k", [1, 2])
    with SQLiteCache(path, clock=clock) as second:
        assert second.get("k") == [1, 2]


def test_visible_to_another_process_once_set_returns(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = SQLiteCache(path)
    cache.set("from-parent", "hello")
    code = (
        "import sys; from perf.cache import SQLiteCache; c = SQLiteCache(sys.argv[1]); "
        "assert c.get('from-parent') == 'hello'; c.set('from-child', 42)"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    assert cache.get("from-child") == 42


def test_expired_rows_are_misses_and_purged(tmp_path, clock):
    cache = SQLiteCache(tmp_path / "c.sqlite", clock=clock)
    cache.set("old", 1, ttl=5)
    cache.set("new", 2, ttl=500)
    clock.advance(10)
    assert cache.get("old") is None
    assert len(cache) == 2  # the read did not write
    assert cache.purge_expired() == 1
    assert len(cache) == 1


def test_size_cap_evicts_oldest_writes(tmp_path, clock):
    cap = 256 * 1024
    cache = SQLiteCache(tmp_path / "c.sqlite", max_bytes=cap, clock=clock)
    for i in range(2000):
        cache.set(f"k{i}", "x" * 500)
    assert cache.size_bytes() <= cap
    assert cache.stats()["evictions"] > 0
    assert cache.get("k1999") == "x" * 500  # the newest survive
    assert cache.get("k0") is None  # the oldest went first


def test_expired_rows_go_before_live_ones(tmp_path, clock):
    cap = 128 * 1024
    cache = SQLiteCache(tmp_path / "c.sqlite", max_bytes=cap, clock=clock)
    cache.set("keeper", "v", ttl=10_000)
    for i in range(100):
        cache.set(f"short{i}", "x" * 500, ttl=1)
    clock.advance(5)
    for i in range(300):
        cache.set(f"fill{i}", "y" * 300)
    assert cache.get("keeper") == "v"
    assert cache.stats()["expirations"] >= 100


def test_set_many_is_one_transaction(tmp_path):
    cache = SQLiteCache(tmp_path / "c.sqlite")
    assert cache.set_many({f"k{i}": i for i in range(100)})
    assert cache.set_many([("a", 1), ("b", 2)], ttl=60)
    assert [cache.get(f"k{i}") for i in (0, 99)] == [0, 99] and cache.get("b") == 2
    with pytest.raises(SerializationError):
        cache.set_many({"ok": 1, "bad": object()})
    assert cache.get("ok") is None  # nothing of a refused batch was written


def test_json_by_default_and_unserializable_is_clear(tmp_path):
    cache = SQLiteCache(tmp_path / "c.sqlite")
    with pytest.raises(SerializationError, match="PickleSerializer"):
        cache.set("k", {1, 2})


def test_pickle_is_opt_in(tmp_path):
    cache = SQLiteCache(tmp_path / "c.sqlite", serializer=PickleSerializer())
    cache.set("k", {1, 2})
    assert cache.get("k") == {1, 2}


class Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_json_cache_never_executes_a_pickle_in_the_file(tmp_path, capsys):
    path = tmp_path / "c.sqlite"
    SQLiteCache(path).set("k", 1)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE perf_cache SET value = ? WHERE key = 'k'", (pickle.dumps(Boom()),))
    cache = SQLiteCache(path)
    assert cache.get("k") is None
    assert "must never run" not in capsys.readouterr().out
    assert cache.stats()["errors"] == 1


def test_corrupt_file_is_moved_aside_and_rebuilt(tmp_path, caplog):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING):
        cache = SQLiteCache(path)
    cache.set("k", 1)
    assert cache.get("k") == 1
    aside = list(tmp_path.glob("c.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert "corrupt" in caplog.text


def test_corrupt_file_can_be_refused(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(CacheCorruptError, match="not a readable SQLite"):
        SQLiteCache(path, on_corrupt="raise")
    assert path.read_bytes().startswith(b"garbage")


def test_foreign_database_is_never_touched(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users VALUES (1, 'ada')")
    with pytest.raises(CacheCorruptError, match="not a perf cache"):
        SQLiteCache(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [("ada",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "perf_cache" not in tables


def test_locked_database_degrades_to_a_dropped_write(tmp_path, caplog):
    path = tmp_path / "c.sqlite"
    cache = SQLiteCache(path, busy_timeout=0.05)
    cache.set("k", 1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock past our busy timeout
    try:
        with caplog.at_level(logging.WARNING):
            assert cache.set("k2", 2) is False
        assert cache.get("k") == 1  # WAL: reads go on while another process writes
        assert cache.stats()["errors"] == 1
        assert "write failed" in caplog.text
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert cache.set("k2", 2) is True
    assert cache.get("k2") == 2


def test_file_damaged_while_open_degrades_to_misses(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = SQLiteCache(path)
    cache.set("k", 1)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as raw:  # keep page 1, scramble the table pages
        raw.seek(4096)
        raw.write(b"\xa5" * (path.stat().st_size - 4096))
    assert cache.get("k", "miss") == "miss"
    assert cache.set("k2", 2) is False
    stats = cache.stats()  # still answers, for /performance/stats
    assert stats["errors"] == 2 and stats["size"] is None
    cache.close()
    rebuilt = SQLiteCache(path)  # the next start moves the damaged file aside
    assert rebuilt.get("k") is None
    rebuilt.set("k", 3)
    assert rebuilt.get("k") == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_bytes": 0}, "max_bytes"),
        ({"default_ttl": -5}, "default_ttl"),
        ({"on_corrupt": "ignore"}, "on_corrupt"),
        ({"busy_timeout": -1}, "busy_timeout"),
    ],
)
def test_bad_settings(tmp_path, kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        SQLiteCache(tmp_path / "c.sqlite", **kwargs)


def test_path_in_missing_directory(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        SQLiteCache(tmp_path / "nope" / "c.sqlite")


def test_non_string_key(tmp_path):
    cache = SQLiteCache(tmp_path / "c.sqlite")
    with pytest.raises(SerializationError, match="keys are str"):
        cache.set(1, "v")


def test_value_too_big_for_the_cap(tmp_path):
    cache = SQLiteCache(tmp_path / "c.sqlite", max_bytes=64 * 1024)
    with pytest.raises(SerializationError, match="too big"):
        cache.set("k", "x" * 20_000)


def test_no_lost_writes_from_threads(tmp_path):
    cache = SQLiteCache(tmp_path / "c.sqlite")

    def writer(n):
        for i in range(200):
            assert cache.set(f"t{n}:{i}", i)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 8 * 200
    assert cache.stats()["errors"] == 0


def test_no_lost_writes_from_processes(tmp_path):
    path = tmp_path / "c.sqlite"
    SQLiteCache(path)  # create the file once, as a service would at start-up
    code = (
        "import sys; from perf.cache import SQLiteCache; c = SQLiteCache(sys.argv[1], "
        "busy_timeout=10); n = sys.argv[2]; "
        "ok = [c.set(f'p{n}:{i}', i) for i in range(300)]; "
        "c.set_many({f'b{n}:{i}': i for i in range(300)}); "
        "sys.exit(0 if all(ok) and c.stats()['errors'] == 0 else 1)"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(n)]) for n in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    cache = SQLiteCache(path)
    assert len(cache) == 4 * 600
    assert cache.get("p3:299") == 299 and cache.get("b0:0") == 0
