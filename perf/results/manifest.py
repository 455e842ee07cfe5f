"""The manifest's schema beyond the run folder's own fields: what each stage records, and typed
accessors for it. Writers and readers both use the names below; no other module walks the
manifest's nested dicts by string path.

A stage entry (``RunFolder.begin_stage`` / ``finish_stage``) holds ``status``, ``started_at``,
``finished_at``, ``exit_code``, ``command``, ``settings`` and ``workload``; the ``load`` stage
adds:

- ``settings.env``: the ``PERF_*`` variables (secrets masked); ``settings.service``: the
  service's recorded settings (``ServiceSettings.recorded()``) when ``perf load`` started it;
- ``workload``: the load options and workload parameters (``LoadOptions.recorded()``);
- ``summary``: per endpoint, the exact figures of ``EndpointSummary.as_dict()``;
- ``slo_checks``: the latency SLO checks of the run;
- ``profile``: with ``--profile``, how py-spy sampled the service (rate, start offset, duration,
  samples, its command), the service's top frames and the files it left, or ``error`` saying
  why there is no profile.

``perf load --find-capacity`` records the ``capacity`` stage instead (the same ``settings`` and
``workload``, the search's options under ``settings.capacity``) and adds ``knees``: per search,
its knee as in ``capacity.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "BENCH_STAGE",
    "CAPACITY_STAGE",
    "COMPARE_STAGE",
    "GATE_STAGE",
    "LOAD_STAGE",
    "PROFILE",
    "REPORT_STAGE",
    "SERVICE_SETTINGS",
    "SLO_CHECKS",
    "SUMMARY",
    "cold_miss_share",
    "endpoint_summary",
    "expected_interval_ms",
    "stage",
    "token_budget",
    "workload",
]

BENCH_STAGE: Final = "bench"
LOAD_STAGE: Final = "load"
CAPACITY_STAGE: Final = "capacity"  # perf load --find-capacity; its entry adds "knees"
REPORT_STAGE: Final = "report"
GATE_STAGE: Final = "gate"
COMPARE_STAGE: Final = "compare"

SERVICE_SETTINGS: Final = "service"  # key under the load stage's settings
SUMMARY: Final = "summary"  # key of the load stage: per-endpoint exact figures
SLO_CHECKS: Final = "slo_checks"  # key of the load stage: the latency SLO checks
PROFILE: Final = "profile"  # key of the load stage: the sampling profile (perf load --profile)


def stage(manifest: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The entry of stage ``name``, or ``{}`` when that stage did not run."""
    entry: dict[str, Any] = manifest.get("stages", {}).get(name) or {}
    return entry


def workload(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The load stage's options and workload parameters (``{}`` without a load stage)."""
    recorded: dict[str, Any] = stage(manifest, LOAD_STAGE).get("workload") or {}
    return recorded


def endpoint_summary(manifest: Mapping[str, Any], endpoint: str) -> dict[str, Any] | None:
    """The load stage's exact figures for one endpoint row, e.g. ``/query``."""
    summary: dict[str, Any] | None = stage(manifest, LOAD_STAGE).get(SUMMARY, {}).get(endpoint)
    return summary


def cold_miss_share(manifest: Mapping[str, Any], endpoint: str = "/query") -> float | None:
    """The share of ``endpoint``'s requests whose text was sent for the first time."""
    share = (endpoint_summary(manifest, endpoint) or {}).get("cold_miss_share")
    return None if share is None else float(share)


def token_budget(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The token budget the service ran with, when ``perf load`` started the service."""
    settings = stage(manifest, LOAD_STAGE).get("settings") or {}
    budget: dict[str, Any] | None = (settings.get(SERVICE_SETTINGS) or {}).get("token_budget")
    return budget


def expected_interval_ms(recorded_workload: Mapping[str, Any]) -> float | None:
    """The closed model's mean think time (the coordinated-omission back-fill interval) of a
    recorded workload (``workload(manifest)`` or ``LoadOptions.recorded()``); ``None`` for an
    open-model run or a record without think times."""
    if recorded_workload.get("model", "closed") != "closed":
        return None
    if "think_min_s" not in recorded_workload:
        return None
    low, high = float(recorded_workload["think_min_s"]), float(recorded_workload["think_max_s"])
    mean_ms = (low + high) / 2 * 1000
    return mean_ms if mean_ms > 0 else None
