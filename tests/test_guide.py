"""Every snippet of ../shared/spec/performance-optimization-guide.md, run as written.

Only module paths change (``shared.correlation_cache`` and ``..utils.*`` become ``perf``);
the placeholders the guide leaves open (``compute_correlation``, ``Model``, ``ParentModel``,
``prompt_dict``, ``expensive_operation``) get small real stand-ins: a SQLite file, a
declarative model with ``children``. Each test checks what the snippet returns or prints.

Each test runs in a fresh interpreter, as a reader pasting the guide into a new program
would: the process-wide cache manager and monitor start empty there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def run(program: str, tmp_path: Path) -> str:
    """Run ``program`` (the guide's snippet plus its stand-ins) in a new process."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


MODELS = textwrap.dedent("""
    import asyncio
    from sqlalchemy import ForeignKey, select
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
    from perf import count_statements, create_shared_db_engine

    class Base(DeclarativeBase):
        pass

    class ParentModel(Base):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        children: Mapped[list["Child"]] = relationship(order_by="Child.id")
        # "metadata" is reserved on declarative models: the relationship is `meta`, the
        # table keeps the name
        meta: Mapped[list["Metadata"]] = relationship()

    class Child(Base):
        __tablename__ = "child"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"))

    class Metadata(Base):
        __tablename__ = "metadata"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"))

    Model = ParentModel

    async def database():
        engine = create_shared_db_engine("sqlite+aiosqlite:///app.sqlite")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        db = async_sessionmaker(engine, expire_on_commit=False)()
        db.add_all([ParentModel(id=i, children=[Child(), Child()], meta=[Metadata()])
                    for i in range(1, 301)])
        await db.commit()
        return engine, db
""")


def test_correlation_cache(tmp_path):
    out = run(
        """
        from perf import CorrelationCache

        calls = []
        def compute_correlation(a, b):
            calls.append((a, b))
            return 0.87

        for entity1_id, entity2_id in [("light.kitchen", "sensor.door"),
                                       ("sensor.door", "light.kitchen")]:
            cache = CorrelationCache(cache_db_path="cache.db")
            correlation = cache.get(entity1_id, entity2_id, ttl_seconds=3600)
            if correlation is None:
                correlation = compute_correlation(entity1_id, entity2_id)
                cache.set(entity1_id, entity2_id, correlation, ttl_seconds=3600)
            print(correlation, len(calls))
        """,
        tmp_path,
    )
    # computed once; the second cache (a new instance on the same file, the pair reversed)
    # finds it on disk
    assert out.split("\n")[:2] == ["0.87 1", "0.87 1"]
    assert (tmp_path / "cache.db").exists()


def test_cache_manager(tmp_path):
    out = run(
        """
        from perf import get_cache_manager

        runs = []
        def expensive_operation():
            runs.append(1)
            return {"answer": 42}

        for _ in range(2):
            cache_manager = get_cache_manager()
            result = cache_manager.get_from_cache("my_key", cache_type="memory")
            if result is None:
                result = expensive_operation()
                cache_manager.set_in_cache("my_key", result, ttl=3600)
            print(result, len(runs))
        print(cache_manager.get_cache_stats()["memory"]["hit_rate"])
        """,
        tmp_path,
    )
    assert out.splitlines() == ["{'answer': 42} 1", "{'answer': 42} 1", "50.0"]


def test_decorator_caching(tmp_path):
    out = run(
        """
        import asyncio
        from perf import cached

        runs = []

        @cached(ttl=3600, cache_key_prefix="query")
        async def expensive_query(param):
            # Your code here
            runs.append(param)
            result = param * 2
            return result

        async def main():
            return [await expensive_query(p) for p in (1, 2, 1, 1)]

        print(asyncio.run(main()), runs)
        """,
        tmp_path,
    )
    assert out.strip() == "[2, 4, 2, 2] [1, 2]"


def test_connection_pooling(tmp_path):
    out = run(
        f"""
        from perf import create_shared_db_engine

        engine = create_shared_db_engine(
            database_url="sqlite+aiosqlite:///{tmp_path}/db.sqlite",
            pool_size=10,
            max_overflow=5
        )
        print(engine.pool.size(), engine.pool._max_overflow, engine.dialect.name)
        """,
        tmp_path,
    )
    assert out.strip() == "10 5 sqlite"


def test_batch_operations(tmp_path):
    out = run(
        MODELS
        + textwrap.dedent("""
        from perf import QueryOptimizer

        async def main():
            engine, db = await database()
            ids = list(range(1, 251))
            with count_statements(engine) as counter:
                records = await QueryOptimizer.batch_fetch(
                    db,
                    lambda ids: select(Model).where(Model.id.in_(ids)),
                    ids,
                    batch_size=100
                )
            print(len(records), sorted(r.id for r in records) == ids, counter.count)

        asyncio.run(main())
        """),
        tmp_path,
    )
    assert out.strip() == "250 True 3"  # 250 ids in batches of 100: 3 queries, not 250


def test_eager_loading(tmp_path):
    out = run(
        MODELS
        + textwrap.dedent("""
        from perf import QueryOptimizer

        async def main():
            engine, db = await database()
            # the guide names the relationships "children" and "metadata"; "metadata"
            # cannot be a relationship on a declarative model, so it is "meta" here
            with count_statements(engine) as counter:
                query = select(ParentModel)
                query = await QueryOptimizer.eager_load_relationships(
                    db,
                    query,
                    ["children", "meta"]
                )
                parents = (await db.execute(query)).scalars().all()
                shape = {(len(p.children), len(p.meta)) for p in parents}
            print(len(parents), shape, counter.count)

        asyncio.run(main())
        """),
        tmp_path,
    )
    # one query for the parents, one per relationship; touching them ran none more
    assert out.strip() == "300 {(2, 1)} 3"


def test_eager_loading_with_the_reserved_name_says_what_to_do(tmp_path):
    out = run(
        MODELS
        + textwrap.dedent("""
        from perf import QueryOptimizer, UnknownRelationshipError

        async def main():
            engine, db = await database()
            try:
                await QueryOptimizer.eager_load_relationships(
                    db, select(ParentModel), ["children", "metadata"]
                )
            except UnknownRelationshipError as exc:
                print(exc)

        asyncio.run(main())
        """),
        tmp_path,
    )
    assert "'metadata' is reserved on declarative models" in out


def test_token_budget_enforcement(tmp_path):
    out = run(
        """
        from perf import count_tokens, enforce_token_budget

        prompt_dict = {
            "system_prompt": "You answer questions about a smart home.",
            "entity_context": "light.kitchen is on. " * 3000,
            "enrichment_context": "weather: sunny. " * 1000,
            "conversation_history": "user: hi. assistant: hello. " * 500,
            "user_query": "Which lights are on?",
        }

        token_budget = {
            'max_entity_context_tokens': 10_000,
            'max_enrichment_context_tokens': 2_000,
            'max_conversation_history_tokens': 1_000,
            'max_total_tokens': 30_000
        }

        optimized_prompt = enforce_token_budget(prompt_dict, token_budget, model="gpt-4o")
        n = {k: count_tokens(v, "gpt-4o") for k, v in optimized_prompt.items()}
        print(n["entity_context"] <= 10_000, n["enrichment_context"] <= 2_000,
              n["conversation_history"] <= 1_000, sum(n.values()) <= 30_000,
              optimized_prompt["user_query"] == prompt_dict["user_query"],
              count_tokens(prompt_dict["entity_context"], "gpt-4o") > 10_000)
        """,
        tmp_path,
    )
    assert out.strip() == "True True True True True True"


def test_performance_monitor(tmp_path):
    out = run(
        """
        import asyncio
        from perf import CorrelationCache, get_performance_monitor, track_performance

        # Using decorator
        @track_performance("database_query")
        async def my_query():
            ...

        async def main():
            for _ in range(3):
                await my_query()
            # Using context manager
            monitor = get_performance_monitor()
            async with monitor.track("operation_name"):
                # Your code here
                pass
            return monitor

        # a program that uses a CorrelationCache as the guide does: 4 of 5 lookups hit
        cache = CorrelationCache(cache_db_path="cache.db")
        cache.set("a", "b", 0.5)
        found = [cache.get("a", "b") for _ in range(4)] + [cache.get("a", "c")]

        monitor = asyncio.run(main())
        # Get statistics
        stats = monitor.get_stats()
        print(f"Avg query time: {stats['operations']['database_query']['avg_time']}")
        print(f"Cache hit rate: {stats['cache_stats']['correlation']['hit_rate']}%")
        print(stats['operations']['database_query']['count'],
              stats['operations']['operation_name']['count'],
              stats['cache_stats']['correlation']['hit_rate'] == 0.8)
        """,
        tmp_path,
    )
    avg, rate, counts = out.splitlines()
    assert avg.startswith("Avg query time: ") and float(avg.split(": ")[1]) >= 0
    assert rate == "Cache hit rate: 80.0%"  # 4 hits of 5 lookups is 80 %, printed as such
    assert counts == "3 1 True"  # the number itself is the fraction


def test_cache_manager_caches_reach_the_monitor_too(tmp_path):
    out = run(
        """
        from perf import configure_cache_manager, get_cache_manager, get_performance_monitor

        configure_cache_manager(cache_dir=".")
        pairs = get_cache_manager().correlation_cache()
        pairs.set("a", "b", 1.0)
        hits = [pairs.get("b", "a"), pairs.get("a", "b"), pairs.get("a", "z")]
        rate = get_performance_monitor().get_stats()["cache_stats"]["correlation"]["hit_rate"]
        print(f"{rate}%", f"{rate:.3f}")
        """,
        tmp_path,
    )
    assert out.strip() == "66.7% 0.667"


def test_performance_metrics_endpoint(tmp_path):
    out = run(
        """
        import asyncio
        from fastapi import APIRouter, FastAPI
        from fastapi.testclient import TestClient
        from perf import CorrelationCache, get_cache_manager, get_performance_monitor

        router = APIRouter()

        @router.get("/performance/stats")
        async def get_performance_stats():
            monitor = get_performance_monitor()
            stats = monitor.get_stats()

            cache_manager = get_cache_manager()
            cache_stats = cache_manager.get_cache_stats()

            return {
                "operations": stats["operations"],
                "cache_stats": stats["cache_stats"],
                "cache_manager": cache_stats
            }

        app = FastAPI()
        app.include_router(router)
        cache = CorrelationCache()
        cache.set("a", "b", 1)
        cache.get("a", "b")
        get_cache_manager().get_from_cache("k")
        with get_performance_monitor().track("db.query"):
            pass
        body = TestClient(app).get("/performance/stats").json()
        print(sorted(body), body["cache_stats"]["correlation"]["hit_rate"],
              body["cache_manager"]["memory"]["hit_rate"], body["operations"]["db.query"]["count"])
        """,
        tmp_path,
    )
    # JSON carries the fraction, as the targets and the report read it
    assert out.strip() == "['cache_manager', 'cache_stats', 'operations'] 1.0 0.0 1"
