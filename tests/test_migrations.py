"""Alembic migrations on SQLite and PostgreSQL: from empty to head, models in step, start-up check."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor.store import migrate
from monitor.store.db import create_engine_for
from monitor.store.tables import Base

TABLES = {
    "alembic_version",
    "assets",
    "model_versions",
    "scores",
    "score_rollups",
    "inspections",
    "thresholds",
    "alerts",
    "alert_events",
    "alert_readings",
    "maintenance_windows",
    "outbox",
    "dead_letters",
    "heartbeats",
}


def table_names(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_every_table(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`upgrade` works from any directory and creates all tables, alembic_version included, in the URL's schema."""
    monkeypatch.chdir(tmp_path)
    assert migrate.current_revision(database_url) is None
    migrate.upgrade(database_url)
    assert table_names(database_url) == TABLES
    assert migrate.current_revision(database_url) == migrate.head_revision()


def test_models_match_the_migrations(database_url: str) -> None:
    """Autogenerate finds nothing to add: tables.py and migrations/ describe the same schema."""
    migrate.upgrade(database_url)
    engine = create_engine_for(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
    finally:
        engine.dispose()
    assert diffs == []


def test_downgrade_to_base_removes_the_schema(database_url: str) -> None:
    """The initial migration's downgrade drops every table it created."""
    migrate.upgrade(database_url)
    command.downgrade(migrate.alembic_config(database_url), "base")
    assert table_names(database_url) == {"alembic_version"}


def test_rebuilding_a_table_keeps_the_rows_that_point_at_it(database_url: str) -> None:
    """Downgrading and upgrading again through a migration that rebuilds `alerts` (SQLite batch
    mode) keeps its audit trail and notifications: dropping the old table cascades nothing."""
    migrate.upgrade(database_url)
    engine = create_engine_for(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO assets (name, kind, channels, created_at) VALUES ('p1', 'sensor', '[]', :at)"
                ),
                {"at": "2026-11-25 00:00:00"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO alerts (id, asset, condition, state, severity, score, peak_score, threshold, "
                    "top_channels, opened_at, updated_at, in_maintenance) VALUES ('a1', 'p1', 'sensor_score', "
                    "'open', 'warning', 2, 2, 1, '[]', :at, :at, false)"
                ),
                {"at": "2026-11-25 00:00:00"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO alert_events (alert_id, action, actor, at) VALUES ('a1', 'opened', 'monitor', :at)"
                ),
                {"at": "2026-11-25 00:00:00"},
            )
        command.downgrade(migrate.alembic_config(database_url), "0004")
        migrate.upgrade(database_url)
        with engine.connect() as conn:
            counts = [
                conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("alerts", "alert_events")
            ]
    finally:
        engine.dispose()
    assert counts == [1, 1]


def test_out_of_date_schema_is_refused_with_the_fix(database_url: str) -> None:
    """An empty or old database stops start-up with a message naming both revisions and the command."""
    with pytest.raises(
        migrate.SchemaOutOfDate,
        match=rf"is at revision none \(empty\), code needs {migrate.head_revision()}: run `monitor db upgrade`",
    ):
        migrate.ensure_schema_current(database_url, auto_upgrade=False)


def test_auto_upgrade_brings_the_schema_to_head(database_url: str) -> None:
    """With auto_upgrade the check migrates instead of refusing."""
    migrate.ensure_schema_current(database_url, auto_upgrade=True)
    assert migrate.current_revision(database_url) == migrate.head_revision()
    migrate.ensure_schema_current(database_url, auto_upgrade=False)


def test_schema_from_a_newer_release_is_refused(database_url: str) -> None:
    """A revision the code does not know is reported as such, never 'upgraded'."""
    migrate.upgrade(database_url)
    engine = create_engine_for(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    with pytest.raises(migrate.SchemaOutOfDate, match="revision ffff, which this code does not know"):
        migrate.ensure_schema_current(database_url, auto_upgrade=True)


def test_sqlite_file_directory_is_created(tmp_path: Path) -> None:
    """A SQLite URL in a directory that does not exist yet works (default var/monitor.db)."""
    url = f"sqlite:///{tmp_path / 'var' / 'sub' / 'monitor.db'}"
    migrate.upgrade(url)
    assert (tmp_path / "var" / "sub" / "monitor.db").is_file()
    engine = create_engine_for(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
