"""The daemon end to end against the real broker and both databases."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path
from typing import Any

import pytest
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
from notify_helpers import HookServer

from monitor.alert_actions import resolve


def test_readings_are_scored_and_an_anomaly_opens_an_alert_published_on_mqtt_and_routed(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """Published readings become score rows; a fault becomes an alert row, an MQTT alert message and
    a POST to the webhook its route names."""
    hook = HookServer([200])
    notify = {"webhooks": {"ops": {"url": hook.url}}, "routes": [{"name": "all", "webhooks": ["ops"]}]}
    settings = daemon_settings(
        tmp_path, database_url, mqtt_broker, topic_prefix, alerts={"k": 2, "n": 3}, notify=notify
    )
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
            assert wait_for(lambda: len(hook.requests) >= 1)
    finally:
        alerts.close()
        publisher.close()
        hook.close()
    message = json.loads(alerts.messages[0][1])
    assert alerts.messages[0][0] == f"{topic_prefix}/site1/pump1/alerts"
    assert message["state"] == "open" and message["asset"] == "pump1"
    assert {c["name"] for c in message["top_channels"]} <= set(CHANNELS)
    posted = json.loads(hook.requests[0][2])
    assert posted["asset"] == "pump1" and posted["state"] == "open"
    delivered = query(database_url, "SELECT channel, state FROM outbox ORDER BY id")
    assert set(delivered[:2]) == {("mqtt", "delivered"), ("webhook", "delivered")}


def test_an_alert_an_operator_resolves_while_the_fault_persists_is_followed_by_a_new_one(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """Resolving in the dashboard does not silence the asset: readings still far over the threshold
    open a new alert, and the resolved one keeps its operator."""
    settings = daemon_settings(
        tmp_path,
        database_url,
        mqtt_broker,
        topic_prefix,
        alerts={"k": 2, "n": 3},
        scheduler={"registry_poll_s": 0.5},
    )
    install_model(settings, ["pump1"], tiny_model())
    publisher = Publisher(mqtt_broker)

    def fault(i: int) -> dict[str, Any]:
        """A reading of a machine shaking itself apart: far off and changing, so every window is off."""
        sign = 1.0 if i % 2 else -1.0
        return reading(i, [50.0 * sign, -50.0 * sign, 80.0 * sign])

    try:
        with running(settings) as daemon:
            topic = f"{topic_prefix}/site1/pump1/sensors"
            publisher.publish_many(topic, [reading(i) for i in range(40)])
            publisher.publish_many(topic, [fault(i) for i in range(40, 50)])
            assert wait_for(lambda: count(database_url, "alerts", "state = 'open'") == 1)
            first = query(database_url, "SELECT id FROM alerts")[0][0]
            resolve(daemon.engine, settings, first, "olga", "replaced the seal")
            assert wait_for(lambda: first not in daemon.worker.open_alert_ids())
            publisher.publish_many(topic, [fault(i) for i in range(50, 60)])
            assert wait_for(lambda: count(database_url, "alerts", "state = 'open'") == 1)
    finally:
        publisher.close()
    rows = query(database_url, "SELECT id, state, resolved_by FROM alerts ORDER BY opened_at")
    assert [(row.state, row.resolved_by) for row in rows] == [("resolved", "olga"), ("open", None)]
    assert rows[0].id == first


def test_every_bad_input_becomes_a_dead_letter_and_later_readings_are_still_scored(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """Malformed, mistyped, non-finite, incomplete, unknown, oversized, binary and mistimed inputs are dead-lettered."""
    settings = daemon_settings(
        tmp_path,
        database_url,
        mqtt_broker,
        topic_prefix,
        mqtt={"receiver": "thread", "strict_assets": True, "assets": ["pump1"], "max_payload_bytes": 512},
    )
    install_model(settings, ["pump1"], tiny_model())
    topic = f"{topic_prefix}/site1/pump1/sensors"
    bad = [
        (topic, b"{not json", "invalid_json"),
        (topic, b'{"values": {"p1": "high", "p2": 1, "t1": 1}}', "wrong_type"),
        (topic, b'{"values": {"p1": NaN, "p2": 1, "t1": 1}}', "non_finite"),
        (topic, b'{"values": {"p1": 1, "p2": 1}}', "missing_channels"),
        (f"{topic_prefix}/site1/pump9/sensors", json.dumps(reading(0)).encode(), "unknown_asset"),
        (topic, b'{"values": {"p1": 1, "p2": 1, "t1": 1}, "pad": "' + b"x" * 600 + b'"}', "oversized"),
        (topic, bytes(range(256)), "not_utf8"),
        (f"{topic_prefix}/site1/{'a' * 70}/sensors", json.dumps(reading(0)).encode(), "bad_asset_name"),
        (topic, json.dumps({**reading(0), "ts": "1970-01-01T00:00:05Z"}).encode(), "ts_too_old"),
        (
            topic,
            json.dumps([reading(0), {**reading(1), "ts": "2099-01-01T00:00:00Z"}]).encode(),
            "ts_in_future",
        ),
        (topic, b'{"values": {"p1": 1, "p2": 3.4028235e38, "t1": 1}}', "out_of_range"),  # a PLC's fault code
    ]
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings) as daemon:
            publisher.publish_many(topic, [reading(i) for i in range(10)])
            for bad_topic, payload, _ in bad:
                publisher.publish(bad_topic, payload)
            publisher.publish_many(topic, [reading(i) for i in range(10, 20)])
            assert wait_for(lambda: count(database_url, "dead_letters") == len(bad))
            assert wait_for(lambda: count(database_url, "scores") == 20 - 7)
            assert daemon.worker is not None and daemon.worker.alive()
            assert daemon.metrics_port is not None
            with urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics") as response:
                exposition = response.read().decode()
    finally:
        publisher.close()
    rows = query(
        database_url, "SELECT reason, topic, payload_size, payload_head FROM dead_letters ORDER BY id"
    )
    assert [row[0].split(":")[0] for row in rows] == [reason for _, _, reason in bad]
    assert rows[5][2] > 512 and len(rows[5][3]) == 256
    assert rows[3][0] == "missing_channels: t1"
    assert rows[9][0].startswith("ts_in_future: 2099-01-01T00:00:00.000+00:00 is ")
    assert rows[10][0] == "out_of_range: p2=3.40282e+38 (sensors.max_abs_value 1e+12)"
    assert 'monitor_messages_invalid_total{reason="non_finite"} 1.0' in exposition
    assert "monitor_readings_scored_total 13.0" in exposition


def test_readings_published_while_stopped_are_all_scored_once_after_restart(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """The persistent QoS 1 session keeps 1,000 readings for a stopped daemon; restart scores each once.

    Mosquitto queues at most 1,000 messages per offline client by default, so the 1,000 readings
    travel as 500 single messages plus 5 batches of 100.
    """
    settings = daemon_settings(tmp_path, database_url, mqtt_broker, topic_prefix)
    install_model(settings, ["pump1"], tiny_model())
    topic = f"{topic_prefix}/site1/pump1/sensors"
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings):
            publisher.publish_many(topic, [reading(i) for i in range(10)])
            assert wait_for(lambda: count(database_url, "scores") == 10 - 7)
        publisher.publish_many(topic, [reading(i) for i in range(10, 510)])
        for start in range(510, 1010, 100):
            publisher.publish(topic, [reading(i) for i in range(start, start + 100)])
        with running(settings) as daemon:
            assert wait_for(lambda: count(database_url, "scores") == 3 + 1000, timeout=30)
            scored = daemon.metrics.registry.get_sample_value
            assert wait_for(lambda: scored("monitor_readings_scored_total") == 1000)
    finally:
        publisher.close()
    assert count(database_url, "dead_letters") == 0


def test_watchdog_restarts_a_dead_worker_and_scoring_continues(
    tmp_path: Path, sqlite_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """A worker thread killed by a bug is restarted within seconds, counted and later readings scored."""
    settings = daemon_settings(tmp_path, sqlite_url, mqtt_broker, topic_prefix, mqtt={"receiver": "thread"})
    install_model(settings, ["pump1"], tiny_model())
    topic = f"{topic_prefix}/site1/pump1/sensors"
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings) as daemon:
            worker = daemon.worker
            assert worker is not None
            real_process = worker.process

            def crash_once(messages: list[tuple[str, bytes, float]]) -> None:
                worker.process = real_process  # type: ignore[method-assign]
                raise RuntimeError("a bug in the worker")

            worker.process = crash_once  # type: ignore[method-assign]
            publisher.publish(topic, reading(0))
            assert wait_for(lambda: worker.process == real_process and worker.alive(), timeout=10)
            publisher.publish_many(topic, [reading(i) for i in range(1, 21)])
            assert wait_for(lambda: count(sqlite_url, "scores") == 20 - 7)
            restarts = daemon.metrics.registry.get_sample_value("monitor_worker_restarts_total")
    finally:
        publisher.close()
    assert restarts == 1


def test_a_model_folder_overwritten_after_registration_is_not_served(
    tmp_path: Path,
    database_url: str,
    mqtt_broker: tuple[str, int],
    topic_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Retraining into a registered folder changes its weights: the daemon does not score with them
    under the old version's name, and its log says why; other assets score as usual."""
    settings = daemon_settings(tmp_path, database_url, mqtt_broker, topic_prefix)
    registered, retrained = tiny_model(), tiny_model(epochs=3)
    install_model(settings, ["pump1"], registered)
    install_model(settings, ["pump2"], registered)
    retrained.save(settings.models.store / "pump1" / registered.version)
    publisher = Publisher(mqtt_broker)
    try:
        with caplog.at_level(logging.ERROR, logger="monitor.daemon"), running(settings):
            for asset in ("pump1", "pump2"):
                publisher.publish_many(f"{topic_prefix}/s1/{asset}/sensors", [reading(i) for i in range(20)])
            assert wait_for(lambda: count(database_url, "scores", "asset = 'pump2'") == 20 - 7)
    finally:
        publisher.close()
    assert count(database_url, "scores", "asset = 'pump1'") == 0
    assert any(
        f"now holds version {retrained.version}, not {registered.version}" in getattr(r, "error", "")
        for r in caplog.records
    )


def test_a_model_that_could_not_be_loaded_is_tried_again_at_the_next_poll(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """A model folder missing at start-up (a share not mounted yet) is loaded once it appears."""
    # The test polls by hand: the scheduler's own poll must not race it.
    settings = daemon_settings(
        tmp_path, database_url, mqtt_broker, topic_prefix, scheduler={"registry_poll_s": 3600}
    )
    model = tiny_model()
    install_model(settings, ["pump1"], model)
    folder = settings.models.store / "pump1" / model.version
    hidden = folder.rename(tmp_path / "elsewhere")
    with running(settings) as daemon:
        assert daemon.reload_models() == 0  # registry unchanged, folder still missing
        hidden.rename(folder)
        assert daemon.reload_models() == 1
        assert daemon.reload_models() == 0  # nothing left to retry
