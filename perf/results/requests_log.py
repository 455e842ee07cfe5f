"""The per-request log of a load run (``requests.jsonl``) and exact percentiles from it.

One JSON object per line, written by the locustfile:

``timestamp``       when the request was sent (Unix seconds)
``intended_start``  when the workload meant to send it (Unix seconds): equal to ``timestamp`` in
                    Locust's closed model, the arrival schedule in the open model
``name``            the endpoint row (``/query``, ``/health``, ...); ``method`` beside it
``latency_ms``      Locust's measured response time (not rounded)
``status``          HTTP status, 0 when no response arrived; ``ok`` whether Locust counted a
                    success; ``new_query`` for ``/query``: first time this exact text was sent

Locust rounds response times into ~2-significant-digit buckets; these percentiles are exact
(nearest rank). Coordinated omission: a closed-model user waits for a slow response before
sending again, so stalls hide the requests that should have been sent meanwhile. Two
corrections: latency measured from the intended start (exact in the open model), and for the
closed model HdrHistogram's back-fill with an expected interval between requests.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "REQUEST_LOG_COLUMNS",
    "EndpointSummary",
    "RequestRecord",
    "backfill_latencies",
    "merge_request_logs",
    "percentile",
    "read_request_log",
    "summarize_requests",
    "summary_percentile",
]

REQUEST_LOG_COLUMNS = (
    "timestamp",
    "intended_start",
    "name",
    "method",
    "latency_ms",
    "status",
    "ok",
    "new_query",
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    timestamp: float
    intended_start: float
    name: str
    method: str
    latency_ms: float
    status: int
    ok: bool
    new_query: bool | None = None

    @property
    def latency_from_intended_ms(self) -> float:
        """Latency as the user saw it: from the intended start to the response."""
        delay_ms = max(0.0, (self.timestamp - self.intended_start) * 1000.0)
        return delay_ms + self.latency_ms


def read_request_log(path: Path) -> list[RequestRecord]:
    """Every record of a ``requests.jsonl`` file, in file order."""
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                missing = [k for k in REQUEST_LOG_COLUMNS[:-1] if k not in row]
                if missing:
                    raise ValueError(f"missing columns {missing}")
                records.append(RequestRecord(**{k: row.get(k) for k in REQUEST_LOG_COLUMNS}))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a request record ({exc})") from exc
    return records


def merge_request_logs(parts: Sequence[Path], dest: Path) -> int:
    """Merge per-process logs into ``dest`` sorted by send time; returns the record count."""
    rows: list[tuple[float, str]] = []
    for part in parts:
        with part.open(encoding="utf-8") as lines:
            rows.extend((json.loads(line)["timestamp"], line) for line in lines if line.strip())
    rows.sort(key=lambda row: row[0])
    tmp = dest.with_name(f".{dest.name}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.writelines(line if line.endswith("\n") else line + "\n" for _, line in rows)
    tmp.replace(dest)
    return len(rows)


def percentile(values: Sequence[float], q: float) -> float:
    """Exact nearest-rank percentile (``q`` in [0, 1]) of unsorted ``values``."""
    if not values:
        raise ValueError("percentile of no values: the run recorded no requests for this name")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within [0, 1], got {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def backfill_latencies(latencies_ms: Iterable[float], expected_interval_ms: float) -> list[float]:
    """HdrHistogram's coordinated-omission correction for a closed-model log.

    For every latency longer than the expected interval between requests, add the samples
    the stalled user would have recorded had it kept sending: ``L - i``, ``L - 2i``, ...
    """
    if expected_interval_ms <= 0:
        raise ValueError(f"expected_interval_ms must be > 0, got {expected_interval_ms}")
    corrected = []
    for latency in latencies_ms:
        corrected.append(latency)
        missing = latency - expected_interval_ms
        while missing >= expected_interval_ms:
            corrected.append(missing)
            missing -= expected_interval_ms
    return corrected


@dataclass(frozen=True, slots=True)
class EndpointSummary:
    """Exact numbers for one endpoint row (milliseconds)."""

    name: str
    count: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    co_p95_ms: float  # from the intended start (open model) or back-filled (closed model)
    co_p99_ms: float
    cold_miss_share: float | None  # /query: share of texts sent for the first time

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_requests(
    records: Iterable[RequestRecord], *, expected_interval_ms: float | None = None
) -> dict[str, EndpointSummary]:
    """Per-endpoint exact and coordinated-omission-aware percentiles.

    ``expected_interval_ms`` (the closed model's think time) turns on the back-fill; without it
    the corrected percentiles use the latency from the intended start only.
    """
    by_name: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in records:
        by_name[record.name].append(record)
    summaries = {}
    for name, rows in sorted(by_name.items()):
        latencies = [r.latency_ms for r in rows]
        corrected = [r.latency_from_intended_ms for r in rows]
        if expected_interval_ms:
            corrected = backfill_latencies(corrected, expected_interval_ms)
        flags = [r.new_query for r in rows if r.new_query is not None]
        summaries[name] = EndpointSummary(
            name=name,
            count=len(rows),
            failures=sum(not r.ok for r in rows),
            p50_ms=percentile(latencies, 0.50),
            p95_ms=percentile(latencies, 0.95),
            p99_ms=percentile(latencies, 0.99),
            max_ms=max(latencies),
            co_p95_ms=percentile(corrected, 0.95),
            co_p99_ms=percentile(corrected, 0.99),
            cold_miss_share=sum(flags) / len(flags) if flags else None,
        )
    return summaries


def summary_percentile(
    summaries: Mapping[str, EndpointSummary], name: str, q: float
) -> float | None:
    """P50, P95 or P99 (``q`` 0.5, 0.95, 0.99) of endpoint ``name``; ``None`` when it saw no
    requests. The shape ``check_latency_slos`` asks for."""
    summary = summaries.get(name)
    return None if summary is None else float(getattr(summary, f"p{round(q * 100)}_ms"))
