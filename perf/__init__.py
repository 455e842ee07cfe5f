"""perf: performance toolkit for async, LLM-backed web services.

The flat public API below is loaded lazily: ``import perf`` costs next to nothing, and a name
from a part with heavy dependencies (``perf.db`` needs SQLAlchemy, ``perf.tokens`` tiktoken)
imports that part on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perf._lazy import lazy_getattr

if TYPE_CHECKING:
    from perf.cache import (
        CacheManager,
        CorrelationCache,
        MemoryCache,
        MissRatioCurve,
        RedisCache,
        SievePolicy,
        SQLiteCache,
        TwoTierCache,
        cached,
        configure_cache_manager,
        get_cache_manager,
        miss_ratio_curve,
    )
    from perf.db import (
        QueryOptimizer,
        count_statements,
        create_shared_db_engine,
        dispose_shared_engines,
    )
    from perf.errors import (
        CacheCorruptError,
        CacheError,
        ConfigurationError,
        PerfError,
        PoolExhaustedError,
        SerializationError,
        TokenBudgetError,
        UnknownModelError,
        UnknownOptionError,
        UnknownRelationshipError,
    )
    from perf.monitor import (
        PerformanceMonitor,
        get_performance_monitor,
        prometheus_text,
        track_performance,
    )
    from perf.tokens import (
        DEFAULT_TOKEN_BUDGET,
        count_message_tokens,
        count_tokens,
        enforce_token_budget,
        enforce_token_budget_with_report,
    )

_EXPORTS = {
    "perf.cache": [
        "CacheManager",
        "CorrelationCache",
        "MemoryCache",
        "MissRatioCurve",
        "RedisCache",
        "SQLiteCache",
        "SievePolicy",
        "TwoTierCache",
        "cached",
        "configure_cache_manager",
        "get_cache_manager",
        "miss_ratio_curve",
    ],
    "perf.db": [
        "QueryOptimizer",
        "count_statements",
        "create_shared_db_engine",
        "dispose_shared_engines",
    ],
    "perf.errors": [
        "CacheCorruptError",
        "CacheError",
        "ConfigurationError",
        "PerfError",
        "PoolExhaustedError",
        "SerializationError",
        "TokenBudgetError",
        "UnknownModelError",
        "UnknownOptionError",
        "UnknownRelationshipError",
    ],
    "perf.monitor": [
        "PerformanceMonitor",
        "get_performance_monitor",
        "prometheus_text",
        "track_performance",
    ],
    "perf.tokens": [
        "DEFAULT_TOKEN_BUDGET",
        "count_message_tokens",
        "count_tokens",
        "enforce_token_budget",
        "enforce_token_budget_with_report",
    ],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "DEFAULT_TOKEN_BUDGET",
    "CacheCorruptError",
    "CacheError",
    "CacheManager",
    "ConfigurationError",
    "CorrelationCache",
    "MemoryCache",
    "MissRatioCurve",
    "PerfError",
    "PerformanceMonitor",
    "PoolExhaustedError",
    "QueryOptimizer",
    "RedisCache",
    "SQLiteCache",
    "SerializationError",
    "SievePolicy",
    "TokenBudgetError",
    "TwoTierCache",
    "UnknownModelError",
    "UnknownOptionError",
    "UnknownRelationshipError",
    "cached",
    "configure_cache_manager",
    "count_message_tokens",
    "count_statements",
    "count_tokens",
    "create_shared_db_engine",
    "dispose_shared_engines",
    "enforce_token_budget",
    "enforce_token_budget_with_report",
    "get_cache_manager",
    "get_performance_monitor",
    "miss_ratio_curve",
    "prometheus_text",
    "track_performance",
]


__getattr__ = lazy_getattr(__name__, _MODULE_OF)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
