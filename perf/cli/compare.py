"""``perf compare BASE [HEAD]``: did HEAD make any benchmark slower than BASE?

Both sides are benchmarked in this one job, interleaved, each round a fresh process
(``perf.bench``); the statistics decide per benchmark from the raw samples
(``perf.report.compare``). BASE is checked out into a throwaway git worktree; HEAD is another
ref, or by default the working tree (uncommitted changes included, and recorded as such).
The run folder holds every round's pytest-benchmark JSON and log under ``compare/`` and the
verdicts in ``compare.json``; the last output line is its path. ``--instructions`` counts the
instructions per call of the hot paths under valgrind instead (``perf.bench.instructions``):
deterministic, so a noisy machine cannot move its verdicts.

Exit 0: nothing is significantly slower; 1: something is; 2: bad input (an unknown ref, a
checkout mid-merge, no benchmark selected, a benchmark process that failed), with a message
saying what to do.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from perf._internal.atomic import write_json_atomic
from perf._internal.processes import handling_signal
from perf.bench.git import (
    WORKING_TREE,
    Side,
    check_git_state,
    check_imports,
    checked_out,
    dependencies_differ,
    resolve_commit,
)
from perf.bench.instructions import SEEDS, count_instructions, per_call, select_probes
from perf.bench.rounds import QUICK, RoundOptions, failed, run_rounds
from perf.cli.paths import add_results_dir_option, repo_root, results_root
from perf.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, ConfigurationError
from perf.report.compare import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_EFFECT,
    INCONCLUSIVE,
    INSTRUCTIONS_MIN_EFFECT,
    SLOWER,
    Comparison,
    Policy,
    compare_counts,
    compare_suite,
    exit_code,
    format_comparisons,
)
from perf.results.files import COMPARE
from perf.results.manifest import COMPARE_STAGE
from perf.results.readers import read_compare_rounds
from perf.results.runs import RunFolder, create_run

__all__ = ["add_commands", "decide_folder"]


def _options(args: argparse.Namespace) -> tuple[RoundOptions, Policy]:
    if args.instructions and (args.quick or args.max_time or args.pytest_args):
        raise ConfigurationError(
            "--instructions counts its own probes (perf.bench.probes, chosen with -k): drop "
            "--quick, --max-time and pytest arguments, or drop --instructions to time the "
            "benchmarks"
        )
    default_effect = INSTRUCTIONS_MIN_EFFECT if args.instructions else DEFAULT_MIN_EFFECT
    try:
        options = RoundOptions(
            rounds=args.rounds,
            quick=args.quick,
            keyword=args.keyword,
            max_time=args.max_time,
            pytest_args=tuple(args.pytest_args),
        )
        min_effect = default_effect if args.min_effect is None else args.min_effect
        policy = Policy(min_effect=min_effect, alpha=args.alpha)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    return options, policy


def decide_folder(
    run: Path, policy: Policy
) -> tuple[list[Comparison], dict[str, list[dict[str, list[float]]]]]:
    """The verdicts over a compare run folder's rounds (also used to re-decide a stored run)."""
    rounds = read_compare_rounds(run)
    base, head = rounds.get("base", []), rounds.get("head", [])
    paired = len(base) == len(head)
    names = {n for process in (*base, *head) for n in process}
    base_samples: dict[str, list[list[float]]] = {}
    head_samples: dict[str, list[list[float]]] = {}
    for name in names:
        if paired:  # keep the pairs (process i of each side) where both sides measured it
            pairs = [(b[name], h[name]) for b, h in zip(base, head, strict=True)
                     if name in b and name in h]  # fmt: skip
            if pairs:
                base_samples[name] = [b for b, _ in pairs]
                head_samples[name] = [h for _, h in pairs]
                continue
        base_samples[name] = [p[name] for p in base if name in p]
        head_samples[name] = [p[name] for p in head if name in p]
    base_samples = {k: v for k, v in base_samples.items() if v}
    head_samples = {k: v for k, v in head_samples.items() if v}
    return compare_suite(base_samples, head_samples, policy), rounds


def _recorded_options(options: RoundOptions, probes: list[str] | None) -> dict[str, Any]:
    if probes:
        return {
            "metric": "instructions",
            "how": "callgrind, counting only each probe's loop (perf.bench.probes), one process "
            "per side and hash seed; per call, net of the harness probe",
            "hash_seeds": list(SEEDS),
            "probes": probes,
        }
    return {
        "metric": "wall time",
        "rounds_per_side": options.rounds,
        "order": "ABBA (base, head, head, base, ...), one fresh process per round",
        "hash_seed": "PYTHONHASHSEED = the pair's index, the same for both its processes",
        "quick": options.quick,
        "quick_subset": dict(QUICK) if options.quick else None,
        "keyword": options.keyword,
        "max_time": options.max_time,
        "pytest_args": list(options.pytest_args),
    }


def _document(
    sides: dict[str, Side],
    options: dict[str, Any],
    policy: Policy,
    comparisons: list[Comparison],
    extra: dict[str, Any],
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for c in comparisons:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    return {
        "base": sides["base"].as_dict(),
        "head": sides["head"].as_dict(),
        "options": options,
        "policy": policy.as_dict(),
        "counts": counts,
        "slower": [c.name for c in comparisons if c.verdict == SLOWER],
        "exit_code": exit_code(comparisons),
        **extra,
        "benchmarks": [c.as_dict() for c in comparisons],
    }


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a cancelled CI job) stops a comparison like Ctrl-C: worktrees removed."""
    raise KeyboardInterrupt


def _compare(args: argparse.Namespace) -> int:
    with handling_signal(signal.SIGTERM, _raise_interrupt):
        return _compare_refs(args)


def _compare_refs(args: argparse.Namespace) -> int:
    repo = repo_root()
    options, policy = _options(args)
    probes = select_probes(args.keyword) if args.instructions else None
    dirty = check_git_state(repo)
    base_commit = resolve_commit(repo, args.base)
    head_commit = resolve_commit(repo, args.head or "HEAD")
    env = dict(os.environ)
    began = time.monotonic()
    with ExitStack() as stack:
        base_tree = stack.enter_context(checked_out(repo, base_commit, "base"))
        if args.head is None:
            head = Side("head", WORKING_TREE, head_commit, repo, dirty)
        else:
            head_tree = stack.enter_context(checked_out(repo, head_commit, "head"))
            head = Side("head", args.head, head_commit, head_tree)
        sides = {"base": Side("base", args.base, base_commit, base_tree), "head": head}
        for side in sides.values():
            check_imports(side, env)
        notes = []
        if dependencies_differ(sides["base"], sides["head"]):
            notes.append(
                "BASE and HEAD declare different dependencies: both ran in this one venv "
                "(installed for the working tree)"
            )
        folder = create_run(
            results_root(args.results_dir, repo),
            repo=repo,
            run_dir=Path(args.run_dir) if args.run_dir else None,
        )
        return _run(folder, sides, options, policy, env, notes, began, probes)


def _run(  # noqa: PLR0917 - one call site, the stage's whole context
    folder: RunFolder,
    sides: dict[str, Side],
    options: RoundOptions,
    policy: Policy,
    env: dict[str, str],
    notes: list[str],
    began: float,
    probes: list[str] | None,
) -> int:
    """Measure (instruction counts of ``probes``, or wall time), decide, record, report."""
    settings = {"base": sides["base"].as_dict(), "head": sides["head"].as_dict()}
    folder.begin_stage(COMPARE_STAGE, command=["perf", *sys.argv[1:]], settings=settings)
    for note in notes:
        print(f"perf compare: note: {note}", file=sys.stderr)
    base, head = sides["base"], sides["head"]
    dirty = ", dirty" if head.dirty else ""
    how = (
        "instructions per call under valgrind, two processes at a time"
        if probes
        else f"{options.rounds} processes per side, interleaved"
    )
    print(
        f"perf compare: base {base.ref} ({base.commit[:8]}) vs head {head.ref} "
        f"({head.commit[:8]}{dirty}): {how}, into {folder.path}",
        flush=True,
    )
    code, extra = EXIT_BAD_INPUT, {}
    status = None
    say = functools.partial(print, flush=True)
    try:
        if probes:
            comparisons, problems, measured = _count(folder.path, sides, probes, policy, env, say)
        else:
            comparisons, problems, measured = _time(folder.path, sides, options, policy, env, say)
        code = exit_code(comparisons)
        document = _document(
            sides, _recorded_options(options, probes), policy, comparisons,
            {"wall_seconds": round(time.monotonic() - began, 1), "notes": notes,
             "problems": problems, **measured},
        )  # fmt: skip
        if problems:
            code = EXIT_BAD_INPUT
            document["exit_code"] = code
        write_json_atomic(folder.path / COMPARE, document)
        print(format_comparisons(comparisons))
        print(_summary(comparisons, document["wall_seconds"]))
        for problem in problems:
            print(f"perf compare: error: {problem}", file=sys.stderr)
        extra = {"counts": document["counts"], "slower": document["slower"]}
    except KeyboardInterrupt:
        code, status = EXIT_INTERRUPTED, "interrupted"
        raise
    finally:
        status = status or ("failed" if code == EXIT_BAD_INPUT else "finished")
        folder.finish_stage(COMPARE_STAGE, exit_code=code, status=status, extra=extra)
        print(folder.path)
    return code


Measured = tuple[list[Comparison], list[str], dict[str, Any]]  # verdicts, problems, record


def _time(  # noqa: PLR0917 - one call site, beside _count
    run: Path,
    sides: dict[str, Side],
    options: RoundOptions,
    policy: Policy,
    env: dict[str, str],
    say: Callable[[str], None],
) -> Measured:
    """Wall time: the benchmark rounds, interleaved, and their verdicts."""
    rounds = run_rounds(run, sides, options, env, say=say)
    comparisons, _ = decide_folder(run, policy)
    problems = [f"{r.side} {r.index}: pytest exit {r.exit_code} (see {r.log_file})"
                for r in failed(rounds)]  # fmt: skip
    if not comparisons:
        problems.append("no benchmark ran on either side: check -k / --quick")
    return comparisons, problems, {"rounds": [asdict(r) for r in rounds]}


def _count(  # noqa: PLR0917 - one call site, beside _time
    run: Path, sides: dict[str, Side], probes: list[str], policy: Policy,
    env: dict[str, str], say: Callable[[str], None],
) -> Measured:  # fmt: skip
    """Instruction counts of the probes on both sides, and their verdicts."""
    counts = count_instructions(run, sides, env, probes=probes, say=say)
    figures = per_call(counts)
    comparisons = compare_counts(figures.get("base", {}), figures.get("head", {}), policy)
    problems = [f"{c.side} (hash seed {c.seed}): {c.error} (see {c.log_file})"
                for c in counts if c.error]  # fmt: skip
    return comparisons, problems, {"counts": [asdict(c) for c in counts]}


def _summary(comparisons: list[Comparison], seconds: float) -> str:
    slower = [c.name for c in comparisons if c.verdict == SLOWER]
    tally = ", ".join(
        f"{sum(c.verdict == v for c in comparisons)} {v}"
        for v in ("slower", "faster", "unchanged", INCONCLUSIVE, "new", "removed")
    )
    head = f"compare: {'SLOWER' if slower else 'OK'} ({tally}) in {seconds:.0f} s"
    return head + (f"; slower: {', '.join(slower)}" if slower else "")


def add_commands(subparsers: Any) -> None:
    """Add ``compare`` to an argparse ``add_subparsers()`` object."""
    compare = subparsers.add_parser(
        "compare",
        help="benchmark two commits in one job, interleaved: exit 1 if HEAD is slower",
        description=__doc__.split("\n\n")[0],
    )
    compare.add_argument("base", help="git ref to compare against, e.g. main or HEAD~1")
    compare.add_argument(
        "head", nargs="?", help="git ref to compare (default: the working tree, as it is)"
    )
    compare.add_argument(
        "--quick", action="store_true",
        help="only the pull-request subset of fast micro-benchmarks (perf.bench.rounds.QUICK)",
    )  # fmt: skip
    compare.add_argument(
        "-k", dest="keyword",
        help="pytest -k expression selecting benchmarks (--instructions: a part of the probes' "
        "names)",
    )  # fmt: skip
    compare.add_argument(
        "--rounds", type=int, default=5, help="fresh processes per side (default 5)"
    )
    compare.add_argument(
        "--max-time", type=float,
        help="seconds each benchmark runs per process (pytest-benchmark's --benchmark-max-time)",
    )  # fmt: skip
    compare.add_argument(
        "--instructions", action="store_true",
        help="count instructions per call of the hot paths under valgrind instead of timing "
        "(deterministic: perf.bench.probes)",
    )  # fmt: skip
    compare.add_argument(
        "--min-effect", type=float,
        help=f"smallest ratio that counts as slower (default {DEFAULT_MIN_EFFECT}; "
        f"{INSTRUCTIONS_MIN_EFFECT} with --instructions)",
    )  # fmt: skip
    compare.add_argument(
        "--alpha", type=float, default=DEFAULT_ALPHA,
        help=f"family-wise false-alarm rate over the suite, Holm (default {DEFAULT_ALPHA})",
    )  # fmt: skip
    compare.add_argument("--run-dir", help="write into this (new) folder instead")
    add_results_dir_option(compare)
    compare.set_defaults(func=_compare, takes_extra=True)
