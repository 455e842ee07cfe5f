"""perf.db engines: pragmas, pooling, exhaustion, concurrency, in-memory and PostgreSQL set-up."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from perf.db import (
    create_shared_db_engine,
    dispose_shared_engines,
    pool_stats,
    shared_engine_stats,
)
from perf.errors import ConfigurationError, PoolExhaustedError

POSTGRES_URL = os.environ.get("PERF_TEST_POSTGRES_URL")  # read by the tests, never the library


def run(coro):
    """Run ``coro`` in a fresh loop, then dispose the shared engines inside that same loop."""

    async def main():
        try:
            return await coro
        finally:
            await dispose_shared_engines()

    return asyncio.run(main())


def sqlite_url(tmp_path, name="app.db"):
    return f"sqlite+aiosqlite:///{tmp_path / name}"


def test_pragmas_apply_on_every_new_connection(tmp_path):
    async def scenario():
        engine = create_shared_db_engine(sqlite_url(tmp_path), sqlite_busy_timeout_ms=7000)
        connections = [await engine.connect() for _ in range(3)]  # three distinct connections
        readings = []
        for conn in connections:
            row = []
            for pragma in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys"):
                row.append((await conn.execute(text(f"PRAGMA {pragma}"))).scalar())
            readings.append(tuple(row))
            await conn.close()
        return readings, pool_stats(engine)

    readings, stats = run(scenario())
    # WAL, synchronous=NORMAL (1), the busy timeout asked for, foreign keys on: on each one
    assert readings == [("wal", 1, 7000, 1)] * 3
    assert stats["size"] == 10
    assert stats["checked_in"] == 3


def test_foreign_keys_are_enforced(tmp_path):
    async def scenario():
        engine = create_shared_db_engine(sqlite_url(tmp_path))
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            await conn.execute(
                text("CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent)")
            )
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO child VALUES (1, 42)"))

    with pytest.raises(IntegrityError, match="FOREIGN KEY constraint failed"):
        run(scenario())


def test_one_engine_per_url_shared_until_disposed(tmp_path):
    async def scenario():
        url = sqlite_url(tmp_path)
        first = create_shared_db_engine(url)
        again = create_shared_db_engine(url)
        other = create_shared_db_engine(sqlite_url(tmp_path, "other.db"))
        with pytest.raises(ConfigurationError, match="dispose_shared_engines"):
            create_shared_db_engine(url, pool_size=3)
        keys = set(shared_engine_stats())
        await dispose_shared_engines()
        after = create_shared_db_engine(url, pool_size=3)
        return first, again, other, keys, after

    first, again, other, keys, after = run(scenario())
    assert first is again
    assert other is not first
    assert keys == {sqlite_url(tmp_path), sqlite_url(tmp_path, "other.db")}
    assert after is not first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pool_size": 0}, "pool_size"),
        ({"max_overflow": -1}, "max_overflow"),
        ({"pool_timeout": 0}, "pool_timeout"),
        ({"sqlite_busy_timeout_ms": -5}, "busy_timeout"),
        ({"pool_size": "10"}, "pool_size must be a whole number"),
        ({"pool_size": 2.5}, "pool_size must be a whole number"),
        ({"pool_timeout": float("inf")}, "not hang"),
        ({"pool_recycle": None}, "pool_recycle"),
        ({"poolclass": NullPool}, "create_async_engine directly"),
    ],
)
def test_bad_settings_are_rejected(tmp_path, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        create_shared_db_engine(sqlite_url(tmp_path), **kwargs)


def test_pool_size_and_overflow_bound_concurrent_checkouts(tmp_path):
    async def scenario():
        engine = create_shared_db_engine(sqlite_url(tmp_path), pool_size=3, max_overflow=2)
        acquired: asyncio.Queue[int] = asyncio.Queue()
        gate = asyncio.Event()
        active = peak = 0

        async def worker(n):
            nonlocal active, peak
            async with engine.connect() as conn:
                active += 1
                peak = max(peak, active)
                await conn.execute(text("SELECT 1"))
                acquired.put_nowait(n)
                await gate.wait()
                active -= 1

        tasks = [asyncio.create_task(worker(n)) for n in range(10)]
        for _ in range(5):
            await acquired.get()
        at_peak = pool_stats(engine)
        gate.set()
        await asyncio.gather(*tasks)
        return peak, at_peak, pool_stats(engine)

    peak, at_peak, after = run(scenario())
    assert peak == 5  # 3 pooled + 2 overflow, never more
    assert (at_peak["checked_out"], at_peak["overflow"]) == (5, 2)
    assert after["waits"] >= 5  # the other five queued for a connection
    assert after["timeouts"] == 0
    assert (after["checked_out"], after["overflow"], after["checked_in"]) == (0, 0, 3)
    json.dumps(after)  # JSON-ready for /performance/stats


def test_exhausted_pool_raises_a_clear_timely_error(tmp_path):
    async def scenario():
        engine = create_shared_db_engine(
            sqlite_url(tmp_path), pool_size=1, max_overflow=0, pool_timeout=0.05
        )
        async with engine.connect():
            with pytest.raises(PoolExhaustedError) as caught:
                await engine.connect()
        return caught.value, pool_stats(engine)

    error, stats = run(scenario())
    assert isinstance(error, TimeoutError)
    assert "1 pooled + 0 overflow" in str(error)
    assert "pool_size" in str(error)
    assert stats["timeouts"] == 1
    assert stats["waits"] == 1


def test_twenty_concurrent_writers_lose_nothing(tmp_path):
    writers, rows_each = 20, 25

    async def scenario():
        engine = create_shared_db_engine(sqlite_url(tmp_path))
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE event (writer INTEGER, seq INTEGER)"))

        async def writer(w):
            for seq in range(rows_each):  # one transaction per row: maximal lock contention
                async with engine.begin() as conn:
                    await conn.execute(
                        text("INSERT INTO event VALUES (:w, :s)"), {"w": w, "s": seq}
                    )

        await asyncio.gather(*(writer(w) for w in range(writers)))
        async with engine.connect() as conn:
            total = (await conn.execute(text("SELECT COUNT(*) FROM event"))).scalar()
            pairs = (
                await conn.execute(text("SELECT COUNT(DISTINCT writer * 1000 + seq) FROM event"))
            ).scalar()
        return total, pairs

    assert run(scenario()) == (writers * rows_each, writers * rows_each)


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"], ids=["bare", "memory"]
)
def test_in_memory_sqlite_gets_one_shared_connection(url):
    async def scenario():
        engine = create_shared_db_engine(url, pool_size=10, max_overflow=5)  # no TypeError
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))

        async def insert(x):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})

        await asyncio.gather(*(insert(x) for x in range(5)))  # sessions take turns
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT COUNT(*) FROM t"))).scalar()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
        return count, fks, pool_stats(engine)

    count, fks, stats = run(scenario())
    assert (count, fks) == (5, 1)
    assert (stats["size"], stats["max_overflow"]) == (1, 0)


def test_postgres_engine_is_configured_without_connecting():
    async def scenario():
        url = "postgresql+asyncpg://app:s3cret@127.0.0.1:1/appdb"
        engine = create_shared_db_engine(url, pool_size=4, max_overflow=2, pool_recycle=600)
        return engine, shared_engine_stats()

    engine, stats = run(scenario())
    assert engine.pool._pre_ping is True
    assert engine.pool._recycle == 600
    (key,) = stats
    assert "s3cret" not in key
    assert stats[key]["size"] == 4
    assert stats[key]["max_overflow"] == 2


@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="no PostgreSQL server: set PERF_TEST_POSTGRES_URL=postgresql+asyncpg://user:pw@host/db",
)
def test_postgres_pool_round_trip_and_exhaustion():
    async def scenario():
        engine = create_shared_db_engine(
            POSTGRES_URL, pool_size=2, max_overflow=1, pool_timeout=0.2
        )

        async def query(n):
            async with engine.connect() as conn:
                return (await conn.execute(text("SELECT :n + 1"), {"n": n})).scalar()

        results = await asyncio.gather(*(query(n) for n in range(10)))
        held = [await engine.connect() for _ in range(3)]
        try:
            with pytest.raises(PoolExhaustedError):
                await engine.connect()
        finally:
            for conn in held:
                await conn.close()
        return results, pool_stats(engine)

    results, stats = run(scenario())
    assert results == [n + 1 for n in range(10)]
    assert stats["timeouts"] == 1


def test_pool_stats_of_a_foreign_engine_still_reports(tmp_path):
    engine = create_async_engine(sqlite_url(tmp_path), poolclass=NullPool)
    stats = pool_stats(engine)
    assert stats["pool"] == "NullPool"
    assert (stats["size"], stats["waits"], stats["timeouts"]) == (0, 0, 0)
    json.dumps(stats)
