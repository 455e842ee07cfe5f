"""Read a run folder's files as plain dicts and lists (standard library only, so the gate never
imports pandas; ``perf.report.frames`` builds the notebooks' DataFrames on top). A missing file
raises ``MissingRunFileError``, which says which command writes it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from perf.errors import MissingRunFileError
from perf.results.files import (
    BENCHMARKS,
    CACHE_TRACES,
    COMPARE_DIR,
    MANIFEST,
    MONITOR,
    MONITOR_HISTORY,
    PRODUCERS,
    REQUEST_LOG,
    TOKEN_LOG,
)
from perf.results.requests_log import RequestRecord, read_request_log
from perf.results.runs import find_run
from perf.results.targets import find_pyproject

__all__ = [
    "cache_counts",
    "per_query_tokens",
    "query_id",
    "read_benchmarks",
    "read_cache_traces",
    "read_compare_rounds",
    "read_manifest",
    "read_monitor",
    "read_monitor_history",
    "read_requests",
    "read_token_log",
    "resolve_run",
    "run_file",
]

RunPath = str | Path


def run_file(run: RunPath, name: str) -> Path:
    """``run/name``, or ``MissingRunFileError`` naming the command that writes it."""
    path = Path(run) / name
    if not path.is_file():
        raise MissingRunFileError(Path(run), name, PRODUCERS.get(name, "perf run"))
    return path


def resolve_run(ref: str = "latest", results_dir: RunPath | None = None) -> Path:
    """A run folder from ``latest``, a run id, ``baseline[:name]`` or a path.

    ``results_dir`` defaults to ``results/`` beside the nearest ``pyproject.toml`` above the
    working directory (the repo's, when a notebook runs from ``notebooks/``).
    """
    if results_dir is None:
        pyproject = find_pyproject(Path.cwd().resolve())
        root = pyproject.parent if pyproject else Path.cwd()
        results_dir = root / "results"
    return find_run(Path(results_dir), ref).path


def _read_json(run: RunPath, name: str) -> Any:
    path = run_file(run, name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path} is not valid JSON ({exc}); re-run the stage that wrote it"
        ) from exc


def read_manifest(run: RunPath) -> dict[str, Any]:
    """The run's ``manifest.json``."""
    data: dict[str, Any] = _read_json(run, MANIFEST)
    return data


def read_monitor(run: RunPath) -> dict[str, Any]:
    """``monitor.json``: the service's ``/performance/stats`` at the end of the load run."""
    data: dict[str, Any] = _read_json(run, MONITOR)
    return data


def read_cache_traces(run: RunPath) -> dict[str, dict[str, Any]]:
    """``cache_traces.json``: per cache name, its sampled key trace (``keys``, ``rate``,
    ``lookups``, ``max_entries``; see ``perf.cache.trace.KeyTrace.as_dict``)."""
    data = _read_json(run, CACHE_TRACES)
    caches: dict[str, dict[str, Any]] = data.get("caches", {})
    return caches


def read_benchmarks(run: RunPath) -> list[dict[str, Any]]:
    """The ``benchmarks`` entries of pytest-benchmark's ``benchmarks.json``."""
    data = _read_json(run, BENCHMARKS)
    entries: list[dict[str, Any]] = data.get("benchmarks", [])
    return entries


def read_compare_rounds(run: RunPath) -> dict[str, list[dict[str, list[float]]]]:
    """``perf compare``'s rounds: per side (``base``, ``head``), one ``{benchmark: raw samples}``
    per process, in process order (``compare/<side>-<NN>.json``)."""
    folder = Path(run) / COMPARE_DIR
    if not folder.is_dir():
        raise MissingRunFileError(Path(run), COMPARE_DIR, "perf compare")
    sides: dict[str, list[dict[str, list[float]]]] = defaultdict(list)
    for path in sorted(folder.glob("*-[0-9]*.json")):
        side = path.stem.rpartition("-")[0]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from exc
        sides[side].append(
            {b["name"]: [float(x) for x in b["stats"]["data"]]
             for b in data.get("benchmarks", []) if (b.get("stats") or {}).get("data")}
        )  # fmt: skip
    return dict(sides)


def read_token_log(run: RunPath) -> list[dict[str, Any]]:
    """Every record of ``tokens.jsonl`` (one per LLM call), in file order."""
    return _read_jsonl(run_file(run, TOKEN_LOG))


def read_monitor_history(run: RunPath) -> list[dict[str, Any]]:
    """The readings of ``monitor_history.jsonl`` that succeeded, oldest first (a failed
    reading is a gap: the windows around it are simply longer)."""
    readings = _read_jsonl(run_file(run, MONITOR_HISTORY))
    return sorted((r for r in readings if "error" not in r), key=lambda r: float(r["t"]))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON record ({exc})") from exc
    return records


def read_requests(run: RunPath) -> list[RequestRecord]:
    """Every record of ``requests.jsonl``, in file order."""
    return read_request_log(run_file(run, REQUEST_LOG))


def query_id(record: Mapping[str, Any], line_number: int) -> str:
    """The query a ``tokens.jsonl`` record belongs to: its ``request_id``, else its own line
    (a record without an id is a query of its own)."""
    return str(record.get("request_id") or f"{TOKEN_LOG}:{line_number}")


def per_query_tokens(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Prompt tokens after the budget per query: ``total_tokens_after`` summed over the LLM
    calls of one query (``query_id``: a query's answer and any summary it caused)."""
    totals: dict[str, int] = defaultdict(int)
    for number, record in enumerate(records, 1):
        totals[query_id(record, number)] += int(record.get("total_tokens_after") or 0)
    return dict(totals)


def cache_counts(stats: Mapping[str, Any]) -> tuple[int, int, float | None]:
    """``(hits, misses, hit rate)`` of one ``cache_stats`` entry; the rate is ``None`` when
    the cache saw no lookups."""
    hits, misses = int(stats.get("hits", 0)), int(stats.get("misses", 0))
    return hits, misses, (hits / (hits + misses) if hits + misses else None)
