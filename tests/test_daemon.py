"""The daemon end to end against the real broker and both databases."""

from __future__ import annotations

import json
from pathlib import Path

from daemon_helpers import (
    CHANNELS,
    Listener,
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


def test_readings_are_scored_and_an_anomaly_opens_an_alert_published_on_mqtt(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """Published readings become score rows; a fault becomes an alert row and an MQTT alert message."""
    settings = daemon_settings(tmp_path, database_url, mqtt_broker, topic_prefix, alerts={"k": 2, "n": 3})
    install_model(settings, ["pump1"], tiny_model())
    alerts = Listener(mqtt_broker, f"{topic_prefix}/+/+/alerts")
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings):
            topic = f"{topic_prefix}/site1/pump1/sensors"
            publisher.publish_many(topic, [reading(i) for i in range(40)])
            assert wait_for(lambda: count(database_url, "scores") == 40 - 7)
            publisher.publish_many(topic, [reading(i, [50.0, -50.0, 80.0]) for i in range(40, 50)])
            assert wait_for(lambda: count(database_url, "alerts", "state = 'open'") == 1)
            assert wait_for(lambda: len(alerts.messages) >= 1)
    finally:
        alerts.close()
        publisher.close()
    message = json.loads(alerts.messages[0][1])
    assert alerts.messages[0][0] == f"{topic_prefix}/site1/pump1/alerts"
    assert message["state"] == "open" and message["asset"] == "pump1"
    assert {c["name"] for c in message["top_channels"]} <= set(CHANNELS)
    assert query(database_url, "SELECT state FROM outbox")[0][0] == "delivered"
