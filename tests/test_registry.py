"""Model registry on SQLite and PostgreSQL: register, list, activate, generation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from monitor import registry
from monitor.store.db import session_factory


def card(version: str | None = None, f1: float = 0.8) -> dict[str, object]:
    return {"kind": "sensor", "metrics": {"f1": f1}} | ({"version": version} if version else {})


def test_first_version_is_active_and_later_ones_wait(engine: Engine, tmp_path: Path) -> None:
    """The first model of an asset is used at once; a retrained one only once activated."""
    assert registry.register(engine, "pump1", "sensor", tmp_path / "a", card("2026-01")) == "2026-01"
    assert registry.register(engine, "pump1", "sensor", tmp_path / "b", card()) == "v2"
    active = registry.active_version(engine, "pump1", "sensor")
    assert active is not None and (active.version, active.path) == ("2026-01", (tmp_path / "a").resolve())
    listed = registry.list_versions(engine, asset="pump1")
    assert [(v.version, v.active, v.metrics) for v in listed] == [
        ("2026-01", True, {"f1": 0.8}),
        ("v2", False, {"f1": 0.8}),
    ]


def test_activate_switches_the_one_active_version(engine: Engine, tmp_path: Path) -> None:
    """Activating a version deactivates the previous one and moves the generation on."""
    registry.register(engine, "pump1", "sensor", tmp_path / "a", card("v1"))
    registry.register(engine, "pump1", "sensor", tmp_path / "b", card("v2"))
    registry.register(engine, "pump2", "sensor", tmp_path / "c", card("v1"))
    before = registry.generation(engine)
    assert registry.activate(engine, "pump1", "v2").active
    assert registry.generation(engine) > before
    assert [(v.asset, v.version) for v in registry.list_versions(engine) if v.active] == [
        ("pump1", "v2"),
        ("pump2", "v1"),
    ]
    unchanged = registry.generation(engine)
    registry.activate(engine, "pump1", "v2")
    assert registry.generation(engine) == unchanged


def test_activate_unknown_asset_or_version_is_refused(engine: Engine, tmp_path: Path) -> None:
    """Unknown names give errors that say what exists."""
    registry.register(engine, "pump1", "sensor", tmp_path / "a", card("v1"))
    with pytest.raises(registry.RegistryError, match="unknown asset 'nope'"):
        registry.activate(engine, "nope", "v1")
    with pytest.raises(registry.RegistryError, match=r"pump1 has no model version 'v9' \(versions: v1\)"):
        registry.activate(engine, "pump1", "v9")


def test_registering_a_version_twice_is_refused(engine: Engine, tmp_path: Path) -> None:
    """A version name identifies one directory; registering it again is an error."""
    registry.register(engine, "pump1", "sensor", tmp_path / "a", card("v1"))
    with pytest.raises(registry.RegistryError, match="already has version v1 of its sensor model"):
        registry.register(engine, "pump1", "sensor", tmp_path / "b", card("v1"))


def test_a_folder_holds_one_version(engine: Engine, tmp_path: Path) -> None:
    """A second version in the folder of the first is refused: the first could not be rolled back to."""
    registry.register(engine, "pump1", "sensor", tmp_path / "a", card("v1"))
    with pytest.raises(registry.RegistryError, match="is pump1's sensor model version v1 already"):
        registry.register(engine, "pump1", "sensor", tmp_path / "a", card("v2"))


def test_register_inside_a_session_commits_with_it(engine: Engine, tmp_path: Path) -> None:
    """Given a session, the registration is part of the caller's transaction."""
    with session_factory(engine)() as session:
        registry.register(session, "cam1", "image-ae", tmp_path / "a", card("v1"))
        session.rollback()
    assert registry.list_versions(engine) == []
    with session_factory(engine)() as session, session.begin():
        registry.register(session, "cam1", "image-ae", tmp_path / "a", card("v1"))
    assert [v.version for v in registry.list_versions(engine, asset="cam1")] == ["v1"]
