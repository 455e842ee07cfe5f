"""perf.db side by side with the naive ways, on a 10k-row SQLite file (aiosqlite).

* fetch 1,000 rows by id: one ``session.get`` each vs ``batch_fetch`` (several batch sizes)
  vs one ``IN`` query. Bars: ``batch_fetch`` (default size) <= 1/20 of one-at-a-time and
  <= 1.3x one ``IN``.
* 200 parents x 5 children: one query per parent vs ``eager_load_relationships``
  (selectinload) vs a hand-written ``joinedload``. Bar: eager loading <= 1/5 of per-parent.
* 50 concurrent tasks, one small query each: the shared pooled engine vs a ``NullPool``
  engine (a new connection per checkout). Bar: pooled <= 1x NullPool.

Each bar's benchmark measures ours and its peers interleaved (the ``pair`` fixture in
conftest.py); the peers also run alone, in fixed rounds, for the tables of medians.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, relationship
from sqlalchemy.pool import NullPool

from perf.db import (
    DEFAULT_BATCH_SIZE,
    QueryOptimizer,
    bulk_insert,
    count_statements,
    create_shared_db_engine,
    dispose_shared_engines,
    pool_stats,
)

ITEMS, FETCHED = 10_000, 1_000
PARENTS, CHILDREN_EACH = 200, 5
CONCURRENT_TASKS = 50


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str]
    score: Mapped[float]
    payload: Mapped[str]


class Parent(Base):
    __tablename__ = "parent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    children: Mapped[list[Child]] = relationship()


class Child(Base):
    __tablename__ = "child"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"), index=True)
    name: Mapped[str]


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(dispose_shared_engines())
    loop.close()


@pytest.fixture(scope="module")
def db(loop, tmp_path_factory):
    """(url, engine, sessionmaker) for a file database seeded once per module in bulk."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('bench_db') / 'bench.db'}"
    engine = create_shared_db_engine(url)
    rng = random.Random(4)

    async def seed():
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await bulk_insert(
                conn,
                Item,
                (
                    {
                        "id": i,
                        "name": f"entity-{i}",
                        "email": f"user{i}@example.com",
                        "score": rng.random(),
                        "payload": "x" * rng.randint(100, 300),
                    }
                    for i in range(1, ITEMS + 1)
                ),
            )
            await bulk_insert(
                conn, Parent, ({"id": p, "name": f"parent-{p}"} for p in range(1, PARENTS + 1))
            )
            await bulk_insert(
                conn,
                Child,
                (
                    {"id": p * CHILDREN_EACH + c, "parent_id": p, "name": f"child-{p}-{c}"}
                    for p in range(1, PARENTS + 1)
                    for c in range(CHILDREN_EACH)
                ),
            )

    loop.run_until_complete(seed())
    return url, engine, async_sessionmaker(engine, expire_on_commit=False)


FETCH_IDS = random.Random(7).sample(range(1, ITEMS + 1), FETCHED)
FETCH_WAYS = [
    "session.get",
    "batch_fetch-100",
    "batch_fetch-250",
    f"batch_fetch-{DEFAULT_BATCH_SIZE}",
    "batch_fetch-1000",
    "one_in",
]
# batch_fetch at its default size: >= 20x faster than one-at-a-time, <= 1.3x one IN query.
FETCH_BARS = {f"batch_fetch-{DEFAULT_BATCH_SIZE}": {"session.get": 0.05, "one_in": 1.3}}


def measure(benchmark, loop, coroutine_function, rounds):
    """Fixed rounds on the shared loop: on this busy 2-core machine, automatic calibration gave
    some peers only a handful of rounds and medians that swung 3x between runs."""
    return benchmark.pedantic(
        lambda: loop.run_until_complete(coroutine_function()), rounds=rounds, warmup_rounds=1
    )


def on_loop(loop, coroutine_function):
    """One round: ``coroutine_function()`` run to completion on the shared loop."""
    return lambda: loop.run_until_complete(coroutine_function())


def by_ids(ids):
    return select(Item).where(Item.id.in_(ids))


def fetch_rows(sessions, way):
    async def fetch():
        async with sessions() as session:  # a fresh identity map every round
            if way == "session.get":
                return [await session.get(Item, i) for i in FETCH_IDS]
            if way == "one_in":
                return (await session.execute(by_ids(FETCH_IDS))).scalars().all()
            size = int(way.split("-")[1])
            return await QueryOptimizer.batch_fetch(session, by_ids, FETCH_IDS, batch_size=size)

    return fetch


@pytest.mark.parametrize("way", FETCH_WAYS)
def bench_fetch_1000_rows(benchmark, pair, loop, db, way):
    _, engine, sessions = db
    fetch = fetch_rows(sessions, way)
    with count_statements(engine) as counter:
        rows = loop.run_until_complete(fetch())
    benchmark.group = "db: fetch 1,000 of 10,000 rows by id"
    benchmark.extra_info.update(rows=len(rows), statements=counter.count)
    if way in FETCH_BARS:
        name = "bench_fetch_1000_rows[{}]".format
        pair(
            ours=on_loop(loop, fetch),
            peers={
                name(peer): on_loop(loop, fetch_rows(sessions, peer)) for peer in FETCH_BARS[way]
            },
            bars={name(peer): ratio for peer, ratio in FETCH_BARS[way].items()},
        )
    else:
        measure(benchmark, loop, fetch, rounds=5 if way == "session.get" else 40)
    assert len(rows) == FETCHED


EAGER_WAYS = ["per_parent_queries", "eager_load_relationships", "joinedload"]


def load_parents(sessions, way):
    async def load():
        async with sessions() as session:
            query = select(Parent).order_by(Parent.id)
            if way == "per_parent_queries":
                parents = (await session.execute(query)).scalars().all()
                return {
                    p.id: (await session.execute(select(Child).where(Child.parent_id == p.id)))
                    .scalars()
                    .all()
                    for p in parents
                }
            if way == "joinedload":
                result = await session.execute(query.options(joinedload(Parent.children)))
                parents = result.unique().scalars().all()
            else:
                eager = await QueryOptimizer.eager_load_relationships(session, query, ["children"])
                parents = (await session.execute(eager)).scalars().all()
            return {p.id: p.children for p in parents}

    return load


@pytest.mark.parametrize("way", EAGER_WAYS)
def bench_parents_with_children(benchmark, pair, loop, db, way):
    _, engine, sessions = db
    load = load_parents(sessions, way)
    with count_statements(engine) as counter:
        loaded = loop.run_until_complete(load())
    benchmark.group = "db: 200 parents x 5 children"
    benchmark.extra_info.update(statements=counter.count)
    if way == "eager_load_relationships":
        peer = "bench_parents_with_children[per_parent_queries]"
        pair(
            ours=on_loop(loop, load),
            peers={peer: on_loop(loop, load_parents(sessions, "per_parent_queries"))},
            bars={peer: 0.2},
        )
    else:
        measure(benchmark, loop, load, rounds=5 if way == "per_parent_queries" else 30)
    assert sum(len(children) for children in loaded.values()) == PARENTS * CHILDREN_EACH


def burst_of(engine):
    ids = FETCH_IDS[:CONCURRENT_TASKS]

    async def one(item_id):
        async with engine.connect() as conn:
            return (await conn.execute(select(Item.name).where(Item.id == item_id))).scalar_one()

    async def burst():
        return await asyncio.gather(*(one(i) for i in ids))

    return burst


@pytest.mark.parametrize("pool", ["shared_pooled_engine", "NullPool"])
def bench_50_concurrent_tasks(benchmark, pair, loop, db, pool):
    url, shared, _ = db
    null_pool = create_async_engine(url, poolclass=NullPool)
    benchmark.group = "db: 50 concurrent tasks, one query each"
    try:
        if pool == "shared_pooled_engine":
            peer = "bench_50_concurrent_tasks[NullPool]"
            names = pair(
                ours=on_loop(loop, burst_of(shared)),
                peers={peer: on_loop(loop, burst_of(null_pool))},
                bars={peer: 1.0},
            )
            benchmark.extra_info.update(pool=pool_stats(shared))
        else:
            names = measure(benchmark, loop, burst_of(null_pool), rounds=20)
    finally:
        loop.run_until_complete(null_pool.dispose())
    assert names == [f"entity-{i}" for i in FETCH_IDS[:CONCURRENT_TASKS]]
