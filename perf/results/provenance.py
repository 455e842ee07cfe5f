"""Where a run came from: git commit and dirty flag, the machine, the package versions.

Everything here is recorded in a run's ``manifest.json`` so two runs can be compared knowing
what differed between them. Nothing here raises: unknown facts are recorded as ``None``.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["KEY_PACKAGES", "git_state", "machine_info", "package_versions"]

# The dependencies whose versions change what a run measures.
KEY_PACKAGES = (
    "perf",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "tiktoken",
    "prometheus-client",
    "fastapi",
    "uvicorn",
    "httpx",
    "pydantic",
    "locust",
    "pytest",
    "pytest-benchmark",
    "pandas",
    "numpy",
    "cachetools",
    "diskcache",
    "async-lru",
    "aiocache",
    "hdrhistogram",
    "ddsketch",
)

_UNKNOWN_COMMIT = "nogit"


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed git arguments, no shell
            ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(repo: Path) -> tuple[str, bool | None]:
    """``(short commit, dirty)`` of the checkout at ``repo``; ``("nogit", None)`` outside git.

    Dirty means tracked files differ from the commit or untracked files exist (ignored files,
    such as ``results/runs/``, do not count).
    """
    commit = _git(repo, "rev-parse", "--short=8", "HEAD")
    if not commit:
        return _UNKNOWN_COMMIT, None
    status = _git(repo, "status", "--porcelain")
    return commit, None if status is None else bool(status)


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info() -> dict[str, Any]:
    """CPU model, core counts (all and usable by this process), OS and Python."""
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "hostname": platform.node(),
    }


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution in ``names``; ``None`` when not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
