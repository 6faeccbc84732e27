"""Shared helpers for daemon tests: an isolated config, a tiny trained model, a publisher, polling.

Each test's daemon gets its own topic prefix, client id, instance name, database and model store,
so tests never see each other's messages, sessions or rows.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from models.sensor_model import SensorModel
from models.sensor_training import SensorTrainConfig, train_sensor_model
from models.training import FitConfig
from monitor import registry
from monitor.daemon import Daemon
from monitor.settings import Settings
from monitor.store.db import create_engine_for
from monitor.store.migrate import upgrade

CHANNELS = ["p1", "p2", "t1"]
WINDOW = 8
# Recent, as a gateway's clock would be: the daemon refuses times far from its own (mqtt.max_ts_age_s).
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def daemon_settings(
    tmp_path: Path, database_url: str, broker: tuple[str, int], prefix: str, **sections: dict[str, Any]
) -> Settings:
    """Settings for one test daemon: private names everywhere, fast timers, no metrics port clash."""
    host, port = broker
    tag = uuid.uuid4().hex[:8]
    base: dict[str, Any] = {
        "instance": f"test-{tag}",
        "mqtt": {"url": f"mqtt://{host}:{port}", "topic_prefix": prefix, "client_id": f"monitor-{tag}"},
        "database": {"url": database_url, "write_interval_s": 0.05},
        "models": {"store": tmp_path / "models", "device": "cpu"},
        "sensors": {"window": WINDOW, "batch_wait_s": 0.01, "baseline_readings": 64, "baseline_epochs": 2},
        "metrics": {"port": 0, "host": "127.0.0.1"},
        "worker": {"state_dir": tmp_path / "state"},
        "logging": {"json_format": False},
    }
    for section, values in sections.items():
        base[section] = {**base.get(section, {}), **values} if isinstance(values, dict) else values
    return Settings(**base)


def normal_data(rows: int, seed: int = 0) -> np.ndarray:
    """Smooth correlated channels with a little noise: the 'healthy machine' of the tests."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=np.float64)
    base = np.sin(t / 5.0)
    return np.stack([base, 0.5 * base + 1.0, np.cos(t / 5.0) * 2.0], axis=1) + rng.normal(0, 0.02, (rows, 3))


def tiny_model(epochs: int = 2) -> SensorModel:
    """A few-epoch model on synthetic data: enough for the pipeline, seconds to train."""
    config = SensorTrainConfig(window=WINDOW, width=8, latent=2, device="cpu", fit=FitConfig(epochs=epochs))
    return train_sensor_model(normal_data(200), CHANNELS, config)


def install_model(settings: Settings, assets: Iterable[str], model: SensorModel) -> None:
    """Migrate the test database and register `model` as the active model of each asset."""
    upgrade(settings.database.url)
    engine = create_engine_for(settings.database.url)
    try:
        for asset in assets:
            directory = settings.models.store / asset / model.version
            model.save(directory)
            registry.register(engine, asset, "sensor", directory, model.card, activate=True)
    finally:
        engine.dispose()


_NORMAL = normal_data(5000)


def reading(i: int, values: Iterable[float] | None = None) -> dict[str, Any]:
    """Reading number i, one second apart, in the payload contract's shape."""
    row = list(values) if values is not None else _NORMAL[i % len(_NORMAL)].tolist()
    ts = (T0 + timedelta(seconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"ts": ts, "values": dict(zip(CHANNELS, row, strict=True))}


class Publisher:
    """A plain paho client publishing QoS 1 and waiting for every acknowledgement."""

    def __init__(self, broker: tuple[str, int]) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.max_inflight_messages_set(200)
        self.client.connect(*broker)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str | dict[str, Any] | list[Any]) -> None:
        if isinstance(payload, dict | list):
            payload = json.dumps(payload)
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def publish_many(self, topic: str, payloads: Iterable[dict[str, Any]]) -> None:
        infos = [self.client.publish(topic, json.dumps(p), qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Listener:
    """Collects the messages of one topic filter (alerts, status) for assertions."""

    def __init__(self, broker: tuple[str, int], topic: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"listen-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, bool(m.retain)))
        self.client.connect(*broker)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        time.sleep(0.2)

    def payloads(self) -> list[bytes]:
        return [payload for _, payload, _ in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def running(settings: Settings) -> Iterator[Daemon]:
    """A daemon in this process for the duration of the block, always stopped afterwards."""
    daemon = Daemon(settings)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def query(url: str, sql: str) -> list[Any]:
    """Rows of a plain SQL query against the test database (what an operator would run)."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql)))
    finally:
        engine.dispose()


def count(url: str, table: str, where: str = "1=1") -> int:
    return int(query(url, f"SELECT count(*) FROM {table} WHERE {where}")[0][0])
