"""Merging the service workers' trace files into a run's cache_traces.json: one worker's as it
is, several kept per worker (each worker has its own caches), and clear errors."""

from __future__ import annotations

import json

import pytest

from perf.results.cache_traces import MODEL, collect_cache_traces, merge_cache_traces


def trace(keys, *, rate=0.5, lookups=None, max_entries=100):
    return {
        "rate": rate, "lookups": lookups if lookups is not None else 2 * len(keys),
        "max_entries": max_entries, "started_at": 1.0, "ended_at": 2.0,
        "sampled": len(keys), "dropped": 0, "keys": keys,
    }  # fmt: skip


def test_one_workers_file_is_taken_as_it_is():
    part = {"caches": {"memory": trace([0, 1, 0]), "correlation": trace([0])}}
    merged = merge_cache_traces({"cache-traces-7.json": part})
    assert merged["model"] == MODEL and merged["workers"] == ["cache-traces-7.json"]
    assert merged["caches"]["memory"] == {"worker": "cache-traces-7.json", **trace([0, 1, 0])}


def test_several_workers_keep_one_trace_each_per_cache():
    merged = merge_cache_traces({
        "cache-traces-2.json": {"caches": {"memory": trace([0, 0], lookups=10)}},
        "cache-traces-1.json": {"caches": {"memory": trace([0, 1, 2], lookups=30)}},
    })  # fmt: skip
    assert merged["workers"] == ["cache-traces-1.json", "cache-traces-2.json"]
    memory = merged["caches"]["memory"]
    assert memory["lookups"] == 40 and memory["sampled"] == 5 and memory["rate"] == 0.5
    assert memory["max_entries"] == 100 and "keys" not in memory  # key ids are per worker
    assert [w["keys"] for w in memory["per_worker"]] == [[0, 1, 2], [0, 0]]
    assert [w["worker"] for w in memory["per_worker"]] == merged["workers"]


def test_workers_at_different_rates_or_no_caches_are_refused():
    with pytest.raises(ValueError, match=r"'memory' at different rates \[0.1, 0.5\]"):
        merge_cache_traces({
            "a.json": {"caches": {"memory": trace([0])}},
            "b.json": {"caches": {"memory": trace([0], rate=0.1)}},
        })  # fmt: skip
    with pytest.raises(ValueError, match=r"b\.json has no 'caches'"):
        merge_cache_traces({"b.json": {"keys": []}})
    with pytest.raises(ValueError, match="no worker trace files"):
        merge_cache_traces({})


def test_collect_merges_the_folder_and_removes_it(tmp_path):
    parts = tmp_path / "cache_traces.parts"
    parts.mkdir()
    for pid in (11, 12):
        (parts / f"cache-traces-{pid}.json").write_text(
            json.dumps({"caches": {"memory": trace([pid])}})
        )
    out = tmp_path / "cache_traces.json"
    assert collect_cache_traces(parts, out) == ["cache-traces-11.json", "cache-traces-12.json"]
    assert not parts.exists()
    assert len(json.loads(out.read_text())["caches"]["memory"]["per_worker"]) == 2


def test_collect_says_what_is_missing_and_keeps_unreadable_files(tmp_path):
    parts = tmp_path / "cache_traces.parts"
    with pytest.raises(FileNotFoundError, match="no trace files in"):
        collect_cache_traces(parts, tmp_path / "out.json")
    parts.mkdir()
    (parts / "cache-traces-1.json").write_text("{half")
    with pytest.raises(ValueError, match=r"cache-traces-1\.json is not a readable trace file"):
        collect_cache_traces(parts, tmp_path / "out.json")
    assert (parts / "cache-traces-1.json").exists() and not (tmp_path / "out.json").exists()
