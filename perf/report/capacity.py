"""Capacity: whether one step of ``perf load --find-capacity`` was sustained (the notebook's
frames are in ``perf.report.capacity_frames``).

The judge (``judge_step``, injected into ``perf.loadgen.capacity``) reads a step's request log
the way the gate reads a load run's: MSER-5 cuts the warm-up of each endpoint's latency series,
P50 / P95 / P99 of what follows come with their order-statistic 95 % intervals, and each latency
target of ``[tool.perf.targets]`` is a pass / fail / inconclusive check on its interval. The
step's steady window is the primary endpoint's (``/query``) after its cut; in it:

- achieved rate: the offered rate times the span of the window's requests' send times over the
  span of their completion times (a service that keeps up completes them as fast as they leave;
  a saturated one stretches them out, and those still queued when the step ends never
  complete). Counting requests per second instead is too noisy here: the open model's users
  each send on a fixed period, so the count in a window swings by up to one per user. At
  least ``MIN_ACHIEVED`` (95 %) of offered;
- errors: at most ``MAX_ERROR_RATE`` (1 %) of the requests sent in the window.

``pass`` (sustained): every target passes, the rate is achieved, errors within bound. ``fail``:
any of them missed. ``inconclusive``: a target's interval straddles it; or a miss while the load
generator used at least ``GENERATOR_BUSY`` of a core or sent late (P95 more than ``MAX_LAG_MS``
after its schedule): then the generator, not the service, may be what fell short.
Inconclusive counts as not sustained, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from perf.report.checks import request_steady
from perf.report.verdicts import FAIL, INCONCLUSIVE, PASS, Check, Steady, steady_check
from perf.results.files import REQUEST_LOG
from perf.results.requests_log import RequestRecord, percentile, read_request_log
from perf.results.targets import LATENCY_SLOS

__all__ = [
    "GENERATOR_BUSY",
    "MAX_ERROR_RATE",
    "MAX_LAG_MS",
    "MIN_ACHIEVED",
    "PRIMARY",
    "QUANTILES",
    "judge_records",
    "judge_step",
]

PRIMARY = "/query"
QUANTILES = (0.5, 0.95, 0.99)
MIN_ACHIEVED = 0.95
MAX_ERROR_RATE = 0.01
GENERATOR_BUSY = 0.9  # cores: a Locust process this busy may be the bottleneck itself
MAX_LAG_MS = 100.0  # P95 of send time - scheduled time: beyond it the generator fell behind


def judge_step(
    step: Path, offered_rate: float, cores: Mapping[str, float] | None, *,
    targets: Mapping[str, float],
) -> dict[str, Any]:  # fmt: skip
    """The verdict and measurements of the step whose folder is ``step`` (``perf.loadgen.
    capacity.Judge``, once ``targets`` are bound)."""
    log = step / REQUEST_LOG
    records = read_request_log(log) if log.is_file() else []
    return judge_records(records, offered_rate, cores, targets)


def _short(check: Check) -> str:
    iv = check.interval or {}
    return (f"{check.name} {check.measured:,.0f} ms [{iv.get('low', 0):,.0f}, "
            f"{iv.get('high', 0):,.0f}] vs {check.target} ms: {check.verdict}")  # fmt: skip


def _endpoints(
    records: Sequence[RequestRecord], targets: Mapping[str, float]
) -> tuple[dict[str, Any], list[Check], Steady]:
    """Per endpoint: P50 / P95 / P99 in steady state with intervals; the checks of the latency
    targets; the primary endpoint's P95 split (its cut is the step's warm-up)."""
    endpoints: dict[str, Any] = {}
    checks: list[Check] = []
    window: Steady | None = None
    for name in sorted({r.name for r in records}):
        rows = [r for r in records if r.name == name]
        per_q = {q: request_steady(rows, q, f"{name} latency per request") for q in QUANTILES}
        endpoints[name] = {
            "count": len(rows),
            **{f"p{round(q * 100)}_ms": s.interval.as_dict() for q, s in per_q.items()},
            "window": per_q[0.95].window(),
        }
        window = per_q[0.95] if name == PRIMARY else window
        for slo in LATENCY_SLOS:
            if slo.endpoint == name and slo.target_key in targets and slo.quantile in per_q:
                checks.append(steady_check(
                    slo.target_key, "<", targets[slo.target_key], per_q[slo.quantile], unit="ms",
                    source=REQUEST_LOG, what=f"P{round(slo.quantile * 100)} of {name}",
                ))  # fmt: skip
    assert window is not None  # the caller checked PRIMARY has rows
    return endpoints, checks, window


def _behind(cores: Mapping[str, float] | None, lag_ms: float) -> list[str]:
    """Signs that the load generator, not the service, fell short."""
    signs = []
    busy = (cores or {}).get("generator")
    if busy is not None and busy >= GENERATOR_BUSY:
        signs.append(f"the load generator used {busy:.2f} of a core")
    if lag_ms > MAX_LAG_MS:
        signs.append(f"it sent late (P95 {lag_ms:,.0f} ms after schedule)")
    return signs


def _verdict(failed: list[str], unsure: list[str], behind: list[str]) -> tuple[str, list[str]]:
    if failed and behind:
        return INCONCLUSIVE, [f"{' and '.join(behind)}: it may be what fell short", *failed]
    if failed:
        return FAIL, failed
    if unsure:
        return INCONCLUSIVE, unsure
    return PASS, []


def judge_records(
    records: Sequence[RequestRecord],
    offered_rate: float,
    cores: Mapping[str, float] | None,
    targets: Mapping[str, float],
) -> dict[str, Any]:
    """``judge_step`` on records already read (all endpoints of one step)."""
    primary = sorted((r for r in records if r.name == PRIMARY), key=lambda r: r.timestamp)
    if len(primary) < 2:
        return {"verdict": FAIL, "requests": len(records),
                "reason": f"fewer than two {PRIMARY} responses recorded in the step"}  # fmt: skip
    endpoints, checks, window = _endpoints(records, targets)
    start = primary[window.truncation.cut].timestamp
    end = primary[-1].timestamp
    if end - start <= 0:
        start = primary[0].timestamp
    seconds = end - start
    sent = [r for r in records if start <= r.timestamp <= end]
    errors = sum(not r.ok for r in sent)
    # the same requests' send times against their completion times: a service that keeps up
    # completes them as fast as they leave; a saturated one stretches them out (and those
    # still queued at the end never complete, so they shorten the sends' span)
    sends = [r.timestamp for r in sent]
    completions = [r.timestamp + r.latency_ms / 1000 for r in sent]
    spread = max(completions) - min(completions)
    share = (max(sends) - min(sends)) / spread if spread > 0 else 0.0
    achieved = offered_rate * share
    lag_ms = percentile([max(0.0, r.timestamp - r.intended_start) * 1000 for r in sent], 0.95)
    error_rate = errors / len(sent) if sent else 0.0
    failed = [_short(c) for c in checks if c.verdict == FAIL]
    unsure = [_short(c) for c in checks if c.verdict == INCONCLUSIVE]
    if any(c.verdict == INCONCLUSIVE and not (c.window or {}).get("settled", True) for c in checks):
        unsure.append("latency still rising at the end of the step: a warm-up, or a queue that "
                      "keeps growing (at or past the limit)")  # fmt: skip
    rate = f"achieved {achieved:,.3g} of {offered_rate:,.3g} requests/s ({share:.0%})"
    if share < MIN_ACHIEVED:
        failed.append(f"{rate} < {MIN_ACHIEVED:.0%}")
    if error_rate > MAX_ERROR_RATE:
        failed.append(f"{errors} errors ({error_rate:.1%} > {MAX_ERROR_RATE:.0%})")
    verdict, reasons = _verdict(failed, unsure, _behind(cores, lag_ms))
    if verdict == PASS:
        reasons = [*(_short(c) for c in checks), rate, f"{errors} errors"]
    return {
        "verdict": verdict,
        "reason": "; ".join(reasons),
        "requests": len(records),
        "achieved_rate": achieved,
        "send_lag_p95_ms": lag_ms,
        "achieved_share": share,
        "errors": errors,
        "error_rate": error_rate,
        "window": {
            "start": start,
            "end": end,
            "seconds": seconds,
            "warmup_seconds": start - primary[0].timestamp,
        },
        "endpoints": endpoints,
        "checks": [c.as_dict() for c in checks],
    }
