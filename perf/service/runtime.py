"""ServiceRuntime: builds and tears down everything one app instance uses.

Start: token encodings, the engine and the dataset, named caches (registered with the monitor),
an incremental analysis run, the cache warm-up, the LLM client, if enabled the scheduler, and
if asked the caches' access traces. Stop: the traces (written first), the scheduler, the
entity usage (saved for the next warm-up), the LLM client, the caches, the token log and the
engine's connections.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text

from perf.cache import (
    CacheManager,
    CorrelationCache,
    EvictionPolicy,
    LRUPolicy,
    SievePolicy,
    TwoTierCache,
)
from perf.db import pool_stats, shared_engine_stats
from perf.errors import ConfigurationError
from perf.monitor import PerformanceMonitor
from perf.service.analysis import (
    AnalysisReport,
    run_analysis,
    save_usage,
    series_hours,
    warm_caches,
)
from perf.service.context import ContextStages
from perf.service.llm import LLMClient
from perf.service.pipeline import QueryPipeline
from perf.service.scheduler import AnalysisScheduler
from perf.service.settings import ServiceSettings
from perf.service.store import ensure_dataset, open_engine, session_factory
from perf.service.tokenlog import TokenLog
from perf.service.tracing import CacheTraces
from perf.service.workers import WorkerStatsShare, WorkerSync
from perf.tokens import preload_encodings

__all__ = ["CACHE_TYPES", "ServiceRuntime"]

# The service's named caches; the hit-rate targets are read per name.
CACHE_TYPES = {
    "correlation": "two_tier",  # entity pairs -> r, on disk too (survives restarts)
    "entity_context": "memory",  # entity -> device, area, state
    "entity_registry": "memory",  # the phrase -> entity index
    "memory": "memory",  # the general memory cache: pattern/synergy enrichment
    "llm_response": "two_tier",  # identical prompts, and the last answer per query
    "conversation": "memory",  # conversation histories
}
_POLICIES: dict[str, Callable[[], EvictionPolicy]] = {"lru": LRUPolicy, "sieve": SievePolicy}
_STUB_BASE_URL = "http://llm-stub/v1"  # used with an injected transport only
log = logging.getLogger(__name__)


class ServiceRuntime:
    """The parts of one running service; ``await start()`` before use, ``await stop()`` after."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        monitor: PerformanceMonitor | None = None,
        llm_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if settings.llm_base_url is None and llm_transport is None:
            raise ConfigurationError(
                "no LLM endpoint: set PERF_LLM_BASE_URL (an OpenAI-compatible URL ending in /v1)"
                " or run `perf serve`, which starts the LLM stub"
            )
        self.settings = settings
        self.monitor = monitor if monitor is not None else PerformanceMonitor()
        self.llm_transport = llm_transport
        self.started_at = time.time()
        self.startup: dict[str, Any] = {}
        self.workers: WorkerSync | None = None
        self.traces: CacheTraces | None = None

    async def start(self) -> None:
        s = self.settings
        preload_encodings()
        self.engine = open_engine(s)
        pool_name = self.engine.url.render_as_string(hide_password=True)
        self.monitor.register_gauges(f"db_pool {pool_name}", lambda: pool_stats(self.engine))
        self.sessions = session_factory(self.engine)
        _, summary = await ensure_dataset(
            self.engine, s.dataset_seed, s.dataset_scale, s.dataset_days
        )
        s.cache_dir.mkdir(parents=True, exist_ok=True)
        redis_url = s.redis_url.get_secret_value() if s.redis_url is not None else None
        self.caches = CacheManager(
            cache_dir=s.cache_dir,
            memory_entries=s.memory_cache_entries,
            memory_policy=_POLICIES[s.memory_cache_policy],
            redis_url=redis_url,
        )
        shared = "two_tier_redis" if s.cache_backend == "redis" else "two_tier"  # all workers
        for name, cache_type in CACHE_TYPES.items():
            cache = self.caches.create(name, shared if cache_type == "two_tier" else cache_type)
            self.monitor.register_cache(name, cache.stats)
        self.correlations: CorrelationCache = self.caches.correlation_cache()
        self.stages = ContextStages(
            self.sessions,
            self.monitor,
            registry=self.caches.cache("entity_registry"),
            entity_context=self.caches.cache("entity_context"),
            enrichment=self.caches.cache("memory"),
            correlations=self.correlations,
            entity_ttl=s.entity_cache_ttl_seconds,
            correlation_ttl=s.correlation_ttl_seconds,
            max_entities=s.max_entities_per_query,
            correlation_prefetch=s.correlation_prefetch,
        )
        self.scheduler = AnalysisScheduler(self.analyze, s.analysis_interval_seconds)
        first = await self.scheduler.run_now()  # catches up with events since the watermark
        warmed = (
            await warm_caches(self.stages, entities=s.warm_up_entities, pairs=s.warm_up_pairs)
            if s.warm_up
            else {}
        )
        self.llm = LLMClient(
            s.llm_base_url or _STUB_BASE_URL,
            s.llm_api_key.get_secret_value(),
            timeout_seconds=s.llm_timeout_seconds,
            cache=self.caches.cache("llm_response"),
            cache_ttl_seconds=s.llm_cache_ttl_seconds,
            transport=self.llm_transport,
        )
        self.token_log = TokenLog(s.token_log_path)
        self.pipeline = QueryPipeline(
            self.stages,
            self.llm,
            self.monitor,
            self.token_log,
            self.caches.cache("conversation"),
            model=s.llm_model,
            small_model=s.llm_small_model,
            budget=s.token_budget,
            max_completion_tokens=s.llm_max_completion_tokens,
            history_turns=s.conversation_history_turns,
            cache_ttl=s.llm_cache_ttl_seconds,
        )
        if s.analysis_scheduler:
            self.scheduler.start()
        if s.cache_trace_rate > 0 and s.cache_trace_dir is not None:  # after the warm-up
            caches = {name: self.caches.cache(name) for name in CACHE_TYPES}
            self.traces = CacheTraces(caches, s.cache_trace_rate, s.cache_trace_dir)
            self.traces.start()
        if s.worker_stats_dir is not None:  # one of several workers: share figures
            share = WorkerStatsShare(
                s.worker_stats_dir, interval_seconds=s.worker_stats_interval_seconds
            )
            self.workers = WorkerSync(share, self.monitor, self._figures, self._reset_local)
            self.workers.start()
        self.startup = {"dataset": _summary(summary),
                        "analysis": first.as_dict(), "warm_up": warmed}  # fmt: skip

    async def analyze(self, full: bool = False) -> AnalysisReport:
        report = await run_analysis(
            self.sessions,
            full=full,
            concurrency=self.settings.analysis_concurrency,
            correlations=self.correlations,
            correlation_ttl=self.settings.correlation_ttl_seconds,
            monitor=self.monitor,
        )
        self.stages.series_hours = await series_hours(self.sessions)
        if report.entities_touched:
            self.stages.forget_enrichment()  # patterns and synergies were rewritten
        return report

    async def stop(self) -> None:
        if self.traces is not None:  # first: nothing after it may lose them
            try:
                self.traces.write()
            except OSError as exc:
                log.error("could not write the cache traces to %s: %s", self.traces.directory, exc)
        await self.scheduler.stop()
        if self.workers is not None:
            await self.workers.stop()
        try:
            await save_usage(self.sessions, self.pipeline.mentions)
        finally:
            await self.llm.aclose()
            self.token_log.close()
            for name in CACHE_TYPES:
                cache = self.caches.cache(name)
                if isinstance(cache, TwoTierCache):
                    cache.close()
            await self.engine.dispose()

    async def check_database(self) -> None:
        """One round trip (``/health?deep=1``)."""
        async with self.monitor.track("db.health"), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def reset_stats(self) -> dict[str, Any]:
        """Reset the figures (of every worker, when there are several)."""
        if self.workers is None:
            self._reset_local()
            return {"reset": True}
        return {"reset": True, "workers_not_reset": await self.workers.reset_all()}

    def _reset_local(self) -> None:
        self.monitor.reset()
        if self.traces is not None:  # a trace covers what the hit rates count
            self.traces.start()
        for name in CACHE_TYPES:
            reset = getattr(self.caches.cache(name), "reset_stats", None)
            if reset is not None:
                reset()
        self.pipeline.counters.clear()
        self.token_log.reset()

    def _figures(self) -> dict[str, Any]:
        """This worker's mergeable figures."""
        return {
            "monitor": self.monitor.snapshot(),
            "tokens": self.token_log.totals().as_dict(),
            "counters": dict(self.pipeline.counters),
        }

    async def stats(self, settle: bool = False, *, histograms: bool = False) -> dict[str, Any]:
        """``/performance/stats``; with several workers, operations, cache hit rates, tokens
        and counters are everyone's (``settle``: see ``WorkerSync.merged``), the rest this
        worker's own. ``histograms``: also each operation's cumulative sketch, for the load
        run's time-resolved history."""
        if self.workers is None:
            monitor = self.monitor
            stats = monitor.get_stats()
            figures = {
                "operations": stats["operations"],
                "cache_stats": stats["cache_stats"],
                "tokens": self.token_log.summary(),
                "counters": dict(self.pipeline.counters),
            }
        else:
            figures = await self.workers.merged(settle)
            monitor = figures.pop("monitor")
            figures["tokens"] = figures["tokens"].summary(self.token_log.path)
        if histograms:
            figures["histograms"] = monitor.histograms()
        return {
            **figures,
            "cache_manager": self.caches.get_cache_stats(),
            "pools": shared_engine_stats(),
            "llm": self.llm.health(),
            "analysis": self.scheduler.status(),
            "startup": self.startup,
        }


def _summary(summary: Any) -> dict[str, Any]:
    return {k: getattr(summary, k) for k in ("areas", "devices", "entities", "events", "created")}
