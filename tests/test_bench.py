"""Private brokers and the sensor benchmark: both consumers measured, nothing lost."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as paho
import pytest
from conftest import POSTGRES_URL, require
from paho.mqtt.enums import CallbackAPIVersion

from monitor.bench import sensor
from monitor.bench.brokers import EmbeddedBroker, MosquittoBroker, reachable


def _round_trip(port: int, protocol: int) -> bytes | None:
    """Publish one QoS 1 message to ourselves; return what came back."""
    got: list[bytes] = []
    arrived = threading.Event()
    subscribed = threading.Event()
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"rt-{uuid.uuid4().hex[:6]}", protocol=protocol
    )
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda c, u, m: (got.append(m.payload), arrived.set())
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.subscribe("rt/#", qos=1)
        assert subscribed.wait(5)
        client.publish("rt/x", b"hello", qos=1)
        arrived.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None


def test_private_mosquitto_serves_on_a_free_port_and_stops() -> None:
    """The benchmark broker listens on its own port with the benchmark config, and is gone after."""
    require(MosquittoBroker.available(), "mosquitto is not installed")
    with MosquittoBroker() as broker:
        assert broker.port != 1883
        assert _round_trip(broker.port, paho.MQTTv5) == b"hello"
    assert not reachable("127.0.0.1", broker.port)


def test_embedded_broker_delivers_qos1_over_mqtt_311() -> None:
    """The amqtt fallback broker (no mosquitto installed) carries MQTT 3.1.1 QoS 1 messages."""
    with EmbeddedBroker() as broker:
        assert _round_trip(broker.port, paho.MQTTv311) == b"hello"


def test_bench_refuses_runs_that_never_fill_a_window() -> None:
    """Too few messages per asset would measure no scoring at all."""
    with pytest.raises(ValueError, match="never fill a window of 32"):
        sensor.BenchConfig(messages=1000, assets=100)
    with pytest.raises(ValueError, match="channels must be 1..8"):
        sensor.BenchConfig(channels=9)


@pytest.mark.slow
def test_tiny_bench_measures_both_consumers_and_loses_nothing(tmp_path: object) -> None:
    """2,000 messages through the bare subscriber and the daemon on PostgreSQL: both rows, none lost."""
    require(MosquittoBroker.available(), "mosquitto is not installed")
    require(reachable("127.0.0.1", 5432), "no PostgreSQL on 127.0.0.1:5432")
    config = sensor.BenchConfig(
        messages=2000, assets=10, db_url=POSTGRES_URL, paced_rate=100, paced_seconds=2, stall_timeout_s=30
    )
    report = sensor.run_sensor_bench(config, say=lambda _: None)
    table = report.table()
    assert "bare paho subscriber" in table and "daemon (scored + stored)" in table
    assert report.bare.messages == 2000 and report.bare.lost == 0 and report.bare.duplicates == 0
    assert report.daemon.expected == 10 * (200 - 31)
    assert report.daemon.stored == report.daemon.expected
    assert report.daemon.lost == 0
    assert report.daemon.p99_ms is not None and report.daemon.peak_rss_mb is not None
    markdown = report.markdown()
    assert "cores (nproc)" in markdown and "monitor bench sensor" in markdown
