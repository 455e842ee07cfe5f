"""perf compare --instructions' producer without valgrind: choosing probes, the command, and
instructions per call net of the harness."""

from __future__ import annotations

from pathlib import Path

import pytest

from perf.bench.instructions import Count, per_call, select_probes, valgrind_command
from perf.bench.probes import HARNESS, PROBES
from perf.errors import ConfigurationError


def test_k_picks_probes_by_part_of_the_name_and_keeps_the_harness_first() -> None:
    assert select_probes(None) == list(PROBES)
    assert select_probes("sqlite") == [HARNESS, "SQLiteCache.get (hit)"]
    with pytest.raises(ConfigurationError, match="matches no probe; the probes are: Memory"):
        select_probes("harness")  # the harness is not a probe of its own


def test_the_command_counts_only_the_probes_loops_and_imports_perf_from_pythonpath() -> None:
    command = valgrind_command(Path("/tmp/out"), ["harness", "MemoryCache.get (hit)"])
    assert command[:2] == ["valgrind", "--tool=callgrind"]
    assert "--toggle-collect=_operator_call" in command
    assert "--dump-after=_operator_call" in command
    probes_at = command.index("-P") + 1  # -P: the script's folder is not put on sys.path
    assert command[probes_at].endswith("perf/bench/probes.py")
    assert command[probes_at + 1 :] == ["harness", "MemoryCache.get (hit)"]


def count(side: str, seed: int, **probes: tuple[int, int]) -> Count:
    figures = {name: {"calls": c, "instructions": i} for name, (c, i) in probes.items()}
    return Count(side, seed, figures, {}, None, "log", 1.0)


def test_per_call_subtracts_the_harness_of_the_same_process() -> None:
    counts = [
        count("base", 0, harness=(1000, 900_000), get=(1000, 3_300_000)),
        count("base", 1, harness=(1000, 910_000), get=(1000, 3_410_000)),
        count("head", 0, harness=(1000, 900_000), get=(500, 1_800_000)),
        count("head", 1, get=(1000, 1_000_000)),  # no harness: left out
    ]
    assert per_call(counts) == {
        "base": {"get": {0: 2400.0, 1: 2500.0}},
        "head": {"get": {0: 2700.0}},
    }
