"""`monitor models list | register | activate`: which model version each asset uses."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from models.card import CARD_FILE, ModelCardError
from monitor import registry
from monitor.cli.db import database_errors, database_url
from monitor.cli.main import UsageError
from monitor.settings import ASSET_NAME_PATTERN
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
    add = actions.add_parser(
        "register",
        help="record a trained model directory (monitor train …) as a new version of an asset or camera",
    )
    add.add_argument("--asset", required=True, help="asset or camera name, as in its MQTT topic")
    add.add_argument(
        "--model", required=True, type=Path, help="model directory; the daemon loads it from this path"
    )
    add.add_argument(
        "--activate", action="store_true", help="make it the active version (the first one always is)"
    )
    add.add_argument("--config", type=Path, help="config file (database.url)")
    add.set_defaults(handler=_register)
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


def _register(args: argparse.Namespace) -> int:
    if not re.fullmatch(ASSET_NAME_PATTERN, args.asset):
        raise UsageError(f"--asset {args.asset!r}: names are [A-Za-z0-9_.-], 1 to 64 characters")
    directory: Path = args.model.resolve()
    try:
        card = json.loads((directory / CARD_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{args.model}: not a model directory ({CARD_FILE}: {exc})") from exc
    kind = registry.KIND_OF_CARD.get(str(card.get("kind"))) if isinstance(card, dict) else None
    if kind is None:
        raise UsageError(f"{args.model}: {CARD_FILE} names no model kind this version knows")
    try:
        card = registry.load_model(kind, directory, "cpu").card
    except (ModelCardError, registry.RegistryError) as exc:
        raise UsageError(str(exc)) from exc
    url = database_url(args.config)
    with database_errors(url):
        migrate.ensure_schema_current(url, auto_upgrade=False)
        engine = create_engine_for(url)
        try:
            version = registry.register(
                engine, args.asset, kind, directory, card, activate=args.activate or None
            )
            info = registry.active_version(engine, args.asset, kind)
        except registry.RegistryError as exc:
            raise UsageError(str(exc)) from exc
        finally:
            engine.dispose()
    if info is not None and info.version == version:
        print(f"{args.asset}: {kind} model {version} registered and active ({directory})")
    else:
        print(
            f"{args.asset}: {kind} model {version} registered ({directory}); make it the active one with "
            f"`monitor models activate --asset {args.asset} --version {version} --kind {kind}`"
        )
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
