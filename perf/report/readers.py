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
from perf.report.runs import MANIFEST_NAME, find_run
from perf.report.targets import find_pyproject

__all__ = [
    "PRODUCERS",
    "expected_interval_ms",
    "per_query_tokens",
    "read_benchmarks",
    "read_manifest",
    "read_monitor",
    "read_token_log",
    "resolve_run",
    "run_file",
]

RunPath = str | Path

# Which command writes each file of a run folder (for "no data" messages).
PRODUCERS = {
    MANIFEST_NAME: "perf bench` or `perf load",
    "benchmarks.json": "perf bench",
    "requests.jsonl": "perf load",
    "monitor.json": "perf load",
    "tokens.jsonl": "perf load",
}


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
    data: dict[str, Any] = _read_json(run, MANIFEST_NAME)
    return data


def read_monitor(run: RunPath) -> dict[str, Any]:
    """``monitor.json``: the service's ``/performance/stats`` at the end of the load run."""
    data: dict[str, Any] = _read_json(run, "monitor.json")
    return data


def read_benchmarks(run: RunPath) -> list[dict[str, Any]]:
    """The ``benchmarks`` entries of pytest-benchmark's ``benchmarks.json``."""
    data = _read_json(run, "benchmarks.json")
    entries: list[dict[str, Any]] = data.get("benchmarks", [])
    return entries


def read_token_log(run: RunPath) -> list[dict[str, Any]]:
    """Every record of ``tokens.jsonl`` (one per LLM call), in file order."""
    path = run_file(run, "tokens.jsonl")
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON record ({exc})") from exc
    return records


def expected_interval_ms(manifest: Mapping[str, Any]) -> float | None:
    """The closed model's mean think time (the coordinated-omission back-fill interval), as
    ``perf load`` used it; ``None`` for an open-model run or when the manifest lacks it."""
    workload = manifest.get("stages", {}).get("load", {}).get("workload", {})
    if workload.get("model", "closed") != "closed" or "think_min_s" not in workload:
        return None
    mean_ms = (float(workload["think_min_s"]) + float(workload["think_max_s"])) / 2 * 1000
    return mean_ms if mean_ms > 0 else None


def per_query_tokens(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Prompt tokens after the budget per query: ``total_tokens_after`` summed over the LLM
    calls of one ``request_id`` (a ``/query``'s ``answer`` and any ``summary`` it caused)."""
    totals: dict[str, int] = defaultdict(int)
    for number, record in enumerate(records):
        key = str(record.get("request_id") or f"record-{number}")
        totals[key] += int(record.get("total_tokens_after") or 0)
    return dict(totals)
