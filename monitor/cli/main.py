"""`monitor` entry point: one argparse tree, one-line errors instead of tracebacks.

Each command group lives in its own module under `monitor/cli/` and exposes
`register(subparsers)`, adding parsers whose `handler` default takes the parsed namespace and
returns an exit code. A handler raises UsageError (or ConfigError) for bad input; an OSError (a path
that cannot be read or written) is reported the same way, as one line naming the sub-command. Any
other exception is a bug and keeps its traceback.
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
    _record_progs(parser)
    return parser


def _record_progs(parser: argparse.ArgumentParser) -> None:
    """Give every parser its own `prog` as a default, so the deepest one parsed names the command in
    error lines (`monitor score sensor: error: ...`), as argparse's own errors do."""
    parser.set_defaults(command_prog=parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _record_progs(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UsageError, ConfigError) as exc:
        return _fail(args.command_prog, str(exc).splitlines() or [type(exc).__name__])
    except OSError as exc:  # a missing, unwritable or full disk path is bad input for a CLI, not a bug
        return _fail(args.command_prog, [_describe_os_error(exc)])
    except KeyboardInterrupt:
        return 130


def _fail(prog: str, lines: list[str]) -> int:
    for line in lines:
        print(f"{prog}: error: {line}", file=sys.stderr)
    return 2


def _describe_os_error(exc: OSError) -> str:
    """`<filename>: <strerror>` as the shell says it (`out.csv: Is a directory`), else the message."""
    if exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
