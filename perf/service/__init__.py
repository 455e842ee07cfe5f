"""The reference query service: FastAPI app, LLM stub, synthetic home, daily analysis.

Needs the ``service`` extra. ``import perf.service`` (and ``perf.service.cli``) stays light:
the names below load their modules on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perf._lazy import lazy_getattr

if TYPE_CHECKING:
    from perf.service.analysis import AnalysisReport, run_analysis, warm_caches
    from perf.service.app import QueryRequest, create_app
    from perf.service.cli import add_commands
    from perf.service.data import Dataset, build_dataset, iter_events, sample_queries
    from perf.service.llm import LLMClient, LLMReply, LLMUnavailableError
    from perf.service.runtime import CACHE_TYPES, ServiceRuntime
    from perf.service.settings import ServiceSettings
    from perf.service.stub import StubConfig, create_stub_app

__all__ = [
    "CACHE_TYPES",
    "AnalysisReport",
    "Dataset",
    "LLMClient",
    "LLMReply",
    "LLMUnavailableError",
    "QueryRequest",
    "ServiceRuntime",
    "ServiceSettings",
    "StubConfig",
    "add_commands",
    "build_dataset",
    "create_app",
    "create_stub_app",
    "iter_events",
    "run_analysis",
    "sample_queries",
    "warm_caches",
]

_HOMES = {
    "AnalysisReport": "analysis",
    "run_analysis": "analysis",
    "warm_caches": "analysis",
    "QueryRequest": "app",
    "create_app": "app",
    "add_commands": "cli",
    "Dataset": "data",
    "build_dataset": "data",
    "iter_events": "data",
    "sample_queries": "data",
    "LLMClient": "llm",
    "LLMReply": "llm",
    "LLMUnavailableError": "llm",
    "CACHE_TYPES": "runtime",
    "ServiceRuntime": "runtime",
    "ServiceSettings": "settings",
    "StubConfig": "stub",
    "create_stub_app": "stub",
}


__getattr__ = lazy_getattr(
    __name__, {name: f"perf.service.{home}" for name, home in _HOMES.items()}
)
