"""``python -m perf.service serve|stub-llm|analyze`` (the same commands as ``perf ...``)."""

from __future__ import annotations

import argparse
import sys

from perf.service.cli import add_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.service")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
