"""`monitor db upgrade | current` on SQLite and PostgreSQL, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.store import migrate


def test_db_upgrade_from_config_file(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`monitor db upgrade --config` migrates the configured database and says from which revision to which."""
    config = tmp_path / "monitor.yaml"
    config.write_text(f"database:\n  url: '{database_url}'\n")
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    head = migrate.head_revision()
    assert f"upgraded from revision none (empty) to {head}" in capsys.readouterr().out
    assert migrate.current_revision(database_url) == head
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert f"already at revision {head}" in capsys.readouterr().out


def test_db_current_tells_whether_to_upgrade(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`monitor db current` reads MONITOR_DATABASE__URL and points at `monitor db upgrade` when behind."""
    monkeypatch.setenv("MONITOR_DATABASE__URL", sqlite_url)
    assert main(["db", "current"]) == 0
    out = capsys.readouterr().out
    assert "revision none (empty)" in out and "run `monitor db upgrade`" in out
    migrate.upgrade(sqlite_url)
    assert main(["db", "current"]) == 0
    assert "(up to date)" in capsys.readouterr().out


def test_db_upgrade_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database that cannot be reached gives exit 2 and one line naming the URL without its password."""
    monkeypatch.setenv("MONITOR_DATABASE__URL", "postgresql+psycopg://ops:secret@127.0.0.1:1/plant")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(
        "monitor db upgrade: error: database at postgresql+psycopg://ops:***@127.0.0.1:1/plant:"
    )
    assert "secret" not in err
