"""`monitor run [--config PATH] [--validate-config]`: the daemon in the foreground.

Configuration errors print one line per bad key (`section.key: problem`) and exit 2; a database
schema that is out of date refuses to start with the command that fixes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser("run", help="run the monitoring daemon until SIGTERM/SIGINT")
    run.add_argument(
        "--config", type=Path, default=None, help="YAML config (default config/monitor.yaml if present)"
    )
    run.add_argument(
        "--validate-config",
        action="store_true",
        help="check the configuration, print `config ok` or each error",
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from monitor.cli.main import UsageError
    from monitor.daemon import Daemon, StartupError
    from monitor.logs import configure_logging

    settings = load_settings(args.config)  # ConfigError: printed by main, one line per key, exit 2
    if args.validate_config:
        print("config ok")
        return 0
    configure_logging(settings.logging)
    try:
        return Daemon(settings).run_until_signal()
    except StartupError as exc:
        raise UsageError(str(exc)) from exc
