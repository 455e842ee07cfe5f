"""A plain Locust run, made a run folder: ``perf import-locust --csv PREFIX --json FILE``.

Anyone's ``locust --csv PREFIX --json-file NAME [--html FILE]`` run against their own service
becomes ``results/runs/<run-id>/`` with Locust's files copied untouched under the contract's
names (``locust_stats.csv``, ``locust_stats_history.csv``, ``locust.json``, ...) and a ``load``
stage that says where they came from, so ``perf report`` and ``perf gate`` read it like one of
ours. Its percentiles are Locust-rounded (no per-request log); the cache, token and database
checks have no data.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from perf.results.files import LOCUST_HISTORY, LOCUST_HTML, LOCUST_JSON, LOCUST_PREFIX
from perf.results.locust import read_locust_endpoints, read_locust_history
from perf.results.manifest import LOAD_STAGE, SUMMARY
from perf.results.runs import Clock, RunFolder, create_run, utc_now

__all__ = ["CSV_SUFFIXES", "import_locust_run", "locust_workload"]

CSV_SUFFIXES = ("stats", "stats_history", "failures", "exceptions")
SOURCE = "locust"  # the load stage's workload "source" of an imported run


def _inputs(csv_prefix: Path | None, json_file: Path | None, html: Path | None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if csv_prefix is not None:
        for suffix in CSV_SUFFIXES:
            path = csv_prefix.with_name(f"{csv_prefix.name}_{suffix}.csv")
            if path.is_file():
                found[f"{LOCUST_PREFIX}_{suffix}.csv"] = path
        if f"{LOCUST_PREFIX}_stats.csv" not in found:
            raise FileNotFoundError(
                f"no {csv_prefix}_stats.csv: pass the prefix given to locust --csv"
            )
    if json_file is not None:
        path = json_file
        if path.suffix != ".json":  # locust --json-file NAME writes NAME.json
            path = path.with_name(f"{path.name}.json")
        if not path.is_file():
            raise FileNotFoundError(f"no {path}: pass the file locust --json-file wrote")
        found[LOCUST_JSON] = path
    if html is not None:
        if not html.is_file():
            raise FileNotFoundError(f"no {html}: pass the file locust --html wrote")
        found[LOCUST_HTML] = html
    if not found:
        raise FileNotFoundError("nothing to import: pass --csv PREFIX and/or --json FILE")
    return found


def locust_workload(folder: Path, host: str | None) -> dict[str, Any]:
    """What the copied files tell of the load: users (the most seen), duration, host."""
    workload: dict[str, Any] = {"source": SOURCE, "model": "closed", "host": host}
    history = folder / LOCUST_HISTORY
    if history.is_file():
        rows = read_locust_history(history)
        if rows:
            workload["users"] = max(r.users for r in rows)
            workload["duration_seconds"] = rows[-1].timestamp - rows[0].timestamp
    if (folder / LOCUST_JSON).is_file() and "duration_seconds" not in workload:
        ends = read_locust_endpoints(folder / LOCUST_JSON)[-1]
        if ends.last_request:
            workload["duration_seconds"] = float(ends.last_request) - ends.start_time
    return workload


def _summary(folder: Path) -> dict[str, Any]:
    if not (folder / LOCUST_JSON).is_file():
        return {}
    return {
        e.name: {"name": e.name, "count": e.count, "failures": e.failures,
                 "p50_ms": e.percentiles[0.5], "p95_ms": e.percentiles[0.95],
                 "p99_ms": e.percentiles[0.99], "max_ms": e.max_ms, "rounding": e.rounding}
        for e in read_locust_endpoints(folder / LOCUST_JSON)
    }  # fmt: skip


def import_locust_run(
    results_root: Path,
    *,
    repo: Path,
    csv_prefix: Path | None = None,
    json_file: Path | None = None,
    html: Path | None = None,
    host: str | None = None,
    command: Sequence[str] = (),
    clock: Clock = utc_now,
    extra: Mapping[str, Any] | None = None,
) -> RunFolder:
    """Copy a Locust run's own outputs into a new run folder with a ``load`` stage."""
    inputs = _inputs(csv_prefix, json_file, html)
    folder = create_run(results_root, repo=repo, clock=clock)
    for name, source in inputs.items():
        shutil.copyfile(source, folder.path / name)
    workload = locust_workload(folder.path, host)
    folder.begin_stage(LOAD_STAGE, command=list(command), workload=workload)
    imported = {"imported_from": {name: str(path.resolve()) for name, path in inputs.items()}}
    folder.finish_stage(
        LOAD_STAGE, exit_code=0, extra={**imported, SUMMARY: _summary(folder.path), **(extra or {})}
    )
    return folder
