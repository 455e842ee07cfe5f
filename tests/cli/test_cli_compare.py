"""perf compare end to end on a tiny git repository: a run folder with every round's JSON,
exit 0 for A/A, exit 1 naming a benchmark made 2x slower, exit 2 on bad input.

The tiny repo has its own ``perf`` package (so each side's import check sees its own tree)
and one benchmark file; the injected slowdown doubles a loop in the working tree, timed in the
process's CPU time, so a busy machine cannot hide it or fake one. No timed asserts: verdicts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from perf.cli import main

PYPROJECT = """\
[tool.pytest.ini_options]
python_files = ["bench_*.py"]
python_functions = ["bench_*"]
"""
BENCH = """\
from perf import SPIN


def spin(n):
    for _ in range(n):
        pass


def bench_spin(benchmark):
    benchmark(spin, SPIN)


def bench_sum(benchmark):
    benchmark(sum, range(100))
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


@pytest.fixture
def tiny_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One commit, whose benchmark spins 20,000 times per call."""
    repo = tmp_path / "repo"
    for folder in ("perf", "benchmarks", "loadtests"):
        (repo / folder).mkdir(parents=True)
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "loadtests" / "README").write_text("the CLI finds the checkout by this folder\n")
    (repo / "benchmarks" / "bench_tiny.py").write_text(BENCH)
    (repo / ".gitignore").write_text("__pycache__/\n")
    git(repo, "init", "--quiet")
    (repo / "perf" / "__init__.py").write_text("SPIN = 20_000\n")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "spin 20,000 times")
    monkeypatch.chdir(repo)
    return repo


def compare(results: Path, *argv: str) -> int:
    fast = ["--rounds", "3", "--max-time", "0.05", "--results-dir", str(results)]
    # The process's CPU time, not the wall clock: a loaded machine's waits do not count, so
    # the verdicts are deterministic however busy the test machine is.
    timer = ["--", "--benchmark-timer=time.process_time"]
    return main(["compare", *fast, *argv, *timer])  # later options win: argv may override


def only_run(results: Path) -> Path:
    [run] = (results / "runs").iterdir()
    return run


@pytest.mark.slow
def test_a_commit_against_itself_exits_0_and_fills_the_run_folder(
    tiny_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    # The folder and the exit code are under test here, not the method's power: three rounds of
    # a microsecond benchmark can differ by 5 % between processes (seen: 1.052x [1.019, 1.272]),
    # so this A/A asks for a large effect before calling anything slower.
    assert compare(results, "HEAD", "HEAD", "-k", "sum", "--min-effect", "1.5") == 0
    run = only_run(results)
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == str(run)
    assert "[6/6] head 3" in out  # progress lines, ABBA: b1 h1 h2 b2 b3 h3
    files = json.loads((run / "manifest.json").read_text())["files"]
    rounds = [f"compare/{side}-{i:02d}.{ext}" for side in ("base", "head") for i in (1, 2, 3)
              for ext in ("json", "log")]  # fmt: skip
    assert sorted(files) == sorted(["compare.json", *rounds])
    result = json.loads((run / "compare.json").read_text())
    assert result["exit_code"] == 0 and result["slower"] == []
    assert (
        result["base"]["commit"] == result["head"]["commit"] == git(tiny_repo, "rev-parse", "HEAD")
    )
    [bench] = result["benchmarks"]
    assert bench["name"] == "bench_sum"
    assert bench["verdict"] != "slower"
    assert (bench["base_processes"], bench["head_processes"]) == (3, 3)
    stage = json.loads((run / "manifest.json").read_text())["stages"]["compare"]
    assert (stage["status"], stage["exit_code"]) == ("finished", 0)
    assert not git(tiny_repo, "worktree", "list").count("\n")  # throwaway worktrees removed


@pytest.mark.slow
def test_a_2x_slowdown_in_the_working_tree_exits_1_and_names_the_benchmark(
    tiny_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_repo / "perf" / "__init__.py").write_text("SPIN = 40_000\n")  # uncommitted
    results = tmp_path / "results"
    assert compare(results, "HEAD", "-k", "spin") == 1
    result = json.loads((only_run(results) / "compare.json").read_text())
    assert result["slower"] == ["bench_spin"]
    assert result["head"]["ref"] == "working tree" and result["head"]["dirty"] is True
    [bench] = result["benchmarks"]
    assert bench["verdict"] == "slower" and bench["low"] > 1
    assert "slower: bench_spin" in capsys.readouterr().out


def test_bad_input_exits_2_and_says_what_to_do(
    tiny_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    assert compare(results, "no-such-branch") == 2
    assert "unknown git ref 'no-such-branch'" in capsys.readouterr().err
    assert compare(results, "HEAD", "--rounds", "1") == 2
    assert "--rounds must be at least 2" in capsys.readouterr().err
    (tiny_repo / ".git" / "MERGE_HEAD").write_text(git(tiny_repo, "rev-parse", "HEAD"))
    assert compare(results, "HEAD") == 2
    assert "in the middle of a merge: finish or abort it" in capsys.readouterr().err
    assert not (results / "runs").exists()  # refused before any run folder


@pytest.mark.slow
def test_no_benchmark_selected_exits_2(
    tiny_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    assert compare(results, "HEAD", "HEAD", "-k", "nothing_matches", "--rounds", "2") == 2
    err = capsys.readouterr().err
    assert "no benchmark ran on either side" in err and "pytest exit 5" in err


# -- --instructions: the tiny repo's perf has a MemoryCache whose get spins SPIN times ---------

TINY_CACHE = """\
SPIN = {spin}


class MemoryCache:
    def __init__(self, max_entries):
        self.data = {{}}

    def set(self, key, value):
        self.data[key] = value

    def get(self, key):
        for _ in range(SPIN):
            pass
        return self.data.get(key)
"""

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None, reason="needs valgrind: `make valgrind` installs it"
)


@pytest.fixture
def tiny_cache_repo(tiny_repo: Path) -> Path:
    (tiny_repo / "perf" / "__init__.py").write_text(TINY_CACHE.format(spin=20))
    git(tiny_repo, "commit", "--quiet", "-am", "a MemoryCache that spins 20 times per get")
    return tiny_repo


@needs_valgrind
@pytest.mark.slow
def test_instruction_counts_of_a_commit_against_itself_are_unchanged(
    tiny_cache_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    assert main(["compare", "HEAD", "HEAD", "--instructions", "--results-dir", str(results)]) == 0
    result = json.loads((only_run(results) / "compare.json").read_text())
    assert result["options"]["metric"] == "instructions"
    # the tiny perf has no SQLiteCache, cached, ...: those probes are skipped on both sides
    [bench] = result["benchmarks"]
    assert (bench["name"], bench["verdict"], bench["unit"]) == (
        "MemoryCache.get (hit)",
        "unchanged",
        "instructions",
    )
    assert (bench["low"], bench["high"]) == (pytest.approx(1, abs=1e-3), pytest.approx(1, abs=1e-3))
    assert len(result["counts"]) == 4  # two sides x two hash seeds
    for count in result["counts"]:
        assert count["error"] is None and "SQLiteCache.get (hit)" in count["skipped"]
        assert count["probes"]["MemoryCache.get (hit)"]["calls"] > 0
    assert "unchanged    MemoryCache.get (hit): 1.000x" in capsys.readouterr().out


@needs_valgrind
@pytest.mark.slow
def test_instruction_counts_catch_a_slower_get_and_name_it(
    tiny_cache_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_cache_repo / "perf" / "__init__.py").write_text(TINY_CACHE.format(spin=24))
    results = tmp_path / "results"
    argv = ["compare", "HEAD", "--instructions", "-k", "memorycache", "--results-dir", str(results)]
    assert main(argv) == 1
    result = json.loads((only_run(results) / "compare.json").read_text())
    assert result["slower"] == ["MemoryCache.get (hit)"]
    assert result["options"]["probes"] == ["harness", "MemoryCache.get (hit)"]
    [bench] = result["benchmarks"]
    assert 1.05 < bench["low"] <= bench["ratio"] <= bench["high"] < 1.5  # 4 more spins of ~20
    assert "slower: MemoryCache.get (hit)" in capsys.readouterr().out


def test_instructions_refuse_options_of_the_timed_comparison(
    tiny_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    argv = ["compare", "HEAD", "--instructions", "--results-dir", str(results)]
    assert main([*argv, "--quick"]) == 2
    assert "drop --quick, --max-time and pytest arguments" in capsys.readouterr().err
    assert main([*argv, "-k", "nothing-like-it"]) == 2
    assert "-k 'nothing-like-it' matches no probe; the probes are: MemoryCache" in (
        capsys.readouterr().err
    )
    assert not (results / "runs").exists()
