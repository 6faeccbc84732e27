"""Scheduled jobs: heartbeat, threshold recalibration, and hot reload of a newly activated model."""

from __future__ import annotations

from pathlib import Path

from daemon_helpers import (
    Publisher,
    count,
    daemon_settings,
    install_model,
    query,
    reading,
    running,
    tiny_model,
    wait_for,
)

from monitor import registry
from monitor.store.db import create_engine_for


def test_heartbeat_row_names_the_instance(
    tmp_path: Path, sqlite_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """The first heartbeat is written at start-up with the daemon's counters."""
    settings = daemon_settings(tmp_path, sqlite_url, mqtt_broker, topic_prefix, mqtt={"receiver": "thread"})
    install_model(settings, ["pump1"], tiny_model())
    with running(settings):
        assert wait_for(lambda: count(sqlite_url, "heartbeats") == 1)
    [(instance, stats)] = query(sqlite_url, "SELECT instance, stats FROM heartbeats")
    assert instance == settings.instance and "received" in stats


def test_recalibration_stores_a_new_threshold(
    tmp_path: Path, sqlite_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """With enough normal scores, the recalibration job adds a row to the thresholds history."""
    settings = daemon_settings(
        tmp_path,
        sqlite_url,
        mqtt_broker,
        topic_prefix,
        mqtt={"receiver": "thread"},
        thresholds={"recalibrate_every_s": 1, "method": "quantile"},
    )
    install_model(settings, ["pump1"], tiny_model())
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings):
            assert wait_for(lambda: count(sqlite_url, "thresholds") == 1)  # the model's initial threshold
            publisher.publish_many(f"{topic_prefix}/site1/pump1/sensors", [reading(i) for i in range(40)])
            assert wait_for(lambda: count(sqlite_url, "thresholds") >= 2, timeout=10)
    finally:
        publisher.close()
    methods = {row[0] for row in query(sqlite_url, "SELECT method FROM thresholds")}
    assert methods == {"quantile"}


def test_activating_another_version_swaps_the_model_without_losing_readings(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """`monitor models activate` (registry.activate) while running: later readings use the new version."""
    settings = daemon_settings(
        tmp_path,
        database_url,
        mqtt_broker,
        topic_prefix,
        mqtt={"receiver": "thread"},
        scheduler={"registry_poll_s": 0.5},
    )
    first, second = tiny_model(epochs=1), tiny_model(epochs=3)
    assert first.version != second.version
    install_model(settings, ["pump1"], first)
    directory = settings.models.store / "pump1" / second.version
    second.save(directory)
    engine = create_engine_for(database_url)
    registry.register(engine, "pump1", "sensor", directory, second.card, activate=False)
    topic = f"{topic_prefix}/site1/pump1/sensors"
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings) as daemon:
            assert daemon.worker is not None
            publisher.publish_many(topic, [reading(i) for i in range(30)])
            assert wait_for(lambda: count(database_url, "scores") == 30 - 7)
            registry.activate(engine, "pump1", second.version)
            assert wait_for(lambda: daemon.worker.model_versions() == {"pump1": second.version}, timeout=10)
            publisher.publish_many(topic, [reading(i) for i in range(30, 60)])
            assert wait_for(lambda: count(database_url, "scores") == 60 - 7)
    finally:
        publisher.close()
        engine.dispose()
    versions = query(database_url, "SELECT model_version, count(*) FROM scores GROUP BY model_version")
    assert dict(versions) == {first.version: 23, second.version: 30}
