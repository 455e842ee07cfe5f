"""ServiceSettings: the one settings class of the reference service, read from ``PERF_*``.

The library never reads the environment; the service and the CLI do, through this class only.
Every field can be set as an environment variable named ``PERF_`` + the field name in capitals
(``PERF_LLM_BASE_URL``, ``PERF_TOKEN_LOG_PATH``, ...) or passed as a keyword argument.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from perf.tokens import BUDGET_KEYS, DEFAULT_TOKEN_BUDGET

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    """Everything the service, the LLM stub and the analysis job can be told."""

    model_config = SettingsConfigDict(env_prefix="PERF_", extra="forbid", validate_default=True)

    # -- storage ---------------------------------------------------------------------------
    database_path: Path = Path(".perf-service/home.sqlite")
    database_url: str | None = Field(
        default=None,
        description="overrides database_path, e.g. sqlite+aiosqlite:////tmp/home.sqlite",
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=5, ge=0)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    db_busy_timeout_ms: int = Field(default=2000, ge=0)
    cache_dir: Path = Path(".perf-service/cache")
    memory_cache_entries: int = Field(default=10_000, ge=1)
    memory_cache_policy: Literal["lru", "sieve"] = Field(
        default="lru", description="eviction policy of every memory cache and memory tier"
    )
    cache_backend: Literal["sqlite", "redis"] = Field(
        default="sqlite", description="second tier of the two-tier caches; redis: redis_url"
    )
    redis_url: SecretStr | None = Field(default=None, description="redis://host:6379/0")

    # -- the LLM ---------------------------------------------------------------------------
    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL ending in /v1; None: `serve` starts the stub",
    )
    llm_api_key: SecretStr = SecretStr("stub-key")
    llm_model: str = "gpt-4o"
    llm_small_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=10.0, gt=0)
    llm_max_completion_tokens: int = Field(default=200, ge=1)
    llm_models: list[str] = Field(
        default_factory=list,
        description="models /query accepts besides llm_model and llm_small_model",
    )

    # -- the query path --------------------------------------------------------------------
    token_budget: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_TOKEN_BUDGET))
    token_log_path: Path | None = Field(default=None, description="tokens.jsonl; None: no log")
    max_query_chars: int = Field(default=4000, ge=1)
    max_body_bytes: int = Field(
        default=65_536, ge=1024, description="larger request bodies are refused (413) unread"
    )
    max_queries_in_flight: int = Field(
        default=64, ge=1,
        description="per worker; more queries at once are shed (503 overloaded) rather than "
        "queued. About the rate the worker sustains times the latency you accept",
    )  # fmt: skip
    max_entities_per_query: int = Field(default=8, ge=1)
    conversation_history_turns: int = Field(default=6, ge=1)
    entity_cache_ttl_seconds: float = Field(default=300.0, gt=0)
    correlation_ttl_seconds: float = Field(default=86_400.0, gt=0)
    correlation_prefetch: int = Field(
        default=100, ge=0,
        description="on a correlation miss, also correlate a first-seen entity with this many "
        "of the most mentioned ones (0: off)",
    )  # fmt: skip
    llm_cache_ttl_seconds: float = Field(default=3600.0, gt=0)

    # -- the admin endpoints ---------------------------------------------------------------
    admin_token: SecretStr | None = Field(
        default=None,
        description="/admin/* then needs `Authorization: Bearer <token>`; without a token they "
        "answer loopback clients only, and `perf serve` refuses to bind beyond loopback",
    )

    # -- the synthetic dataset -------------------------------------------------------------
    dataset_seed: int = 42
    dataset_scale: float = Field(
        default=1.0, gt=0, le=40, description="1.0: 300 devices, 3,000 entities"
    )
    dataset_days: int = Field(default=7, ge=1, le=90)

    # -- the daily analysis ----------------------------------------------------------------
    analysis_scheduler: bool = False
    analysis_interval_seconds: float = Field(default=86_400.0, gt=0)
    analysis_concurrency: int = Field(default=4, ge=1)
    warm_up: bool = True
    warm_up_entities: int = Field(default=200, ge=0)
    warm_up_pairs: int = Field(default=500, ge=0)

    # -- several worker processes (`perf serve --workers N` sets the folder) -----------------
    worker_stats_dir: Path | None = Field(
        default=None, description="where workers share their figures; None: a single worker"
    )
    worker_stats_interval_seconds: float = Field(default=0.5, gt=0)

    # -- access traces of the caches (perf.cache.trace; `perf load` turns them on) ----------
    cache_trace_rate: float = Field(
        default=0.0, ge=0, le=1,
        description="record the lookups of this share of each cache's keys, by hash (SHARDS); "
        "0: off, nothing on the hit path",
    )  # fmt: skip
    cache_trace_dir: Path | None = Field(
        default=None,
        description="where each worker writes its caches' traces when it stops "
        "(cache-traces-<pid>.json); needed when cache_trace_rate > 0",
    )

    # -- the LLM stub ----------------------------------------------------------------------
    stub_latency_median_ms: float = Field(default=40.0, ge=0)
    stub_latency_p95_ms: float = Field(default=120.0, ge=0)
    stub_error_rate: float = Field(default=0.0, ge=0, le=1)
    stub_seed: int | None = None

    @field_validator("token_budget")
    @classmethod
    def _known_budget_keys(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(BUDGET_KEYS))
        if unknown:
            raise ValueError(f"unknown token budget keys {unknown}; known: {list(BUDGET_KEYS)}")
        return value

    @field_validator("llm_model", "llm_small_model")
    @classmethod
    def _countable_model(cls, value: str) -> str:
        _check_models([value])
        return value

    @field_validator("llm_models")
    @classmethod
    def _countable_models(cls, value: list[str]) -> list[str]:
        _check_models(value)
        return value

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError(
                "the admin token must have at least 16 characters; make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @property
    def accepted_models(self) -> list[str]:
        """The models a client may ask for (``llm_model`` first)."""
        return list(dict.fromkeys([self.llm_model, self.llm_small_model, *self.llm_models]))

    @model_validator(mode="after")
    def _redis_backend_has_a_url(self) -> ServiceSettings:
        if self.cache_backend == "redis" and not self.redis_url:
            raise ValueError("cache_backend=redis needs redis_url (PERF_REDIS_URL)")
        return self

    @model_validator(mode="after")
    def _traces_have_a_folder(self) -> ServiceSettings:
        if self.cache_trace_rate > 0 and self.cache_trace_dir is None:
            raise ValueError(
                "cache_trace_rate > 0 needs cache_trace_dir (PERF_CACHE_TRACE_DIR): the folder "
                "the traces are written to when the service stops"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """``database_url``, or the aiosqlite URL of ``database_path``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.database_path}"

    def recorded(self) -> dict[str, Any]:
        """JSON-ready settings for a run manifest (the API key masked)."""
        return self.model_dump(mode="json")


def _check_models(models: list[str]) -> None:
    """Every model must be one whose tokens perf can count (the budget needs it)."""
    from perf.tokens import encoding_name_for_model  # noqa: PLC0415 - tiktoken is heavy

    for model in models:
        encoding_name_for_model(model)  # UnknownModelError is a ValueError: pydantic reports it
