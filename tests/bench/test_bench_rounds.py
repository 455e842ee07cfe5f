"""perf compare's producer: the ABBA order and the pytest command of a round."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ROOT

from perf.bench.rounds import QUICK, QUICK_MAX_TIME, RoundOptions, plan, pytest_command


def test_rounds_alternate_abba_so_neither_side_always_goes_first() -> None:
    assert plan(4) == [("base", 1), ("head", 1), ("head", 2), ("base", 2),
                       ("base", 3), ("head", 3), ("head", 4), ("base", 4)]  # fmt: skip


def test_quick_selects_its_files_and_keywords_and_combines_with_k(tmp_path: Path) -> None:
    command = pytest_command(ROOT, tmp_path / "r.json", RoundOptions(quick=True, keyword="dict"))
    assert [f for f in QUICK if f in command] == list(QUICK)
    keyword = command[command.index("-k") + 1]
    assert keyword.endswith(") and (dict)") and "bench_memory_get_hit" in keyword
    assert f"--benchmark-max-time={QUICK_MAX_TIME:g}" in command
    assert f"--benchmark-json={tmp_path / 'r.json'}" in command


def test_the_quick_subset_exists_in_this_checkout() -> None:
    for file, _ in QUICK.items():
        assert (ROOT / file).is_file(), file


def test_a_base_without_a_quick_file_still_runs_the_rest(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").mkdir()
    first = next(iter(QUICK))
    (tmp_path / first).write_text("")
    command = pytest_command(tmp_path, tmp_path / "r.json", RoundOptions(quick=True))
    assert first in command and not [f for f in QUICK if f != first and f in command]


def test_the_whole_suite_without_quick(tmp_path: Path) -> None:
    command = pytest_command(ROOT, tmp_path / "r.json", RoundOptions(pytest_args=("-x",)))
    assert "benchmarks" in command and "-k" not in command and command[-1] == "-x"
    assert not any(a.startswith("--benchmark-max-time") for a in command)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="--rounds"):
        RoundOptions(rounds=1)
    with pytest.raises(ValueError, match="--max-time"):
        RoundOptions(max_time=0)
