"""The MQTT connection: subscriptions survive reconnects, status topic and last will, v5 fallback."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from daemon_helpers import Listener, Publisher, wait_for

from monitor.bench.brokers import EmbeddedBroker
from monitor.comms.mqtt import MqttConnection
from monitor.settings import MqttSettings


class DroppableProxy:
    """A TCP forwarder to the broker whose live connections can be cut, like a flaky network."""

    def __init__(self, target: tuple[str, int], first_answer_delays: list[float] | None = None) -> None:
        """`first_answer_delays`: for the first connections, one each, how long the broker's first
        answer (the CONNACK) is held back, like a loaded broker's."""
        self.target = target
        self.first_answer_delays = list(first_answer_delays or [])
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            delay = self.first_answer_delays.pop(0) if self.first_answer_delays else 0.0
            for a, b, wait in ((client, upstream, 0.0), (upstream, client, delay)):
                threading.Thread(target=self._pipe, args=(a, b, wait), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, first_delay: float) -> None:
        try:
            while data := source.recv(65536):
                time.sleep(first_delay)
                first_delay = 0.0
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def drop(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.sockets.clear()

    def close(self) -> None:
        self.drop()
        self.server.close()


@pytest.fixture
def proxy(mqtt_broker: tuple[str, int]) -> Iterator[DroppableProxy]:
    p = DroppableProxy(mqtt_broker)
    yield p
    p.close()


def settings_for(port: int, protocol: str = "5") -> MqttSettings:
    return MqttSettings(
        url=f"mqtt://127.0.0.1:{port}", protocol=protocol, reconnect_min_s=0.1, reconnect_max_s=0.5
    )


def test_reconnect_restores_subscriptions_and_status(
    proxy: DroppableProxy, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """After the network drops, paho reconnects, subscribes again and the last will reads `offline` meanwhile."""
    received: list[bytes] = []
    status = f"{topic_prefix}/monitor/m1/status"
    watcher = Listener(mqtt_broker, status)
    connection = MqttConnection(
        settings_for(proxy.port),
        client_id=f"c-{uuid.uuid4().hex[:8]}",
        subscriptions=[f"{topic_prefix}/+/+/sensors"],
        on_message=lambda topic, payload, at: received.append(payload),
        status_topic=status,
    )
    publisher = Publisher(mqtt_broker)
    connection.start()
    try:
        assert connection.wait_connected(5)
        publisher.publish(f"{topic_prefix}/s/a/sensors", b"before")
        assert wait_for(lambda: received == [b"before"], timeout=5)
        proxy.drop()
        assert wait_for(lambda: b"offline" in watcher.payloads(), timeout=10)
        assert wait_for(lambda: connection.connect_count == 2 and connection.wait_connected(0), timeout=10)
        publisher.publish(f"{topic_prefix}/s/a/sensors", b"after")
        assert wait_for(lambda: received[-1:] == [b"after"], timeout=5)
    finally:
        connection.close("stopped")
        publisher.close()
    assert wait_for(lambda: watcher.payloads()[-1:] == [b"stopped"], timeout=5)
    assert watcher.payloads()[:3] == [b"online", b"offline", b"online"]
    watcher.close()


def test_a_broker_slow_to_answer_keeps_mqtt_v5(mqtt_broker: tuple[str, int], topic_prefix: str) -> None:
    """A CONNACK 3.5 s late (a loaded broker, one replaying its persistence) is waited for: the
    connection stays v5 (frame properties, session expiry), also across a reconnect answered late."""
    proxy = DroppableProxy(mqtt_broker, first_answer_delays=[3.5])
    connection = MqttConnection(
        settings_for(proxy.port, protocol="5"),
        client_id=f"c-{uuid.uuid4().hex[:8]}",
        subscriptions=[f"{topic_prefix}/+/+/sensors"],
    )
    connection.start()
    try:
        assert connection.wait_connected(10)
        assert connection.protocol == 5
        proxy.first_answer_delays = [8.0]  # longer than the first-contact timeout: v5 was answered once
        proxy.drop()
        assert wait_for(lambda: connection.connect_count == 2, timeout=20)
        assert connection.protocol == 5
    finally:
        connection.close()
        proxy.close()


def test_v5_refused_falls_back_to_3_1_1(topic_prefix: str) -> None:
    """A broker without MQTT v5 (amqtt 0.12) gets the same connection over 3.1.1."""
    with EmbeddedBroker() as broker:
        received: list[bytes] = []
        connection = MqttConnection(
            settings_for(broker.port, protocol="5"),
            client_id=f"c-{uuid.uuid4().hex[:8]}",
            subscriptions=[f"{topic_prefix}/+/+/sensors"],
            on_message=lambda topic, payload, at: received.append(payload),
        )
        connection.start()
        try:
            assert connection.wait_connected(10)
            publisher = Publisher(("127.0.0.1", broker.port))
            publisher.publish(f"{topic_prefix}/s/a/sensors", b"hello")
            publisher.close()
            assert wait_for(lambda: received == [b"hello"], timeout=5)
            assert connection.protocol == 4  # MQTT 3.1.1
        finally:
            connection.close()
