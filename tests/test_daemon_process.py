"""`monitor run` as operators start it: a subprocess, stopped by SIGTERM; config validation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from daemon_helpers import (
    Listener,
    Publisher,
    count,
    daemon_settings,
    install_model,
    reading,
    tiny_model,
    wait_for,
)


def write_config(path: Path, values: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=60
    )


def test_sigterm_drains_everything_published_and_exits_zero_within_10_s(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """SIGTERM right after a burst: exit code 0 in under 10 s, every reading stored, status `stopped`."""
    settings = daemon_settings(tmp_path, database_url, mqtt_broker, topic_prefix)
    install_model(settings, ["pump1"], tiny_model())
    config = write_config(tmp_path / "monitor.yaml", json.loads(settings.model_dump_json()))
    status_topic = f"{topic_prefix}/monitor/{settings.instance}/status"
    status = Listener(mqtt_broker, status_topic)
    publisher = Publisher(mqtt_broker)
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert wait_for(lambda: b"online" in status.payloads(), timeout=60), "daemon never came online"
        publisher.publish_many(f"{topic_prefix}/site1/pump1/sensors", [reading(i) for i in range(300)])
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
        output = process.stdout.read().decode(errors="replace") if process.stdout else ""
        publisher.close()
    assert code == 0, output[-2000:]
    assert elapsed < 10
    assert count(database_url, "scores") == 300 - 7
    assert wait_for(lambda: status.payloads()[-1:] == [b"stopped"], timeout=5)
    status.close()


def test_validate_config_accepts_a_good_file(tmp_path: Path) -> None:
    """A valid file prints `config ok` and exits 0 without connecting anywhere."""
    config = write_config(
        tmp_path / "ok.yaml", {"mqtt": {"topic_prefix": "plant"}, "sensors": {"window": 16}}
    )
    result = monitor("run", "--config", str(config), "--validate-config")
    assert result.returncode == 0 and result.stdout.strip() == "config ok"


def test_validate_config_names_each_bad_key_path(tmp_path: Path) -> None:
    """Unknown keys and out-of-range values are reported with their key paths; exit code non-zero."""
    config = write_config(
        tmp_path / "bad.yaml", {"mqtt": {"keepalive_s": 1, "colour": "red"}, "sensors": {"window": "big"}}
    )
    result = monitor("run", "--config", str(config), "--validate-config")
    assert result.returncode != 0
    assert "mqtt.keepalive_s: must be at least 5" in result.stderr
    assert "mqtt.colour: unknown key" in result.stderr
    assert "sensors.window:" in result.stderr


def test_out_of_date_schema_refuses_to_start(tmp_path: Path) -> None:
    """An empty database without auto_upgrade: refused with the command that fixes it."""
    config = write_config(tmp_path / "m.yaml", {"database": {"url": f"sqlite:///{tmp_path / 'empty.db'}"}})
    result = monitor("run", "--config", str(config))
    assert result.returncode == 2
    assert "monitor db upgrade" in result.stderr
