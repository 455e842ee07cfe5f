"""Any Locust run's own outputs, read with the standard library: ``--csv PREFIX`` (the stats and
stats-history tables) and ``--json-file`` (every endpoint's response-time histogram).

Locust rounds response times into buckets of about two significant digits (exact below 100 ms,
then to 10 ms, 100 ms, 1 s) before it counts them, so every percentile here is *Locust-rounded*:
exact figures need a per-request log (``requests.jsonl``), which only our own locustfile writes.
``locust_percentile`` reproduces Locust's own computation on its histogram, so the rows built
from ``locust.json`` match the stats CSV Locust wrote from the same histogram.

The history CSV gives the run over time: every second, the users, the requests and failures
per second and the current response-time percentiles (of the last ~10 s, for the
``Aggregated`` row; per endpoint too with ``--csv-full-history``).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "AGGREGATED",
    "LocustEndpoint",
    "LocustHistoryRow",
    "LocustStatsRow",
    "aggregate",
    "endpoint_from_json",
    "expand_histogram",
    "locust_bucket",
    "locust_percentile",
    "read_locust_endpoints",
    "read_locust_history",
    "read_locust_json",
    "read_locust_stats",
]

AGGREGATED = "Aggregated"
ROUNDED = "Locust-rounded"


def _number(text: str | None) -> float | None:
    """A CSV cell as a number; ``N/A`` and empty cells are ``None``."""
    if text is None or not text.strip() or text.strip() == "N/A":
        return None
    return float(text)


def _percentiles(row: Mapping[str, str]) -> dict[float, float | None]:
    """The ``50%`` .. ``100%`` columns as ``{0.5: ms, ...}``."""
    found = {}
    for key, value in row.items():
        if key and key.endswith("%") and not key.startswith("Total"):
            found[round(float(key[:-1]) / 100, 6)] = _number(value)
    return found


@dataclass(frozen=True, slots=True)
class LocustStatsRow:
    """One row of ``<prefix>_stats.csv`` (times in ms, Locust-rounded percentiles)."""

    method: str  # "Type": GET, POST... ("" for the Aggregated row)
    name: str
    count: int
    failures: int
    median_ms: float | None
    average_ms: float | None
    min_ms: float | None
    max_ms: float | None
    rps: float | None
    percentiles: dict[float, float | None] = field(default_factory=dict)
    rounding: str = ROUNDED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _csv_rows(path: Path, column: str, what: str) -> list[dict[str, str]]:
    """The rows of a CSV that must have ``column`` (else it is not ``what``)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and column not in rows[0]:
        raise ValueError(f"{path} is not {what} (no {column!r} column)")
    return rows


def read_locust_stats(path: Path) -> list[LocustStatsRow]:
    """Every row of a Locust ``_stats.csv``, the ``Aggregated`` row last, as Locust wrote it."""
    rows = _csv_rows(path, "Request Count", "a Locust stats CSV")
    return [
        LocustStatsRow(
            method=row.get("Type") or "",
            name=row["Name"],
            count=int(row["Request Count"]),
            failures=int(row["Failure Count"]),
            median_ms=_number(row.get("Median Response Time")),
            average_ms=_number(row.get("Average Response Time")),
            min_ms=_number(row.get("Min Response Time")),
            max_ms=_number(row.get("Max Response Time")),
            rps=_number(row.get("Requests/s")),
            percentiles=_percentiles(row),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class LocustHistoryRow:
    """One row of ``<prefix>_stats_history.csv``: the run at one second."""

    timestamp: float  # Unix seconds
    users: int
    method: str
    name: str
    rps: float | None
    failures_per_s: float | None
    percentiles: dict[float, float | None]  # of the last seconds' requests
    total_count: int
    total_failures: int


def read_locust_history(path: Path) -> list[LocustHistoryRow]:
    """Every row of a Locust ``_stats_history.csv``, in file (time) order."""
    rows = _csv_rows(path, "User Count", "a Locust stats history CSV")
    return [
        LocustHistoryRow(
            timestamp=float(row["Timestamp"]),
            users=int(float(row["User Count"] or 0)),
            method=row.get("Type") or "",
            name=row["Name"],
            rps=_number(row.get("Requests/s")),
            failures_per_s=_number(row.get("Failures/s")),
            percentiles=_percentiles(row),
            total_count=int(float(row.get("Total Request Count") or 0)),
            total_failures=int(float(row.get("Total Failure Count") or 0)),
        )
        for row in rows
    ]


def read_locust_json(path: Path) -> list[dict[str, Any]]:
    """The endpoint entries of Locust's ``--json-file NAME`` (written to ``NAME.json``; one
    entry per ``(method, name)``, no aggregated entry), with
    ``response_times`` keyed by the rounded milliseconds as numbers."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); re-run Locust") from exc
    entries = data.get("stats", []) if isinstance(data, dict) else data
    if not isinstance(entries, list) or any("num_requests" not in e for e in entries):
        raise ValueError(f"{path} is not a Locust --json-file (no per-endpoint num_requests)")
    out = []
    for entry in entries:
        times = {float(k): int(v) for k, v in (entry.get("response_times") or {}).items()}
        out.append({**entry, "response_times": times})
    return out


def locust_bucket(ms: float) -> float:
    """How Locust rounds a response time before counting it (``StatsEntry._log_time``):
    whole ms below 100 ms, then two significant digits (10 ms, 100 ms, 1,000 ms steps)."""
    if ms < 100:
        return float(round(ms))
    digits = -1 if ms < 1000 else -2 if ms < 10000 else -3
    return float(round(ms, digits))


def locust_percentile(histogram: Mapping[float, int], count: int, q: float) -> float:
    """Locust's own percentile of a response-time histogram
    (``calculate_response_time_percentile``): the largest bucket at which at most
    ``int(count * q)`` requests lie below."""
    below = int(count * q)
    seen = 0
    for bucket in sorted(histogram, reverse=True):
        seen += histogram[bucket]
        if count - seen <= below:
            return bucket
    return 0.0


@dataclass(frozen=True, slots=True)
class LocustEndpoint:
    """One endpoint of ``locust.json``: counts and Locust-rounded percentiles (ms)."""

    method: str
    name: str
    count: int
    failures: int
    median_ms: float | None
    average_ms: float | None
    min_ms: float | None
    max_ms: float | None
    percentiles: dict[float, float | None]
    histogram: dict[float, int]
    start_time: float
    last_request: float | None
    rounding: str = ROUNDED


STATS_PERCENTILES = (0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0)


def endpoint_from_json(entry: Mapping[str, Any]) -> LocustEndpoint:
    """One ``locust.json`` entry as the figures of its row in Locust's stats CSV (the same
    rounding, the same median clamp to the exact min and max)."""
    count = int(entry["num_requests"])
    timed = count - int(entry.get("num_none_requests") or 0)
    histogram: dict[float, int] = dict(entry.get("response_times") or {})
    low, high = entry.get("min_response_time"), entry.get("max_response_time")
    pct: dict[float, float | None] = {
        q: (locust_percentile(histogram, timed, q) if count else None) for q in STATS_PERCENTILES
    }
    median = pct[0.5]
    if median is not None and histogram:
        if high is not None and median > float(high):
            median = float(high)
        elif low is not None and median < float(low):
            median = float(low)
    return LocustEndpoint(
        method=str(entry.get("method") or ""),
        name=str(entry["name"]),
        count=count,
        failures=int(entry.get("num_failures", 0)),
        median_ms=median,
        average_ms=float(entry["total_response_time"]) / timed if timed else None,
        min_ms=None if low is None else float(low),
        max_ms=None if high is None else float(high),
        percentiles=pct,
        histogram=histogram,
        start_time=float(entry.get("start_time") or 0.0),
        last_request=entry.get("last_request_timestamp"),
    )


def aggregate(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every endpoint of ``locust.json`` merged into one entry: Locust's ``Aggregated`` row."""
    histogram: dict[float, int] = defaultdict(int)
    for entry in entries:
        for bucket, n in (entry.get("response_times") or {}).items():
            histogram[float(bucket)] += int(n)
    lows = [e["min_response_time"] for e in entries if e.get("min_response_time") is not None]
    lasts = [e["last_request_timestamp"] for e in entries if e.get("last_request_timestamp")]
    total = {
        key: sum(int(e.get(key) or 0) for e in entries)
        for key in ("num_requests", "num_none_requests", "num_failures", "total_response_time")
    }
    return {
        "name": AGGREGATED, "method": "", **total, "response_times": dict(histogram),
        "min_response_time": min(lows) if lows else None,
        "max_response_time": max((e.get("max_response_time") or 0 for e in entries), default=0),
        "start_time": min((e.get("start_time") or 0.0 for e in entries), default=0.0),
        "last_request_timestamp": max(lasts) if lasts else None,
    }  # fmt: skip


def read_locust_endpoints(path: Path) -> list[LocustEndpoint]:
    """``locust.json`` as one row per endpoint (sorted like Locust's CSV: by name, then
    method) and the ``Aggregated`` row last."""
    entries = sorted(read_locust_json(path), key=lambda e: (e["name"], e.get("method") or ""))
    return [endpoint_from_json(e) for e in entries] + [endpoint_from_json(aggregate(entries))]


def expand_histogram(histogram: Mapping[float, int]) -> list[float]:
    """Every counted response time of a Locust histogram (rounded), ascending."""
    return [bucket for bucket in sorted(histogram) for _ in range(int(histogram[bucket]))]
