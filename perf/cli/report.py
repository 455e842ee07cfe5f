"""``perf report`` and ``perf gate``: added to the main CLI's parser by ``add_commands``.

Both take a run (``latest``, a run id or prefix, ``baseline[:name]``, or a path) and record
themselves as a stage of the run's manifest (``report`` / ``gate``). Unlike the producing
stages they may run again on the same folder: the previous entry is replaced, and their
outputs (``report/``, ``gate.json``) are rewritten. Bad input (an unknown run, unreadable
targets or run files) exits with code 2 and says what to do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perf.cli.paths import add_results_dir_option, repo_root, results_root
from perf.errors import EXIT_BAD_INPUT, ConfigurationError
from perf.report.checks import run_checks
from perf.report.gate import run_gate
from perf.report.index import INDEX, write_index
from perf.report.notebooks import find_notebooks, write_report
from perf.results.files import REPORT_DIR, REPORT_SUMMARY
from perf.results.manifest import GATE_STAGE, REPORT_STAGE
from perf.results.runs import RunFolder, find_run
from perf.results.targets import load_targets

__all__ = ["add_commands", "gate_stage", "report_stage"]


def _locate(args: argparse.Namespace) -> tuple[RunFolder, Path, Path]:
    """The run folder, the targets file and the repo the arguments name."""
    repo = repo_root()
    folder = find_run(results_root(args.results_dir, repo), args.run)
    targets = Path(args.targets) if args.targets else repo / "pyproject.toml"
    load_targets(targets)  # bad targets: exit 2 before the manifest is touched
    return folder, targets, repo


def _bad_input(command: str, exc: Exception) -> int:
    print(f"perf {command}: error: {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT


def gate_stage(
    folder: RunFolder,
    targets: Path,
    *,
    allow_missing: bool = False,
    allow_inconclusive: bool = False,
    skip: Sequence[str] = (),
) -> int:
    """Check ``folder`` against ``targets`` into ``gate.json``, as the manifest's ``gate``
    stage; exit 0 pass, 1 fail, 2 unreadable run files, 3 inconclusive."""
    folder.begin_stage(GATE_STAGE, command=["perf", *sys.argv[1:]], rerun=True)
    code, extra = EXIT_BAD_INPUT, {}
    try:
        result = run_gate(
            folder.path,
            targets,
            allow_missing=allow_missing,
            allow_inconclusive=allow_inconclusive,
            skip=skip,
        )
        code = result.exit_code
        extra = {"verdict": result.verdict, "counts": result.counts()}
    except (ConfigurationError, FileNotFoundError, ValueError) as exc:
        return _bad_input("gate", exc)
    finally:  # a completed gate is a finished stage, whatever its verdict
        status = "failed" if code == EXIT_BAD_INPUT else "finished"
        folder.finish_stage(GATE_STAGE, exit_code=code, status=status, extra=extra)
    if code != EXIT_BAD_INPUT and (folder.path / REPORT_DIR / INDEX).is_file():
        write_index(folder.path)  # the index shows this verdict, not the one before it
    return code


def report_stage(folder: RunFolder, targets: Path, notebooks_dir: Path) -> int:
    """Execute the notebooks against ``folder`` into ``report/``, as the manifest's
    ``report`` stage; exit 0, or 1 if a notebook failed, 2 on unreadable input."""
    try:
        notebooks = find_notebooks(notebooks_dir)
        checks = run_checks(folder.path, load_targets(targets))
    except (ConfigurationError, FileNotFoundError, ValueError) as exc:
        return _bad_input("report", exc)
    folder.begin_stage(REPORT_STAGE, command=["perf", *sys.argv[1:]], rerun=True)
    code, extra = 1, {}
    try:
        results = write_report(folder.path, notebooks, checks, targets_path=targets)
        failed = [r for r in results if r.status == "failed"]
        for r in failed:
            print(f"perf report: notebook {r.name} failed: {r.error}", file=sys.stderr)
        code = 1 if failed else 0
        extra = {
            "notebooks": {r.name: r.status for r in results},
            "pages": [r.page() for r in results],
            "summary": REPORT_SUMMARY,
            "index": f"{REPORT_DIR}/{INDEX}",
        }
    finally:
        folder.finish_stage(REPORT_STAGE, exit_code=code, extra=extra)
    return code


def _gate(args: argparse.Namespace) -> int:
    try:
        folder, targets, _ = _locate(args)
    except (ConfigurationError, FileNotFoundError) as exc:
        return _bad_input("gate", exc)
    return gate_stage(
        folder,
        targets,
        allow_missing=args.allow_missing,
        allow_inconclusive=args.allow_inconclusive,
        skip=args.skip or (),
    )


def _report(args: argparse.Namespace) -> int:
    try:
        folder, targets, repo = _locate(args)
    except (ConfigurationError, FileNotFoundError) as exc:
        return _bad_input("report", exc)
    code = report_stage(folder, targets, Path(args.notebooks or repo / "notebooks"))
    print(folder.path / "report")
    return code


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run", nargs="?", default="latest",
        help="run id (or prefix), a run folder path, baseline[:name], or latest (default)",
    )  # fmt: skip
    add_results_dir_option(parser)
    parser.add_argument("--targets", help="TOML with the targets (default: pyproject.toml)")


def add_commands(subparsers: Any) -> None:
    """Add ``report`` and ``gate`` to an argparse ``add_subparsers()`` object."""
    report = subparsers.add_parser(
        "report", help="execute the notebooks against a run: <run>/report/*.html + summary.md"
    )
    _add_run_arguments(report)
    report.add_argument("--notebooks", help="folder of notebooks (default: notebooks/)")
    report.set_defaults(func=_report)

    gate = subparsers.add_parser(
        "gate", help="check a run against the targets: <run>/gate.json, exit 0 pass / 1 fail"
    )
    _add_run_arguments(gate)
    gate.add_argument(
        "--allow-missing", action="store_true",
        help="let checks without data (e.g. no benchmarks.json) pass instead of failing",
    )  # fmt: skip
    gate.add_argument(
        "--allow-inconclusive", action="store_true",
        help="let inconclusive checks (interval straddles the target) pass: exit 0, not 3",
    )  # fmt: skip
    gate.add_argument(
        "--skip", action="append", metavar="PATTERN",
        help="do not count checks matching this fnmatch pattern, e.g. 'db_query_p95_ms*' "
        "(still written to gate.json; repeatable)",
    )  # fmt: skip
    gate.set_defaults(func=_gate)
