"""``python -m perf.service serve|stub-llm|analyze`` (the same commands as ``perf ...``)."""

from __future__ import annotations

import argparse
import sys

from perf.errors import ConfigurationError
from perf.service.cli import add_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.service")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigurationError as exc:
        print(f"python -m perf.service {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
