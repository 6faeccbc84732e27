"""`monitor config example`: print the annotated example configuration."""

from __future__ import annotations

import argparse

from monitor.config_example import render_example


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = subparsers.add_parser("config", help="configuration helpers")
    actions = config.add_subparsers(dest="action", required=True)
    example = actions.add_parser("example", help="print the annotated example config (all defaults)")
    example.set_defaults(handler=_example)


def _example(args: argparse.Namespace) -> int:
    print(render_example(), end="")
    return 0
