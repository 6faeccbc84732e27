"""`monitor models list | activate`: which model version each asset uses."""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor import registry
from monitor.cli.db import database_errors, database_url
from monitor.cli.main import UsageError
from monitor.store import migrate
from monitor.store.db import create_engine_for

KEY_METRICS = 3  # metrics shown per row; the card holds them all


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("models", help="model versions per asset")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list model versions (asset, kind, version, active, metrics)")
    listing.add_argument("--asset", help="only this asset")
    listing.add_argument("--config", type=Path, help="config file (database.url)")
    listing.set_defaults(handler=_list)
    activate = actions.add_parser("activate", help="make a version the one the daemon uses")
    activate.add_argument("--asset", required=True, help="asset name")
    activate.add_argument("--version", required=True, help="version, as shown by `monitor models list`")
    activate.add_argument("--kind", help="model kind, when the asset has this version for several kinds")
    activate.add_argument("--config", type=Path, help="config file (database.url)")
    activate.set_defaults(handler=_activate)


def _list(args: argparse.Namespace) -> int:
    url = database_url(args.config)
    with database_errors(url):
        migrate.ensure_schema_current(url, auto_upgrade=False)
        engine = create_engine_for(url)
        try:
            versions = registry.list_versions(engine, asset=args.asset)
        finally:
            engine.dispose()
    rows = [
        [
            v.asset,
            v.kind,
            v.version,
            "yes" if v.active else "",
            f"{v.created_at:%Y-%m-%d %H:%M}",
            _metrics(v.metrics),
        ]
        for v in versions
    ]
    print(_table(["asset", "kind", "version", "active", "created (UTC)", "metrics"], rows), end="")
    return 0


def _activate(args: argparse.Namespace) -> int:
    url = database_url(args.config)
    with database_errors(url):
        migrate.ensure_schema_current(url, auto_upgrade=False)
        engine = create_engine_for(url)
        try:
            info = registry.activate(engine, args.asset, args.version, kind=args.kind)
        except registry.RegistryError as exc:
            raise UsageError(str(exc)) from exc
        finally:
            engine.dispose()
    print(f"{info.asset}: {info.kind} model {info.version} is active ({info.path})")
    return 0


def _metrics(metrics: dict[str, object]) -> str:
    shown = list(metrics.items())[:KEY_METRICS]
    return " ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}" for key, value in shown
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines) + "\n"
