"""Where the CLI finds the checkout and the results, and what it records of the environment.

The CLI is the one place besides the service that reads the environment: ``PERF_RESULTS_DIR``
and the service's ``PERF_*`` settings, which it records in the run manifest.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["add_results_dir_option", "perf_env", "repo_root", "results_root"]

_SECRET_WORDS = ("KEY", "PASSWORD", "SECRET", "ADMIN_TOKEN")


def repo_root() -> Path:
    """The checkout holding ``benchmarks/`` and ``loadtests/``: from the working directory up,
    else the folder above the installed ``perf`` package."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "pyproject.toml").is_file() and (folder / "loadtests").is_dir():
            return folder
    return Path(__file__).resolve().parent.parent.parent


def results_root(results_dir: str | None, repo: Path) -> Path:
    """``--results-dir``, else ``$PERF_RESULTS_DIR``, else ``results/`` in the repo."""
    if results_dir:
        return Path(results_dir)
    return Path(os.environ.get("PERF_RESULTS_DIR") or repo / "results")


def add_results_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results-dir", help="results root (default: $PERF_RESULTS_DIR, else results/ in the repo)"
    )


def perf_env(env: Mapping[str, str]) -> dict[str, str]:
    """The ``PERF_*`` variables, secrets masked, for the manifest."""
    return {
        k: "***" if any(w in k for w in _SECRET_WORDS) else v
        for k, v in sorted(env.items())
        if k.startswith("PERF_")
    }
