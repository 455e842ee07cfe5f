"""The documented targets (``[tool.perf.targets]`` in pyproject.toml) and the latency SLOs.

The targets live once, as data; the load test's ``quitting`` hook and the gate read them from
there. A latency SLO names a target key, the endpoint row it applies to, and the percentile.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from perf.errors import ConfigurationError

__all__ = [
    "LATENCY_SLOS",
    "SLO_FAILED_EXIT_CODE",
    "LatencySlo",
    "SloCheck",
    "check_latency_slos",
    "find_pyproject",
    "load_targets",
]


SLO_FAILED_EXIT_CODE = 3  # a plain `locust -f loadtests/locustfile.py` run that missed an SLO


@dataclass(frozen=True, slots=True)
class LatencySlo:
    target_key: str
    endpoint: str
    quantile: float


LATENCY_SLOS = (
    LatencySlo("query_latency_p95_ms", "/query", 0.95),
    LatencySlo("health_p95_ms", "/health", 0.95),
)


@dataclass(frozen=True, slots=True)
class SloCheck:
    """One latency check: ``verdict`` is ``pass``, ``fail`` or ``no data``."""

    target_key: str
    endpoint: str
    quantile: float
    target_ms: float
    measured_ms: float | None
    verdict: str

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"

    def message(self) -> str:
        label = f"P{round(self.quantile * 100)} of {self.endpoint}"
        if self.measured_ms is None:
            return f"NO DATA {self.target_key}: no {self.endpoint} requests were recorded"
        word = "ok" if self.verdict == "pass" else "FAIL"
        return (
            f"{word} {self.target_key}: {label} was {self.measured_ms:.1f} ms, "
            f"target < {self.target_ms:g} ms"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_targets(path: Path) -> dict[str, float]:
    """The targets table of ``path``: ``[tool.perf.targets]``, or a top-level ``[targets]``
    (for a small override file such as the tests' impossible targets)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read targets from {path}: {exc}") from exc
    table = data.get("tool", {}).get("perf", {}).get("targets", data.get("targets"))
    if not isinstance(table, dict):
        raise ConfigurationError(
            f"{path} has no [tool.perf.targets] (or [targets]) table; add one with the "
            "documented targets, e.g. query_latency_p95_ms = 500"
        )
    bad = {k: v for k, v in table.items() if not isinstance(v, int | float)}
    if bad:
        raise ConfigurationError(f"targets in {path} must be numbers; not numbers: {bad}")
    return {k: float(v) for k, v in table.items()}


def check_latency_slos(
    percentile_ms: Callable[[str, float], float | None],
    targets: Mapping[str, float],
    slos: tuple[LatencySlo, ...] = LATENCY_SLOS,
) -> list[SloCheck]:
    """Check every SLO whose target is set; ``percentile_ms(endpoint, q)`` gives the measured
    value, or ``None`` when the endpoint saw no requests."""
    checks = []
    for slo in slos:
        if slo.target_key not in targets:
            continue
        target = targets[slo.target_key]
        measured = percentile_ms(slo.endpoint, slo.quantile)
        verdict = "no data" if measured is None else "pass" if measured < target else "fail"
        checks.append(
            SloCheck(slo.target_key, slo.endpoint, slo.quantile, target, measured, verdict)
        )
    return checks
