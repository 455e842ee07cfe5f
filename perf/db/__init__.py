"""Database access for async services: shared pooled engines, batch fetching, eager loading.

Needs the ``db`` extra (``sqlalchemy[asyncio]``, ``aiosqlite``; ``asyncpg`` for PostgreSQL).
"""

from __future__ import annotations

from perf.db.batch import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, batch_fetch
from perf.db.bulk import bulk_insert, bulk_upsert
from perf.db.eager import eager_load_options, eager_load_relationships, fetch_with_relationships
from perf.db.engine import create_shared_db_engine, dispose_shared_engines, shared_engine_stats
from perf.db.optimizer import QueryOptimizer
from perf.db.pool import InstrumentedAsyncQueuePool, PoolStats, pool_stats
from perf.db.sqlite_pragmas import sqlite_pragmas
from perf.db.statements import StatementCounter, count_statements

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH_SIZE",
    "InstrumentedAsyncQueuePool",
    "PoolStats",
    "QueryOptimizer",
    "StatementCounter",
    "batch_fetch",
    "bulk_insert",
    "bulk_upsert",
    "count_statements",
    "create_shared_db_engine",
    "dispose_shared_engines",
    "eager_load_options",
    "eager_load_relationships",
    "fetch_with_relationships",
    "pool_stats",
    "shared_engine_stats",
    "sqlite_pragmas",
]
