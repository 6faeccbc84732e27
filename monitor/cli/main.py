"""`monitor` entry point: one argparse tree, one-line errors instead of tracebacks.

Each command group lives in its own module under `monitor/cli/` and exposes
`register(subparsers)`, adding parsers whose `handler` default takes the parsed namespace and
returns an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from monitor.settings import ConfigError


class UsageError(Exception):
    """A bad argument or input file, phrased for the user (printed as one line, exit 2)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus an error; we keep its one-line error and the exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from monitor.cli import commands

    parser = OneLineParser(prog="monitor", description="Plant Monitor: condition monitoring over MQTT.")
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", required=True, parser_class=OneLineParser
    )
    for register in commands.REGISTRARS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UsageError, ConfigError) as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"monitor {args.command}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
