"""`monitor models list | register | activate` against a real database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from camera_helpers import tiny_camera_models
from daemon_helpers import tiny_model

from models.card import WEIGHTS_FILE
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
    assert err.startswith("monitor models activate: error: ")
    assert re.search(message, err)


def test_models_list_refuses_an_old_schema(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a database that was never migrated the command says to run `monitor db upgrade`."""
    monkeypatch.setenv("MONITOR_DATABASE__URL", sqlite_url)
    assert main(["models", "list"]) == 2
    assert "run `monitor db upgrade`" in capsys.readouterr().err


def test_models_register_puts_trained_directories_into_service(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A camera's U-Net and a sensor model, as `monitor train` writes them, become active versions."""
    unet, sensor = tmp_path / "cam1-unet", tmp_path / "pump3"
    tiny_camera_models().unet.save(unet)
    tiny_model().save(sensor)
    assert main(["models", "register", "--asset", "cam1", "--model", str(unet)]) == 0
    assert main(["models", "register", "--asset", "pump3", "--model", str(sensor)]) == 0
    out = capsys.readouterr().out
    assert (
        "cam1: unet model" in out and "pump3: sensor model" in out and out.count("registered and active") == 2
    )
    engine = create_engine_for(url)
    active = (
        registry.active_version(engine, "cam1", "unet"),
        registry.active_version(engine, "pump3", "sensor"),
    )
    engine.dispose()
    assert [a.path if a else None for a in active] == [unet.resolve(), sensor.resolve()]


def test_models_register_a_second_version_waits_for_activate(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A later version is recorded inactive and the output says how to activate it; --activate does."""
    models = tiny_camera_models()
    models.unet.save(tmp_path / "unet")
    models.sr.save(tmp_path / "sr")
    models.ae.save(tmp_path / "ae")
    engine = create_engine_for(url)
    registry.register(engine, "cam1", "unet", tmp_path / "old", {"version": "v1"})
    assert main(["models", "register", "--asset", "cam1", "--model", str(tmp_path / "unet")]) == 0
    assert f"monitor models activate --asset cam1 --version {models.unet.version} --kind unet" in (
        capsys.readouterr().out
    )
    unet = registry.active_version(engine, "cam1", "unet")
    assert unet is not None and unet.version == "v1"
    registry.register(engine, "cam1", "sr", tmp_path / "old-sr", {"version": "v1"})
    assert main(["models", "register", "--asset", "cam1", "--model", str(tmp_path / "sr"), "--activate"]) == 0
    sr = registry.active_version(engine, "cam1", "sr")
    assert sr is not None and sr.version == models.sr.version
    engine.dispose()


def test_models_register_refuses_what_the_daemon_could_not_load(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a model, a changed weights file, a bad name or a version registered twice: one line, exit 2."""
    good, tampered = tmp_path / "good", tmp_path / "tampered"
    tiny_camera_models().unet.save(good)
    tiny_camera_models().unet.save(tampered)
    (tampered / WEIGHTS_FILE).write_bytes((tampered / WEIGHTS_FILE).read_bytes() + b"\0")
    assert main(["models", "register", "--asset", "cam1", "--model", str(good)]) == 0
    capsys.readouterr()
    for asset, directory, message in [
        ("cam1", tmp_path, "not a model directory"),
        ("cam1", tampered, "does not match the card"),
        ("cam 1", good, "names are"),
        ("cam1", good, "cam1 already has version"),
    ]:
        assert main(["models", "register", "--asset", asset, "--model", str(directory)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    engine = create_engine_for(url)
    assert [v.version for v in registry.list_versions(engine, asset="cam1")] == [
        tiny_camera_models().unet.version
    ]
    engine.dispose()
