"""Fixtures shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis_server import redis_namespace, redis_server, redis_url  # noqa: F401 - fixtures
from support import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def targets(tmp_path: Path) -> Path:
    """A targets file with every documented target (as in pyproject.toml)."""
    path = tmp_path / "targets.toml"
    path.write_text(
        "[tool.perf.targets]\n"
        "query_latency_p95_ms = 500\n"
        "db_query_p95_ms = 50\n"
        "health_p95_ms = 10\n"
        "correlation_cache_hit_rate = 0.80\n"
        "entity_context_cache_hit_rate = 0.70\n"
        "memory_cache_hit_rate = 0.60\n"
        "tokens_per_query_mean = 5000\n"
        "tokens_per_query_max = 30000\n",
        encoding="utf-8",
    )
    return path
