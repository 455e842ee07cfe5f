"""perf gate: exit codes, gate.json, the manifest stage, --allow-missing, --skip; no raw-median
baseline check (machine drift; see perf compare)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import history_rows, make_run, perf, write_jsonl

from perf.report.checks import FAIL, PASS, Check
from perf.report.gate import decide


def gate(root: Path, targets: Path, *extra: str) -> int:
    return perf("gate", *extra, "--results-dir", str(root), "--targets", str(targets))


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_good_run_passes_and_gate_json_holds_every_check(
    tmp_path: Path, targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path)
    assert gate(tmp_path, targets) == 0
    result = read(run / "gate.json")
    assert result["verdict"] == PASS
    assert result["exit_code"] == 0
    assert result["run_id"] == run.name
    assert result["targets"]["query_latency_p95_ms"] == 500.0
    assert result["counts"] == {
        "pass": 12, "fail": 0, "inconclusive": 0, "no data": 0, "skipped": 0,
    }  # fmt: skip
    first = result["checks"][0]
    assert set(first) >= {"name", "target", "measured", "unit", "verdict", "source", "message"}
    assert (first["skipped"], first["blocking"]) == (False, False)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 13  # one line per check and the verdict
    assert out[-1].startswith("gate: PASS (12 pass, 0 fail, 0 inconclusive, 0 no data, 0 skipped)")


def _cold_memory_cache(run: Path) -> None:
    write_jsonl(run / "monitor_history.jsonl", history_rows(hit_rates={"memory": 0.1}))


def _slow_event_series(run: Path) -> None:
    write_jsonl(run / "monitor_history.jsonl", history_rows(p95_s={"db.event_series": 0.2}))


def test_an_inconclusive_check_exits_3_unless_allowed(
    tmp_path: Path, targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path)
    targets.write_text(targets.read_text().replace("= 500", "= 97"))  # /query P95 CI [90, 100]
    assert gate(tmp_path, targets) == 3
    result = read(run / "gate.json")
    assert (result["verdict"], result["exit_code"]) == ("inconclusive", 3)
    assert [c["name"] for c in result["checks"] if c["blocking"]] == ["query_latency_p95_ms"]
    assert "gate: INCONCLUSIVE" in capsys.readouterr().out
    assert gate(tmp_path, targets, "--allow-inconclusive") == 0
    assert read(run / "gate.json")["allow_inconclusive"] is True
    _slow_event_series(run)  # a failure outranks an inconclusive check
    assert gate(tmp_path, targets) == 1


def test_the_gate_records_itself_in_the_manifest(tmp_path: Path, targets: Path) -> None:
    run = make_run(tmp_path)
    assert gate(tmp_path, targets) == 0
    manifest = read(run / "manifest.json")
    stage = manifest["stages"]["gate"]
    assert (stage["status"], stage["exit_code"], stage["verdict"]) == ("finished", 0, "pass")
    assert "gate.json" in manifest["files"]
    # a second gate replaces the first entry instead of refusing to run
    _cold_memory_cache(run)
    assert gate(tmp_path, targets) == 1
    stage = read(run / "manifest.json")["stages"]["gate"]
    assert (stage["status"], stage["exit_code"], stage["verdict"]) == ("finished", 1, "fail")
    assert read(run / "manifest.json")["stages"]["load"]["status"] == "finished"


def test_a_failed_check_exits_1_and_is_blocking(
    tmp_path: Path, targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path)
    _slow_event_series(run)
    assert gate(tmp_path, targets) == 1
    result = read(run / "gate.json")
    assert result["verdict"] == FAIL
    blocking = [c["name"] for c in result["checks"] if c["blocking"]]
    assert blocking == ["db_query_p95_ms[db.event_series]"]
    assert "blocking: db_query_p95_ms[db.event_series]" in capsys.readouterr().out


def test_no_data_fails_unless_allowed(tmp_path: Path, targets: Path) -> None:
    run = make_run(tmp_path, omit=("benchmarks.json",))
    assert gate(tmp_path, targets) == 1
    assert read(run / "gate.json")["counts"]["no data"] == 1
    assert gate(tmp_path, targets, "--allow-missing") == 0
    result = read(run / "gate.json")
    assert (result["verdict"], result["allow_missing"]) == (PASS, True)


def test_skipped_checks_are_written_but_do_not_count(tmp_path: Path, targets: Path) -> None:
    run = make_run(tmp_path)
    _slow_event_series(run)
    assert gate(tmp_path, targets, "--skip", "db_query_p95_ms*") == 0
    result = read(run / "gate.json")
    skipped = {c["name"]: c["verdict"] for c in result["checks"] if c["skipped"]}
    assert skipped == {"db_query_p95_ms[db.entity_context]": PASS,
                       "db_query_p95_ms[db.event_series]": FAIL}  # fmt: skip
    assert result["skip"] == ["db_query_p95_ms*"]
    assert result["counts"]["skipped"] == 2


def test_a_run_is_found_by_id_prefix_or_path(tmp_path: Path, targets: Path) -> None:
    older = make_run(tmp_path, "20250101T000000Z-aaaa")
    make_run(tmp_path, "20260101T000000Z-bbbb")
    assert gate(tmp_path, targets, "2025") == 0
    assert (older / "gate.json").is_file()
    other = make_run(tmp_path / "elsewhere", "20270101T000000Z-cccc")
    assert gate(tmp_path, targets, str(other)) == 0
    assert (other / "gate.json").is_file()


def test_bad_input_exits_2_and_says_what_to_do(
    tmp_path: Path, targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(tmp_path, targets) == 2
    assert "no runs under" in capsys.readouterr().err
    run = make_run(tmp_path)
    assert gate(tmp_path, targets, "nosuchrun") == 2
    assert "no run 'nosuchrun'" in capsys.readouterr().err
    assert gate(tmp_path, tmp_path / "missing.toml") == 2
    assert "cannot read targets" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[tool.perf.targets]\nquery_latency_p95_ms = 'fast'\n", encoding="utf-8")
    assert gate(tmp_path, bad) == 2
    assert "must be numbers" in capsys.readouterr().err
    assert "gate" not in read(run / "manifest.json")["stages"]
    (run / "monitor.json").write_text("{", encoding="utf-8")
    assert gate(tmp_path, targets) == 2
    assert "monitor.json is not valid JSON" in capsys.readouterr().err
    assert not (run / "gate.json").exists()
    assert read(run / "manifest.json")["stages"]["gate"]["exit_code"] == 2


def test_there_is_no_raw_median_baseline_option(
    tmp_path: Path, targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_run(tmp_path)
    with pytest.raises(SystemExit) as exc:
        gate(tmp_path, targets, "--baseline", "baseline")
    assert exc.value.code == 2
    assert "--baseline" in capsys.readouterr().err


def test_decide_counts_and_blocking() -> None:
    checks = [
        Check("a", "< 1", 0.5, "ms", "pass", "f", "ok a"),
        Check("b", "< 1", 2.0, "ms", "fail", "f", "FAIL b"),
        Check("c", "< 1", None, "ms", "no data", "f", "NO DATA c"),
    ]
    strict = decide(checks)
    assert [c.name for c in strict.blocking()] == ["b", "c"]
    assert strict.exit_code == 1
    lenient = decide(checks, allow_missing=True, skip=["b"])
    assert lenient.passed
    assert lenient.counts() == {"pass": 1, "fail": 0, "inconclusive": 0, "no data": 1, "skipped": 1}
