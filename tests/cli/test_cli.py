"""The perf command: bad input exits 2 with a message; `perf bench` fills a run folder."""

from __future__ import annotations

import json

import pytest

from perf._internal.processes import free_port
from perf.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["load", "--duration", "soon"], "bad duration 'soon'"),
        (["load", "--users", "-1"], "--users must be at least 1"),
        (["load", "--open-rate", "0"], "--open-rate must be > 0"),
        (["load", "--workload", "zipf=2"], "bad --workload 'zipf=2'"),
        (["load", "--workload", "repeat_share=2"], "repeat_share must be within"),
        (["load", "--service-workers", "0"], "--service-workers must be at least 1"),
        (["load", "--find-capacity", "--open-rate", "5"], "drop --open-rate"),
        (["load", "--stub-latency", "0"], "belong to --find-capacity"),
        (["load", "--find-capacity", "--stub-latency", "40:10"], "bad --stub-latency '40:10'"),
        (["load", "--find-capacity", "--factor", "1"], "--factor must be > 1"),
        (["load", "--find-capacity", "--step-duration", "1s"], "--step-duration must be at least"),
        (
            ["load", "--find-capacity", "--host", "http://127.0.0.1:9", "--compare-zero-latency"],
            "with --host, change your service's LLM yourself",
        ),
    ],
)
def test_bad_input_exits_2_and_says_what_to_do(argv, message, capsys, tmp_path):
    assert main([*argv, "--results-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # no run folder for a refused command


def test_serve_refuses_bad_worker_settings(capsys, monkeypatch):
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    monkeypatch.setenv("PERF_ANALYSIS_SCHEDULER", "true")
    assert main(["serve", "--workers", "2"]) == 2
    assert "run it as its own job instead (`perf analyze`" in capsys.readouterr().err


def test_unreachable_host_exits_2(capsys, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["load", "--host", url, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach --host {url}" in err and "perf serve" in err


def test_unknown_options_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["load", "--bogus"])
    assert exc.value.code == 2
    assert "--bogus" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "bench" in out and "load" in out and "serve" in out


@pytest.mark.slow
def test_bench_writes_benchmark_json_and_manifest(tmp_path, capsys):
    suite = tmp_path / "bench_tiny.py"
    suite.write_text(
        "def test_tiny(benchmark):\n"
        "    benchmark.extra_info['answer'] = 42\n"
        "    benchmark(sum, range(10))\n"
    )
    results = tmp_path / "results"
    code = main(
        ["bench", "--results-dir", str(results), "--", str(suite), "-q", "-p", "no:cacheprovider"]
    )
    assert code == 0
    run = results / "runs" / capsys.readouterr().out.strip().splitlines()[-1].rsplit("/", 1)[-1]
    data = json.loads((run / "benchmarks.json").read_text())
    assert [b["extra_info"]["answer"] for b in data["benchmarks"]] == [42]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["files"] == ["benchmarks.json"]
    stage = manifest["stages"]["bench"]
    assert stage["exit_code"] == 0 and stage["status"] == "finished"
    assert "--benchmark-only" in stage["command"] and "benchmarks" not in stage["command"]
    assert manifest["status"] == "finished"
