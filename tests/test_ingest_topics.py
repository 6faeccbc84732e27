"""The topic grammar: `<prefix>/<site>/<asset>/sensors` in, alerts and status out."""

from __future__ import annotations

import pytest

from monitor.ingest.topics import (
    SensorTopic,
    TopicError,
    alerts_topic,
    parse_sensor_topic,
    sensor_subscription,
    status_topic,
)


def test_sensor_topic_gives_site_and_asset() -> None:
    """A well-formed sensor topic splits into site and asset."""
    assert parse_sensor_topic("plant", "plant/north/pump-1.a_b/sensors") == SensorTopic("north", "pump-1.a_b")


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("other/north/pump1/sensors", "bad_topic"),
        ("plant/north/pump1/frames", "bad_topic"),
        ("plant/north/pump1/x/sensors", "bad_topic"),
        ("plant/no rth/pump1/sensors", "bad_site_name"),
        ("plant/north/pump#1/sensors", "bad_asset_name"),
        ("plant/north/" + "a" * 65 + "/sensors", "bad_asset_name"),
    ],
)
def test_malformed_topics_are_refused(topic: str, reason: str) -> None:
    """Wrong prefix, kind, depth or names outside [A-Za-z0-9_.-]{1,64} raise TopicError."""
    with pytest.raises(TopicError, match=reason):
        parse_sensor_topic("plant", topic)


def test_outgoing_topics_follow_the_contract() -> None:
    """Subscription, alert and status topics are spelled as DESIGN.md fixes them."""
    assert sensor_subscription("plant") == "plant/+/+/sensors"
    assert alerts_topic("plant", "north", "pump1") == "plant/north/pump1/alerts"
    assert status_topic("plant", "monitor-1") == "plant/monitor/monitor-1/status"
