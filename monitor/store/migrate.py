"""Schema migrations, driven from code: `monitor db upgrade`, start-up checks and tests.

The Alembic scripts live in `migrations/` beside the package (found relative to this file, so the
current directory does not matter). The daemon refuses to run on a schema that is not at the
code's head revision unless told to upgrade it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from monitor.store.db import create_engine_for, safe_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class SchemaOutOfDate(Exception):
    """The database schema is not the one this code was written for."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our scripts, with `url` handed to migrations/env.py."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise FileNotFoundError(f"Alembic scripts not found at {MIGRATIONS_DIR}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.attributes["url"] = url
    return config


def head_revision() -> str:
    """The revision the code expects."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise FileNotFoundError(f"no migrations in {MIGRATIONS_DIR / 'versions'}")
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at; None for an empty (or, for SQLite, absent) database."""
    parsed = make_url(url)
    database = parsed.database or ""
    plain_file = (
        parsed.get_backend_name() == "sqlite" and database and not database.startswith((":", "file:"))
    )
    if plain_file and not Path(database).expanduser().exists():
        return None  # do not create the file just to look at it
    engine = create_engine_for(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Apply pending migrations (Alembic `upgrade head`)."""
    command.upgrade(alembic_config(url), revision)


def ensure_schema_current(url: str, auto_upgrade: bool) -> None:
    """Return when the schema is at head (upgrading first if allowed); raise SchemaOutOfDate if not."""
    current, head = current_revision(url), head_revision()
    if current == head:
        return
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is not None and current not in known:
        raise SchemaOutOfDate(
            f"database at {safe_url(url)} is at revision {current}, which this code does not know "
            f"(it needs {head}): it was migrated by a newer release"
        )
    if auto_upgrade:
        upgrade(url)
        return
    raise SchemaOutOfDate(
        f"database at {safe_url(url)} is at revision {current or 'none (empty)'}, code needs {head}: "
        "run `monitor db upgrade`"
    )
