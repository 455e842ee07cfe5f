"""The ``perf`` command: ``perf run | bench | load | report | gate | compare`` (+ ``serve``,
``stub-llm``, ``analyze``).

Each producing command writes into a run folder under ``results/runs/`` (or ``--run-dir``) and
prints that folder's path as the last line of its output. Bad input exits with code 2 and says
what to do. The top of the package: nothing imports ``perf.cli``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from perf.cli import compare, produce, report
from perf.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, ConfigurationError
from perf.service.cli import add_commands as add_service_commands

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perf", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    produce.add_commands(commands)
    add_service_commands(commands)  # their handlers import the [service] extra when run
    report.add_commands(commands)
    compare.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = [a for a in extra if a != "--"]
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        code: int = args.func(args)
    except (ConfigurationError, FileExistsError, FileNotFoundError) as exc:
        print(f"perf {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"perf {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code
