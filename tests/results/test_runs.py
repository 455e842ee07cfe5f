"""The run-folder contract: ids, manifests, stages, listing and finding runs."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from perf.results.runs import (
    create_run,
    find_run,
    list_baselines,
    list_runs,
    make_run_id,
    open_run,
    write_json_atomic,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 20, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def repo(tmp_path):
    """A real git checkout with one commit."""
    path = tmp_path / "repo"
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (path / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    return path


def test_run_id_is_utc_timestamp_and_commit():
    moment = datetime(2026, 11, 23, 21, 15, 0, tzinfo=UTC)
    assert make_run_id(moment, "1a2b3c4d") == "20261123T211500Z-1a2b3c4d"


def test_create_run_writes_manifest_with_provenance(tmp_path, repo):
    clock = Clock()
    folder = create_run(tmp_path / "results", repo=repo, clock=clock)
    manifest = folder.read_manifest()
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short=8", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert folder.run_id == f"20261123T201500Z-{commit}"
    assert folder.path.parent == tmp_path / "results" / "runs"
    assert manifest["commit"] == commit
    assert manifest["dirty"] is False
    assert manifest["machine"]["cores"] >= 1 and manifest["machine"]["python"]
    assert "sqlalchemy" in manifest["packages"]
    assert manifest["started_at"] == "2026-11-23T20:15:00.000Z"
    assert manifest["files"] == []


def test_dirty_checkout_is_recorded(tmp_path, repo):
    (repo / "a.txt").write_text("changed")
    folder = create_run(tmp_path / "results", repo=repo, clock=Clock())
    assert folder.read_manifest()["dirty"] is True


def test_outside_git_the_commit_says_so(tmp_path):
    folder = create_run(tmp_path / "results", repo=tmp_path, clock=Clock())
    assert folder.run_id.endswith("-nogit")
    assert folder.read_manifest()["dirty"] is None


def test_same_second_never_overwrites(tmp_path, repo):
    clock = Clock()
    first = create_run(tmp_path / "r", repo=repo, clock=clock)
    (first.path / "benchmarks.json").write_text("{}")
    second = create_run(tmp_path / "r", repo=repo, clock=clock)
    assert second.path != first.path
    assert second.run_id == first.run_id + "-2"
    assert (first.path / "benchmarks.json").read_text() == "{}"


def test_stages_record_times_exit_codes_and_files(tmp_path, repo):
    clock = Clock()
    folder = create_run(tmp_path / "r", repo=repo, clock=clock)
    folder.begin_stage("load", command=["perf", "load"], workload={"users": 3})
    assert folder.read_manifest()["status"] == "running"
    (folder.path / "requests.jsonl").write_text("")
    clock.now += timedelta(seconds=61)
    folder.finish_stage("load", exit_code=3, extra={"slo_checks": []})
    manifest = folder.read_manifest()
    stage = manifest["stages"]["load"]
    assert stage["exit_code"] == 3 and stage["status"] == "failed"
    assert stage["workload"] == {"users": 3} and stage["slo_checks"] == []
    assert stage["finished_at"] == manifest["finished_at"] == "2026-11-23T20:16:01.000Z"
    assert manifest["status"] == "failed"
    assert manifest["files"] == ["requests.jsonl"]


def test_a_stage_runs_once_per_folder(tmp_path, repo):
    folder = create_run(tmp_path / "r", repo=repo, clock=Clock())
    folder.begin_stage("bench")
    folder.finish_stage("bench", exit_code=0)
    with pytest.raises(FileExistsError, match="already has a 'bench' stage"):
        folder.begin_stage("bench")


def test_run_dir_reopens_a_run_and_refuses_other_folders(tmp_path, repo):
    first = create_run(tmp_path / "r", repo=repo, run_dir=tmp_path / "mine", clock=Clock())
    first.begin_stage("bench")
    first.finish_stage("bench", exit_code=0)
    again = create_run(tmp_path / "r", repo=repo, run_dir=tmp_path / "mine")
    again.begin_stage("load")
    assert set(again.read_manifest()["stages"]) == {"bench", "load"}
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a run folder"):
        create_run(tmp_path / "r", repo=repo, run_dir=tmp_path / "other")


def test_listing_and_finding_runs(tmp_path, repo):
    clock = Clock()
    root = tmp_path / "results"
    older = create_run(root, repo=repo, clock=clock)
    clock.now += timedelta(hours=1)
    newer = create_run(root, repo=repo, clock=clock)
    (root / "runs" / "scratch").mkdir()  # not a run: ignored
    assert [r.run_id for r in list_runs(root)] == [older.run_id, newer.run_id]
    assert find_run(root).path == newer.path
    assert find_run(root, older.run_id[:12]).path == older.path
    assert find_run(root, str(older.path)).path == older.path
    with pytest.raises(FileNotFoundError, match="ambiguous"):
        find_run(root, "2026")
    with pytest.raises(FileNotFoundError, match="no run"):
        find_run(root, "1999")


def test_baselines(tmp_path, repo):
    root = tmp_path / "results"
    with pytest.raises(FileNotFoundError, match="no runs"):
        find_run(root)
    create_run(root, repo=repo, run_dir=root / "baselines" / "ci-2cores", clock=Clock())
    assert [b.run_id for b in list_baselines(root)] == ["ci-2cores"]
    assert find_run(root, "baseline").run_id == "ci-2cores"
    assert find_run(root, "baseline:ci-2cores").run_id == "ci-2cores"
    with pytest.raises(FileNotFoundError, match="known: \\['ci-2cores'\\]"):
        find_run(root, "baseline:laptop")


def test_open_run_needs_a_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no manifest\.json"):
        open_run(tmp_path)


def test_write_json_atomic_replaces_whole_and_leaves_no_temp(tmp_path):
    target = tmp_path / "x.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"b": [1, 2]})
    assert json.loads(target.read_text()) == {"b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    with pytest.raises(TypeError):
        write_json_atomic(target, {1j: 1})  # keys must be strings: fails mid-write
    assert json.loads(target.read_text()) == {"b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
