"""``perf serve``, ``perf stub-llm`` and ``perf analyze``: added to the main CLI's parser.

Nothing heavy is imported here: fastapi, sqlalchemy and tiktoken load inside the handlers.
Settings come from ``PERF_*`` environment variables; the flags override them.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_commands"]


def _settings(**overrides: Any) -> Any:
    from perf.service.settings import ServiceSettings  # noqa: PLC0415 - pydantic, FastAPI, SQLAlchemy load when the command runs

    return ServiceSettings(**{k: v for k, v in overrides.items() if v is not None})


def _serve(args: argparse.Namespace) -> int:
    from perf.service.server import run_service  # noqa: PLC0415 - pydantic, FastAPI, SQLAlchemy load when the command runs

    return run_service(_settings(llm_base_url=args.llm_url), args.host, args.port, args.workers)


def _stub(args: argparse.Namespace) -> int:
    from perf.service.server import run_stub  # noqa: PLC0415 - pydantic, FastAPI, SQLAlchemy load when the command runs

    settings = _settings(
        stub_latency_median_ms=args.latency_median_ms,
        stub_latency_p95_ms=args.latency_p95_ms,
        stub_error_rate=args.error_rate,
    )
    return run_stub(settings, args.host, args.port, args.parent_pid)


def _analyze(args: argparse.Namespace) -> int:
    from perf.service.server import run_analysis_once  # noqa: PLC0415 - pydantic, FastAPI, SQLAlchemy load when the command runs

    return run_analysis_once(_settings(), args.full)


def add_commands(subparsers: Any) -> None:
    """Add ``serve``, ``stub-llm`` and ``analyze`` to an argparse ``add_subparsers()`` object."""
    serve = subparsers.add_parser(
        "serve", help="run the reference query service (and the LLM stub, unless --llm-url)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--llm-url", default=None, help="OpenAI-compatible base URL (default: PERF_LLM_BASE_URL)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes (default 1); their /performance/stats figures are merged",
    )
    serve.set_defaults(func=_serve)

    stub = subparsers.add_parser("stub-llm", help="run the OpenAI-compatible LLM stub alone")
    stub.add_argument("--host", default="127.0.0.1")
    stub.add_argument("--port", type=int, default=8001)
    stub.add_argument("--latency-median-ms", type=float, default=None)
    stub.add_argument("--latency-p95-ms", type=float, default=None)
    stub.add_argument("--error-rate", type=float, default=None)
    stub.add_argument(
        "--parent-pid", type=int, default=None, help="exit when this process is gone (`serve`)"
    )
    stub.set_defaults(func=_stub)

    analyze = subparsers.add_parser(
        "analyze", help="recompute patterns, synergies and correlations (incrementally)"
    )
    analyze.add_argument("--full", action="store_true", help="recompute from all events")
    analyze.set_defaults(func=_analyze)
