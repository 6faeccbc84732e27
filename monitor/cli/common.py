"""Pieces every command module shares: the shared `train`/`score` groups and epoch progress lines."""

from __future__ import annotations

import argparse
from typing import TypeAlias

from models.training import EpochReport
from monitor.cli.main import OneLineParser

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def command_group(subparsers: Subparsers, name: str, help_text: str) -> Subparsers:
    """The sub-commands of `monitor <name>`, created by whichever module registers first.

    `train` and `score` are shared by several model kinds (sensor, image-ae, ...), each registered
    from its own module, so each module finds the group instead of adding it twice.
    """
    parser = subparsers.choices.get(name)
    if parser is None:
        parser = subparsers.add_parser(name, help=help_text)
        return parser.add_subparsers(dest="kind", required=True, parser_class=OneLineParser)
    return next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))


def print_epoch(report: EpochReport) -> None:
    """One progress line per epoch; `*` marks the best validation loss so far."""
    marker = " *" if report.best else ""
    print(
        f"epoch {report.epoch:3d}/{report.epochs}  train {report.train_loss:.5f}  "
        f"val {report.val_loss:.5f}  {report.seconds:.2f}s{marker}",
        flush=True,
    )
