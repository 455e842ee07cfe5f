"""perf.db query helpers: batch_fetch, eager loading, the statement counter, bulk writes."""

from __future__ import annotations

import asyncio
import os
import sqlite3

import pytest
from sqlalchemy import ForeignKey, Select, create_engine, func, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from perf.db import (
    MAX_BATCH_SIZE,
    QueryOptimizer,
    bulk_insert,
    bulk_upsert,
    count_statements,
    create_shared_db_engine,
    dispose_shared_engines,
)
from perf.db.eager import root_model
from perf.errors import ConfigurationError, UnknownRelationshipError

ITEMS = 10_000
PARENTS, CHILDREN_EACH = 20, 3


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Owner(Base):
    __tablename__ = "owner"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Parent(Base):
    __tablename__ = "parent"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id"))
    owner: Mapped[Owner] = relationship()
    children: Mapped[list[Child]] = relationship(back_populates="parent", order_by="Child.id")
    # `metadata` is reserved on declarative models; the relationship gets another name
    metadata_items: Mapped[list[Tag]] = relationship()


class Child(Base):
    __tablename__ = "child"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"))
    parent: Mapped[Parent] = relationship(back_populates="children")
    grandchildren: Mapped[list[Grandchild]] = relationship(order_by="Grandchild.id")


class Grandchild(Base):
    __tablename__ = "grandchild"
    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("child.id"))


class Account(Base):
    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]


class Tag(Base):
    __tablename__ = "tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"))


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory):
    """A file database built once per module with the sync driver and executemany (fast)."""
    path = tmp_path_factory.mktemp("db") / "seeded.db"
    sync_engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(sync_engine)
    sync_engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO item VALUES (?, ?)", ((i, f"item-{i}") for i in range(1, ITEMS + 1))
        )
        conn.executemany(
            "INSERT INTO owner VALUES (?, ?)", ((i, f"owner-{i}") for i in range(1, 4))
        )
        conn.executemany(
            "INSERT INTO parent VALUES (?, ?)", ((p, p % 3 + 1) for p in range(1, PARENTS + 1))
        )
        children = [(p * 10 + c, p) for p in range(1, PARENTS + 1) for c in range(CHILDREN_EACH)]
        conn.executemany("INSERT INTO child VALUES (?, ?)", children)
        conn.executemany(
            "INSERT INTO grandchild VALUES (?, ?)", ((cid, cid) for cid, _ in children)
        )
    return f"sqlite+aiosqlite:///{path}"


def in_session(url, work):
    """Run ``work(session, engine)`` in a fresh loop; dispose the shared engines afterwards."""

    async def main():
        engine = create_shared_db_engine(url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                return await work(session, engine)
        finally:
            await dispose_shared_engines()

    return asyncio.run(main())


def by_ids(ids):
    return select(Item).where(Item.id.in_(ids))


# --- batch_fetch ---------------------------------------------------------------------------


def test_batch_fetch_no_ids_runs_no_query(seeded_db):
    async def work(session, engine):
        with count_statements(engine) as counter:
            rows = await QueryOptimizer.batch_fetch(session, by_ids, [])
        return rows, counter.count

    assert in_session(seeded_db, work) == ([], 0)


def test_batch_fetch_one_id(seeded_db):
    async def work(session, engine):
        with count_statements(engine) as counter:
            rows = await QueryOptimizer.batch_fetch(session, by_ids, [42])
        return [item.name for item in rows], counter.count

    assert in_session(seeded_db, work) == (["item-42"], 1)


def test_batch_fetch_chunks_and_accepts_any_iterable(seeded_db):
    async def work(session, engine):
        with count_statements(engine) as counter:
            rows = await QueryOptimizer.batch_fetch(
                session, by_ids, (i for i in range(1, 11)), batch_size=3
            )
        return sorted(item.id for item in rows), counter.count

    assert in_session(seeded_db, work) == (list(range(1, 11)), 4)  # 3 + 3 + 3 + 1


def test_batch_fetch_drops_duplicates_and_can_follow_the_id_order(seeded_db):
    ids = [500, 7, 500, 9_999, 7, 7, 123]

    async def work(session, _engine):
        rows = await QueryOptimizer.batch_fetch(session, by_ids, ids, key=lambda item: item.id)
        plain = await QueryOptimizer.batch_fetch(session, by_ids, ids)
        tuples = await QueryOptimizer.batch_fetch(
            session,
            lambda chunk: select(Item.id, Item.name).where(Item.id.in_(chunk)),
            ids,
            scalars=False,
        )
        return [i.id for i in rows], sorted(i.id for i in plain), sorted(tuple(r) for r in tuples)

    ordered, plain, tuples = in_session(seeded_db, work)
    assert ordered == [500, 7, 9_999, 123]  # first appearance, no repeats
    assert plain == [7, 123, 500, 9_999]
    assert tuples == [(7, "item-7"), (123, "item-123"), (500, "item-500"), (9_999, "item-9999")]


def test_batch_fetch_stays_under_the_sqlite_host_parameter_limit(seeded_db):
    # Upstream SQLite allows 32,766 host parameters (Debian's build here allows 250,000, so a
    # too-long IN list would not fail on this machine): count the parameters actually sent.
    too_many = list(range(1, MAX_BATCH_SIZE + 2))  # cap + 1 ids, most of them absent

    async def work(session, engine):
        with count_statements(engine) as counter:
            rows = await QueryOptimizer.batch_fetch(session, by_ids, too_many, batch_size=10**9)
        return len(rows), [sql.count("?") for sql in counter.statements]

    found, parameters = in_session(seeded_db, work)
    assert found == ITEMS
    assert parameters == [MAX_BATCH_SIZE, 1]
    assert max(parameters) <= 32_766


def test_batch_fetch_rejects_a_zero_batch(seeded_db):
    async def work(session, _engine):
        await QueryOptimizer.batch_fetch(session, by_ids, [1], batch_size=0)

    with pytest.raises(ConfigurationError, match="batch_size"):
        in_session(seeded_db, work)


@pytest.mark.parametrize(
    ("ids", "batch_size", "match"),
    [
        ("123", 100, "wrap a single id in a list"),
        (42, 100, "wrap a single id in a list"),
        ([[1, 2]], 100, "must be hashable"),
        ([1], 10.0, "batch_size must be a whole number"),
    ],
)
def test_batch_fetch_refuses_ids_and_sizes_of_the_wrong_kind(seeded_db, ids, batch_size, match):
    async def work(session, engine):
        with count_statements(engine) as counter, pytest.raises(ConfigurationError, match=match):
            await QueryOptimizer.batch_fetch(session, by_ids, ids, batch_size=batch_size)
        return counter.count

    assert in_session(seeded_db, work) == 0  # refused before any query


# --- eager loading and the N+1 guard -------------------------------------------------------


def test_eager_loading_issues_one_statement_per_collection_level(seeded_db):
    async def work(session, engine):
        with count_statements(engine) as counter:
            parents = await QueryOptimizer.fetch_with_relationships(
                session,
                select(Parent).order_by(Parent.id),
                ["children", "children.grandchildren", "owner"],
            )
            # touching everything afterwards must not issue any further statement
            shape = [(p.owner.name, [len(c.grandchildren) for c in p.children]) for p in parents]
        return shape, counter

    shape, counter = in_session(seeded_db, work)
    assert len(shape) == PARENTS
    assert shape[0] == ("owner-2", [1] * CHILDREN_EACH)
    assert counter.count == 3  # parents JOIN owner, children IN (...), grandchildren IN (...)
    assert "JOIN owner" in counter.statements[0]  # many-to-one: joinedload
    assert "FROM child" in counter.statements[1]  # collection: selectinload
    assert "FROM grandchild" in counter.statements[2]


def test_eager_load_relationships_returns_the_query_for_the_caller_to_run(seeded_db):
    # The guide's form: `query = await QueryOptimizer.eager_load_relationships(db, query, [...])`
    async def work(session, engine):
        with count_statements(engine) as counter:
            query = await QueryOptimizer.eager_load_relationships(
                session, select(Parent).order_by(Parent.id), ["children", "owner"]
            )
            built = counter.count  # building the query runs nothing
            parents = (await session.execute(query)).scalars().all()
            shape = [(p.owner.name, len(p.children)) for p in parents]
        return query, built, shape, counter.count

    query, built, shape, statements = in_session(seeded_db, work)
    assert isinstance(query, Select)
    assert built == 0
    assert len(shape) == PARENTS and shape[0] == ("owner-2", CHILDREN_EACH)
    assert statements == 2  # parents JOIN owner, then children IN (...): no lazy loads


def test_per_parent_queries_are_caught_by_the_counter(seeded_db):
    async def work(session, engine):
        with count_statements(engine) as counter:
            parents = (await session.execute(select(Parent))).scalars().all()
            for parent in parents:  # the N+1 pattern
                await session.execute(select(Child).where(Child.parent_id == parent.id))
        return counter

    counter = in_session(seeded_db, work)
    assert counter.count == PARENTS + 1
    with pytest.raises(AssertionError, match=r"at most 3 SQL statements, 21 ran"):
        counter.assert_at_most(3)


def test_strict_eager_loading_raises_on_relationships_left_out(seeded_db):
    async def work(session, _engine):
        (parent,) = await QueryOptimizer.fetch_with_relationships(
            session, select(Parent).where(Parent.id == 1), ["children"], strict=True
        )
        assert len(parent.children) == CHILDREN_EACH
        return parent.owner

    with pytest.raises(InvalidRequestError, match="lazy='raise'"):
        in_session(seeded_db, work)


def test_unknown_relationship_lists_the_known_ones():
    with pytest.raises(UnknownRelationshipError) as caught:
        QueryOptimizer.eager_load_options(Parent, ["children.toys"])
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "Child has no relationship 'toys'" in message
    assert "grandchildren, parent" in message


def test_unknown_relationship_explains_columns_and_the_reserved_metadata_name():
    with pytest.raises(UnknownRelationshipError, match="is a column"):
        QueryOptimizer.eager_load_options(Parent, ["owner_id"])
    with pytest.raises(UnknownRelationshipError, match="reserved on declarative models"):
        QueryOptimizer.eager_load_options(Parent, ["metadata"])
    assert len(QueryOptimizer.eager_load_options(Parent, ["metadata_items"])) == 1


def test_relationships_given_as_one_string_or_non_strings_are_clear_errors():
    with pytest.raises(ConfigurationError, match=r"write \['children'\]"):
        QueryOptimizer.eager_load_options(Parent, "children")
    with pytest.raises(ConfigurationError, match="must be a name such as 'children'"):
        QueryOptimizer.eager_load_options(Parent, [Parent.children])


def test_eager_loading_needs_a_model_query():
    with pytest.raises(ConfigurationError, match="select\\(Model\\)"):
        root_model(select(func.count()))


# --- bulk writes ---------------------------------------------------------------------------


def test_bulk_insert_and_upsert_in_chunks(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'bulk.db'}"

    async def work(session, engine):
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        with count_statements(engine) as inserts:
            written = await bulk_insert(
                session,
                Item,
                ({"id": i, "name": f"v1-{i}"} for i in range(1, 2_501)),
                chunk_size=1_000,
            )
        await session.commit()
        changes = [{"id": i, "name": f"v2-{i}"} for i in range(2_401, 2_601)]  # 100 old, 100 new
        upserted = await bulk_upsert(session, Item, changes)
        kept = await bulk_upsert(session, Item, [{"id": 1, "name": "ignored"}], update_columns=[])
        await session.commit()
        count = await session.scalar(select(func.count()).select_from(Item))
        names = dict(
            (
                await session.execute(
                    select(Item.id, Item.name).where(Item.id.in_([1, 2_400, 2_401, 2_600]))
                )
            ).all()
        )
        return written, inserts.count, upserted, kept, count, names

    written, statements, upserted, kept, count, names = in_session(url, work)
    assert (written, statements, upserted, kept) == (2_500, 3, 200, 1)
    assert count == 2_600
    assert names == {1: "v1-1", 2_400: "v1-2400", 2_401: "v2-2401", 2_600: "v2-2600"}


def test_upsert_on_another_unique_index_keeps_the_existing_primary_key(tmp_path):
    async def work(session, engine):
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await bulk_insert(session, Account, [{"id": 1, "email": "a@x.org", "name": "old"}])
        incoming = [
            {"id": 99, "email": "a@x.org", "name": "new"},  # conflicts on email
            {"id": 2, "email": "b@x.org", "name": "b"},  # inserted
        ]
        await bulk_upsert(session, Account, incoming, index_elements=["email"])
        await session.commit()
        rows = await session.execute(select(Account.id, Account.email, Account.name))
        return sorted(tuple(row) for row in rows)

    rows = in_session(f"sqlite+aiosqlite:///{tmp_path / 'upsert.db'}", work)
    assert rows == [(1, "a@x.org", "new"), (2, "b@x.org", "b")]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"update_columns": ["nmae"]}, "update_columns names 'nmae', not columns of 'item'"),
        ({"index_elements": ["mail"]}, "index_elements names 'mail'"),
        ({"index_elements": "id"}, r"write \['id'\]"),
    ],
)
def test_bulk_upsert_names_unknown_columns(tmp_path, kwargs, match):
    async def work(session, _engine):
        await bulk_upsert(session, Item, [{"id": 1, "name": "x"}], **kwargs)

    with pytest.raises(ConfigurationError, match=match):
        in_session(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", work)


def test_bulk_insert_rejects_a_zero_chunk(tmp_path):
    async def work(session, _engine):
        await bulk_insert(session, Item, [{"id": 1, "name": "x"}], chunk_size=0)

    with pytest.raises(ConfigurationError, match="chunk_size"):
        in_session(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", work)


POSTGRES_URL = os.environ.get("PERF_TEST_POSTGRES_URL")  # read by the tests, never the library


@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="no PostgreSQL server: set PERF_TEST_POSTGRES_URL=postgresql+asyncpg://user:pw@host/db",
)
def test_postgres_bulk_upsert_batch_fetch_and_eager_loading():
    async def work(session, engine):
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
        try:
            await bulk_insert(session, Owner, [{"id": 1, "name": "o"}])
            await bulk_insert(session, Parent, [{"id": p, "owner_id": 1} for p in range(1, 4)])
            await bulk_insert(session, Child, [{"id": c, "parent_id": 1} for c in range(1, 4)])
            await bulk_insert(session, Item, ({"id": i, "name": "v1"} for i in range(1, 1_001)))
            await bulk_upsert(session, Item, [{"id": i, "name": "v2"} for i in range(901, 1_101)])
            await session.commit()
            items = await QueryOptimizer.batch_fetch(
                session, by_ids, range(1_100, 0, -1), batch_size=300, key=lambda i: i.id
            )
            parents = await QueryOptimizer.fetch_with_relationships(
                session, select(Parent).order_by(Parent.id), ["children", "owner"]
            )
            return (
                [i.id for i in items][:2],
                len(items),
                sum(i.name == "v2" for i in items),
                [len(p.children) for p in parents],
            )
        finally:
            await session.rollback()
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.drop_all)

    assert in_session(POSTGRES_URL, work) == ([1_100, 1_099], 1_100, 200, [3, 0, 0])
