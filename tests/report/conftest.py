"""The report executed once for the report tests: a synthetic run gated, then reported (the
notebooks run for real in their kernels; shared because each costs seconds)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import TARGETS, make_run, perf


@dataclass(frozen=True)
class Reported:
    root: Path  # the results root
    run: Path
    targets: Path
    out: str  # what perf gate and perf report printed
    codes: tuple[int, int]  # their exit codes


def write_targets(path: Path, targets: dict[str, float]) -> Path:
    path.write_text(
        "[tool.perf.targets]\n" + "".join(f"{k} = {v}\n" for k, v in targets.items()),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Reported:
    root = tmp_path_factory.mktemp("reported")
    run = make_run(root)
    targets = write_targets(root / "targets.toml", TARGETS)
    args = ("--results-dir", str(root), "--targets", str(targets))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        codes = (perf("gate", *args), perf("report", *args))
    return Reported(root, run, targets, out.getvalue(), codes)
