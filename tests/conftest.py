"""Fixtures shared by the tests."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from redis_server import redis_namespace, redis_server, redis_url  # noqa: F401 - fixtures
from support import FakeClock


def pytest_configure(config: pytest.Config) -> None:
    """Tests interrupt the commands they start with SIGINT. A shell without job control (a
    script's `cmd &`, `nohup`) starts background jobs with SIGINT ignored, and an ignored
    signal stays ignored in every process they exec, so those commands would run on
    regardless. A handled signal is reset to the default at exec: handle it here."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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
