"""The run-folder contract: ``results/runs/<run-id>/`` with a ``manifest.json``.

Every producer (``perf bench``, ``perf load``, the reports, the gate) writes into one run
folder and records itself as a *stage* of the manifest; every consumer reads run folders only.
A run id is the UTC start time plus the short commit, ``20261123T201500Z-1a2b3c4d``. Existing
folders are never overwritten: a clash gets a ``-2``, ``-3``... suffix, and a stage that already
ran in a folder cannot run there again. JSON is written atomically (temp file + rename), so a
reader never sees half a manifest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from perf._internal.atomic import write_json_atomic
from perf.results.files import MANIFEST
from perf.results.provenance import git_state, machine_info, package_versions

__all__ = [
    "BASELINES_DIR",
    "RUNS_DIR",
    "RunFolder",
    "create_run",
    "find_run",
    "iso_utc",
    "list_baselines",
    "list_runs",
    "make_run_id",
    "open_run",
    "utc_now",
]

RUNS_DIR = "runs"
BASELINES_DIR = "baselines"
SCHEMA_VERSION = 1
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9A-Za-z]+(-\d+)?$")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """``2026-11-23T20:15:00.000Z``: the manifest's and gate.json's time format."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_run_id(started: datetime, commit: str) -> str:
    """``<UTC timestamp>-<commit>``, e.g. ``20261123T201500Z-1a2b3c4d``."""
    return f"{started.astimezone(UTC):%Y%m%dT%H%M%SZ}-{commit}"


@dataclass(frozen=True, slots=True)
class RunFolder:
    """One run folder; stages record themselves in its manifest."""

    path: Path
    clock: Clock = utc_now

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def read_manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return data

    def files(self) -> list[str]:
        """Every file in the folder (relative, sorted), temp files and the manifest excluded."""
        found = (
            p.relative_to(self.path).as_posix()
            for p in self.path.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST
        )
        return sorted(found)

    def begin_stage(
        self,
        stage: str,
        *,
        command: list[str] | None = None,
        settings: Mapping[str, Any] | None = None,
        workload: Mapping[str, Any] | None = None,
        rerun: bool = False,
    ) -> None:
        """Record that ``stage`` starts now. A producing stage runs at most once per folder;
        ``rerun`` (for stages that only read the run, like the report) replaces its entry."""
        manifest = self.read_manifest()
        stages = manifest.setdefault("stages", {})
        if rerun:
            stages.pop(stage, None)
        elif stage in stages:
            raise FileExistsError(
                f"run {self.run_id} already has a {stage!r} stage; start a new run folder "
                "(omit --run-dir) instead of overwriting its results"
            )
        stages[stage] = {
            "status": "running",
            "started_at": iso_utc(self.clock()),
            "finished_at": None,
            "exit_code": None,
            "command": command,
            "settings": dict(settings or {}),
            "workload": dict(workload or {}),
        }
        manifest["status"] = "running"
        self._write(manifest)

    def finish_stage(
        self,
        stage: str,
        *,
        exit_code: int,
        status: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the end of ``stage`` and refresh the run's end time and file list."""
        manifest = self.read_manifest()
        entry = manifest["stages"][stage]
        entry["finished_at"] = iso_utc(self.clock())
        entry["exit_code"] = exit_code
        entry["status"] = status or ("finished" if exit_code == 0 else "failed")
        entry.update(extra or {})
        manifest["finished_at"] = entry["finished_at"]
        states = {s["status"] for s in manifest["stages"].values()}
        manifest["status"] = next(
            (s for s in ("running", "interrupted", "failed") if s in states), "finished"
        )
        self._write(manifest)

    def _write(self, manifest: dict[str, Any]) -> None:
        manifest["files"] = self.files()
        write_json_atomic(self.manifest_path, manifest)


def _new_manifest(run_id: str, repo: Path, started: datetime) -> dict[str, Any]:
    commit, dirty = git_state(repo)
    return {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "commit": commit,
        "dirty": dirty,
        "machine": machine_info(),
        "packages": package_versions(),
        "started_at": iso_utc(started),
        "finished_at": None,
        "status": "created",
        "stages": {},
        "files": [],
    }


def create_run(
    results_root: Path,
    *,
    repo: Path,
    run_dir: Path | None = None,
    clock: Clock = utc_now,
) -> RunFolder:
    """A new run folder under ``results_root/runs`` (or at ``run_dir``), manifest written.

    ``run_dir`` may name a folder an earlier stage created (it is reopened, so ``perf bench``
    and ``perf load`` can share one run); any other existing non-empty folder is refused.
    """
    if run_dir is not None:
        if (run_dir / MANIFEST).is_file():
            return RunFolder(run_dir, clock)
        if run_dir.exists() and any(run_dir.iterdir()):
            raise FileExistsError(
                f"{run_dir} exists and is not a run folder (no {MANIFEST}); "
                "pass a new or empty folder"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        folder = RunFolder(run_dir, clock)
        folder._write(_new_manifest(run_dir.name, repo, clock()))
        return folder

    started = clock()
    commit, _ = git_state(repo)
    base_id = make_run_id(started, commit)
    runs = results_root / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        run_id = base_id if attempt == 1 else f"{base_id}-{attempt}"
        try:
            (runs / run_id).mkdir()
        except FileExistsError:
            continue
        folder = RunFolder(runs / run_id, clock)
        folder._write(_new_manifest(run_id, repo, started))
        return folder
    raise FileExistsError(f"could not find a free run id for {base_id} under {runs}")


def open_run(path: Path) -> RunFolder:
    """The run folder at ``path``; it must hold a manifest."""
    if not (path / MANIFEST).is_file():
        raise FileNotFoundError(f"{path} is not a run folder: it has no {MANIFEST}")
    return RunFolder(path)


def _folders(parent: Path) -> list[RunFolder]:
    if not parent.is_dir():
        return []
    found = [p for p in parent.iterdir() if (p / MANIFEST).is_file()]
    return [RunFolder(p) for p in sorted(found, key=lambda p: p.name)]


def list_runs(results_root: Path) -> list[RunFolder]:
    """Every run under ``results_root/runs``, oldest first (run ids sort by time)."""
    return [f for f in _folders(results_root / RUNS_DIR) if _RUN_ID.match(f.run_id)]


def list_baselines(results_root: Path) -> list[RunFolder]:
    """The committed reference runs under ``results_root/baselines``, by name."""
    return _folders(results_root / BASELINES_DIR)


def find_run(results_root: Path, ref: str = "latest") -> RunFolder:
    """A run by reference: ``latest``, a run id (or unique prefix), ``baseline:<name>``,
    ``baseline`` (the newest baseline), or a path to a run folder."""
    if ref.startswith("baseline"):
        baselines = list_baselines(results_root)
        name = ref.partition(":")[2]
        matches = [b for b in baselines if not name or b.run_id == name]
        if matches:
            return matches[-1]
        known = [b.run_id for b in baselines] or "none"
        raise FileNotFoundError(
            f"no baseline {name or ''!r} under {results_root / BASELINES_DIR} (known: {known})"
        )
    as_path = Path(ref)
    if (as_path / MANIFEST).is_file():
        return RunFolder(as_path)
    runs = list_runs(results_root)
    if ref == "latest":
        if runs:
            return runs[-1]
        raise FileNotFoundError(
            f"no runs under {results_root / RUNS_DIR}; create one with `perf bench` or `perf load`"
        )
    matches = [r for r in runs if r.run_id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise FileNotFoundError(f"no run {ref!r} under {results_root / RUNS_DIR}")
    raise FileNotFoundError(
        f"run id prefix {ref!r} is ambiguous: {[r.run_id for r in matches]}; give more of it"
    )
