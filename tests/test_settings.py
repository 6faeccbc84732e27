"""Configuration: defaults with no file, YAML + environment, errors named by key path."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.config_example import render_example
from monitor.settings import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[1]


def test_defaults_run_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file at all gives the documented defaults (SQLite in var/, local broker)."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database.url == "sqlite:///var/monitor.db"
    assert (settings.mqtt.host, settings.mqtt.port) == ("127.0.0.1", 1883)
    assert str(settings.models.store) == "var/models"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MONITOR_SECTION__KEY beats the YAML file, which beats the default."""
    config = tmp_path / "monitor.yaml"
    config.write_text("database:\n  url: sqlite:///from-file.db\nalerts:\n  k: 2\n  n: 4\n")
    monkeypatch.setenv("MONITOR_DATABASE__URL", "sqlite:///from-env.db")
    settings = load_settings(config)
    assert settings.database.url == "sqlite:///from-env.db"
    assert (settings.alerts.k, settings.alerts.n) == (2, 4)


def test_out_of_range_value_names_key_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value is reported with its full key path and the bound it broke."""
    monkeypatch.setenv("MONITOR_THRESHOLDS__POT__RISK", "0.5")
    with pytest.raises(ConfigError, match=r"^thresholds\.pot\.risk: must be at most 0\.1$"):
        load_settings()


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    """A misspelt key fails loudly instead of being ignored."""
    config = tmp_path / "monitor.yaml"
    config.write_text("mqtt:\n  urll: mqtt://broker:1883\n")
    with pytest.raises(ConfigError, match=r"mqtt\.urll: unknown key"):
        load_settings(config)


def test_every_error_is_listed(tmp_path: Path) -> None:
    """All problems come back at once, one line each."""
    config = tmp_path / "monitor.yaml"
    config.write_text("alerts:\n  k: 5\n  n: 3\nmqtt:\n  url: http://x\nworker:\n  index: 2\n  count: 2\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    lines = str(caught.value).splitlines()
    assert any(line.startswith("alerts.n: must be at least k (5)") for line in lines)
    assert any(line.startswith("mqtt.url: must look like mqtt://") for line in lines)
    assert any(line.startswith("worker: index must be below count (2)") for line in lines)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    """A missing or unparsable file is a one-line config error, not a traceback."""
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("mqtt: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken)


def test_committed_example_is_current_and_valid() -> None:
    """config/monitor.example.yaml is exactly what the settings models document, and it loads."""
    example = REPO / "config" / "monitor.example.yaml"
    assert example.read_text() == render_example(), (
        "run: monitor config example > config/monitor.example.yaml"
    )
    settings = load_settings(example)
    assert settings.thresholds.method in ("quantile", "ewma", "pot")


def test_cli_prints_example(capsys: pytest.CaptureFixture[str]) -> None:
    """`monitor config example` prints the annotated file."""
    assert main(["config", "example"]) == 0
    assert "thresholds:" in capsys.readouterr().out


def test_example_camera_entry_is_valid_when_uncommented(tmp_path: Path) -> None:
    """The commented-out camera entry in the example documents real keys: uncommented, it loads."""
    head, cameras = render_example().split("cameras: {}\n#   <name>:")
    lines = [line[2:] if line.startswith("#     ") else line for line in cameras.splitlines()]
    text = head + "cameras:\n  line1-cam:" + "\n".join(lines)
    config = tmp_path / "monitor.yaml"
    config.write_text(text)
    camera = load_settings(config).cameras["line1-cam"]
    assert camera.models == ["ae", "unet"] and camera.backlog == 16


def test_route_naming_an_unknown_webhook_is_rejected_with_its_key(tmp_path: Path) -> None:
    """A route that points at a webhook nobody defined fails at start-up, naming the route and the name."""
    config = tmp_path / "monitor.yaml"
    config.write_text("notify:\n  routes:\n    - name: maint\n      webhooks: [cmms]\n")
    with pytest.raises(ConfigError, match=r"notify: .*route maint: unknown webhook 'cmms'"):
        load_settings(config)


def test_dashboard_user_needs_a_bcrypt_hash_not_a_password(tmp_path: Path) -> None:
    """A plain password in `password_hash` is refused with the key path, so it never sits in a config."""
    config = tmp_path / "monitor.yaml"
    config.write_text("dashboard:\n  users:\n    alice:\n      password_hash: secret\n      role: operator\n")
    with pytest.raises(ConfigError, match=r"dashboard\.users\.alice\.password_hash"):
        load_settings(config)


def test_keys_an_earlier_release_had_are_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A config written for the release before (alerts.warning_ratio, notify.max_attempts) still
    loads: each retired key is dropped with a warning saying what replaced it."""
    path = tmp_path / "monitor.yaml"
    path.write_text("alerts:\n  k: 2\n  warning_ratio: 1.0\nnotify:\n  max_attempts: 20\n")
    with caplog.at_level(logging.WARNING, logger="monitor.settings"):
        settings = load_settings(path)
    assert settings.alerts.k == 2
    assert [record.getMessage() for record in caplog.records] == [
        "config: alerts.warning_ratio is no longer used and is ignored: an alert is a warning from the "
        "threshold up, major_ratio and critical_ratio set the rest",
        "config: notify.max_attempts is no longer used and is ignored: notifications are retried for "
        "notify.give_up_after_s instead",
    ]
    path.write_text("alerts:\n  warning_ratios: 1.0\n")
    with pytest.raises(ConfigError, match="alerts.warning_ratios"):
        load_settings(path)
