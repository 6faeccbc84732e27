"""`monitor models list | activate` against a real database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import registry
from monitor.cli.main import main
from monitor.store import migrate
from monitor.store.db import create_engine_for


@pytest.fixture
def url(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    migrate.upgrade(database_url)
    engine = create_engine_for(database_url)
    registry.register(
        engine, "pump1", "sensor", tmp_path / "a", {"version": "v1", "metrics": {"f1": 0.81234}}
    )
    registry.register(engine, "pump1", "sensor", tmp_path / "b", {"version": "v2", "metrics": {"f1": 0.9}})
    registry.register(engine, "pump2", "sensor", tmp_path / "c", {"version": "v1", "metrics": {}})
    engine.dispose()
    monkeypatch.setenv("MONITOR_DATABASE__URL", database_url)
    yield database_url


def test_models_list_shows_versions_as_a_table(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """One row per version with asset, kind, version, active flag, creation time and key metrics."""
    assert main(["models", "list", "--asset", "pump1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["asset", "kind", "version", "active", "created", "(UTC)", "metrics"]
    assert lines[1].split()[:4] == ["pump1", "sensor", "v1", "yes"] and lines[1].endswith("f1=0.8123")
    assert lines[2].split()[:3] == ["pump1", "sensor", "v2"] and "yes" not in lines[2]
    assert len(lines) == 3


def test_models_activate_switches_the_active_version(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """After `activate` the listing shows the new version as the active one."""
    assert main(["models", "activate", "--asset", "pump1", "--version", "v2"]) == 0
    assert "pump1: sensor model v2 is active" in capsys.readouterr().out
    engine = create_engine_for(url)
    active = registry.active_version(engine, "pump1", "sensor")
    engine.dispose()
    assert active is not None and active.version == "v2"


@pytest.mark.parametrize(
    ("asset", "version", "message"),
    [
        ("nope", "v1", "unknown asset 'nope'"),
        ("pump1", "v7", r"pump1 has no model version 'v7' \(versions: v1, v2\)"),
    ],
)
def test_models_activate_unknown_names_fail_in_one_line(
    url: str, asset: str, version: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown asset or version: exit 2 and one line saying what exists."""
    assert main(["models", "activate", "--asset", asset, "--version", version]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("monitor models: error: ")
    assert re.search(message, err)


def test_models_list_refuses_an_old_schema(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a database that was never migrated the command says to run `monitor db upgrade`."""
    monkeypatch.setenv("MONITOR_DATABASE__URL", sqlite_url)
    assert main(["models", "list"]) == 2
    assert "run `monitor db upgrade`" in capsys.readouterr().err
