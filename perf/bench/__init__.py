"""② The producer of ``perf compare``: two source trees (a throwaway git worktree per ref, or the
working tree) benchmarked in one job, interleaved, each round a fresh pytest process writing
pytest-benchmark JSON into the run folder. The statistics that decide live in
``perf.report.compare``; the command in ``perf.cli.compare``.
"""

from __future__ import annotations

from perf.bench.git import Side, checked_out, resolve_commit
from perf.bench.rounds import QUICK, Round, RoundOptions, plan, run_rounds

__all__ = [
    "QUICK",
    "Round",
    "RoundOptions",
    "Side",
    "checked_out",
    "plan",
    "resolve_commit",
    "run_rounds",
]
