"""Engines and sessions for SQLite (the default, single machine) and PostgreSQL (production).

SQLite is tuned for one writer thread plus readers (dashboard, CLI): WAL so reads never block the
writer, synchronous=NORMAL (durable at checkpoints, safe with WAL), a busy timeout instead of
immediate "database is locked" errors, and foreign keys on (SQLite leaves them off by default).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Compact JSON (no spaces): contributions are stored for every score row.
_compact_json = functools.partial(json.dumps, separators=(",", ":"), allow_nan=False)


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` with the pragmas and drivers this project relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, json_serializer=_compact_json, **kwargs)


def _sqlite_engine(url: sa.URL, **kwargs: Any) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **kwargs.pop("connect_args", {})}
    engine = sa.create_engine(url, json_serializer=_compact_json, connect_args=connect_args, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for ORM reads and small writes (registry, dashboard); bulk writes use Core."""
    return sessionmaker(engine, expire_on_commit=False)


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)
