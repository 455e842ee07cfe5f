"""perf.cache: memory, SQLite and Redis tiers, the two-tier CorrelationCache, the manager,
@cached, eviction policies and miss-ratio curves.

The Redis tier needs the ``redis`` extra, imported when the first Redis cache is made.
"""

from perf.cache.correlation import CorrelationCache
from perf.cache.decorator import CachedFunction, cached
from perf.cache.manager import Cache, CacheManager, configure_cache_manager, get_cache_manager
from perf.cache.memory import MISSING, MemoryCache
from perf.cache.mrc import MissRatioCurve, miss_ratio_curve
from perf.cache.policy import EvictionPolicy, LRUPolicy
from perf.cache.redis_tier import RedisCache
from perf.cache.serializers import JSONSerializer, PickleSerializer, Serializer
from perf.cache.sieve import SievePolicy
from perf.cache.sqlite import SQLiteCache
from perf.cache.tiered import TwoTierCache

__all__ = [
    "MISSING",
    "Cache",
    "CacheManager",
    "CachedFunction",
    "CorrelationCache",
    "EvictionPolicy",
    "JSONSerializer",
    "LRUPolicy",
    "MemoryCache",
    "MissRatioCurve",
    "PickleSerializer",
    "RedisCache",
    "SQLiteCache",
    "Serializer",
    "SievePolicy",
    "TwoTierCache",
    "cached",
    "configure_cache_manager",
    "get_cache_manager",
    "miss_ratio_curve",
]
