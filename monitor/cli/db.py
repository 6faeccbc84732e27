"""`monitor db upgrade | current`: the database schema, for operators.

Also the database plumbing shared by command groups that read SQL (`monitor models`): the URL from
the settings and one-line errors instead of driver tracebacks.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from monitor.cli.main import UsageError
from monitor.settings import load_settings
from monitor.store import migrate
from monitor.store.db import safe_url


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="database schema (Alembic migrations)")
    actions = parser.add_subparsers(dest="action", required=True)
    upgrade = actions.add_parser("upgrade", help="apply pending migrations (alembic upgrade head)")
    upgrade.add_argument("--config", type=Path, help="config file (database.url)")
    upgrade.set_defaults(handler=_upgrade)
    current = actions.add_parser("current", help="show the database's schema revision and the code's")
    current.add_argument("--config", type=Path, help="config file (database.url)")
    current.set_defaults(handler=_current)


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn driver and schema errors into one-line UsageErrors naming the (password-masked) URL."""
    try:
        yield
    except migrate.SchemaOutOfDate as exc:
        raise UsageError(str(exc)) from exc
    except sa.exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise UsageError(
            f"database at {safe_url(url)}: {detail[0] if detail else type(exc).__name__}"
        ) from exc


def database_url(config: Path | None) -> str:
    return load_settings(config).database.url


def _upgrade(args: argparse.Namespace) -> int:
    url = database_url(args.config)
    with database_errors(url):
        before = migrate.current_revision(url)
        migrate.upgrade(url)
    head = migrate.head_revision()
    if before == head:
        print(f"database at {safe_url(url)} is already at revision {head}")
    else:
        print(f"database at {safe_url(url)} upgraded from revision {before or 'none (empty)'} to {head}")
    return 0


def _current(args: argparse.Namespace) -> int:
    url = database_url(args.config)
    with database_errors(url):
        current = migrate.current_revision(url)
    head = migrate.head_revision()
    state = "up to date" if current == head else "run `monitor db upgrade`"
    print(f"database at {safe_url(url)}: revision {current or 'none (empty)'}, code needs {head} ({state})")
    return 0
