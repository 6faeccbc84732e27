"""The MQTT connection: paho-mqtt 2.x, persistent QoS 1 session, status topic with last will.

Camera frames (topics ending in `/frames`) go to a separate sink together with their MQTT v5 user
properties (`ts`, `frame_id`); sensor messages keep the cheap three-field path.

Subscriptions are made inside `on_connect`, so every reconnect (paho's own, with exponential
backoff) restores them; a broker restart never leaves us deaf. MQTT v5 by default; a broker that
refuses v5 (amqtt 0.12 does) gets the same session over 3.1.1 on the next attempt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from monitor.ingest.topics import FRAMES_SUFFIX
from monitor.settings import MqttSettings

log = logging.getLogger(__name__)

# topic, payload, receive time (epoch seconds): all the receive callback keeps of a message.
RawMessage = tuple[str, bytes, float]
MessageSink = Callable[[str, bytes, float], None]
# topic, payload, receive time, v5 user properties (empty over 3.1.1): a camera frame message.
FrameMessage = tuple[str, bytes, float, dict[str, str]]
FrameSink = Callable[[str, bytes, float, dict[str, str]], None]

# A v5 CONNECT unanswered this long, by a broker that has never answered one: it probably speaks
# only 3.1.1. Once a v5 CONNACK came, a slow answer is a loaded broker, never a reason to fall back.
CONNACK_TIMEOUT_S = 5.0
# CONNACK codes meaning "I do not speak this protocol version" (v5 code 132, 3.1.1 code 1).
_UNSUPPORTED_PROTOCOL = {132, 1}


class MqttConnection:
    """One paho client with our session, status and subscription rules; thread-safe publishing."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        subscriptions: Sequence[str] = (),
        on_message: MessageSink | None = None,
        status_topic: str | None = None,
        persistent: bool = True,
        on_frame: FrameSink | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.status_topic = status_topic
        self.persistent = persistent
        self.protocol = paho.MQTTv5 if settings.protocol == "5" else paho.MQTTv311
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.connect_count = 0
        self._sink = on_message
        self._frame_sink = on_frame
        self._got_connack = False
        self._v5_answered = False  # a v5 CONNACK came once: this broker speaks v5
        self._closing = False
        self._paused = False
        self._lock = threading.Lock()
        self._client = self._build_client()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting with backoff until `close`."""
        self._connect(self._client)

    def wait_connected(self, timeout: float) -> bool:
        """Block until subscribed (or just connected when there is nothing to subscribe)."""
        return (self.subscribed if self.subscriptions else self.connected).wait(timeout)

    def pause_consuming(self) -> None:
        """Stop reading from the broker (before a drain) without ending the session.

        Stopping paho's loop thread leaves the socket open and unread: messages the broker sent but
        we never acknowledged are redelivered to the persistent session on the next start, and
        everything already handed to the sink is drained by the caller. Nothing is lost or doubled.
        """
        self._client.loop_stop()
        self._paused = True

    def close(self, final_status: str = "stopped", timeout: float = 5.0) -> None:
        """Publish the final retained status, disconnect cleanly (no last will), stop the loop."""
        self._closing = True
        client = self._client
        if self.status_topic and self.connected.is_set():
            info = client.publish(self.status_topic, final_status, qos=1, retain=True)
            if not self._paused:  # with the loop stopped nobody reads the PUBACK; order is enough
                _wait_published(info, timeout)
        client.disconnect()
        client.loop_stop()
        self.connected.clear()

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        """Queue a message; paho resends QoS 1 messages after a reconnect until acknowledged."""
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    # -- paho plumbing ---------------------------------------------------------------------------
    def _build_client(self) -> paho.Client:
        v5 = self.protocol == paho.MQTTv5
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=self.protocol,
            clean_session=None if v5 else not self.persistent,
        )
        settings = self.settings
        client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)  # type: ignore[arg-type]
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(100)
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        if settings.tls:
            client.tls_set(ca_certs=str(settings.ca_certs) if settings.ca_certs else None)
        if self.status_topic:
            client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_socket_open = self._on_socket_open
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _connect(self, client: paho.Client) -> None:
        settings = self.settings
        if self.protocol == paho.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = settings.session_expiry_s if self.persistent else 0
            client.connect_async(
                settings.host,
                settings.port,
                settings.keepalive_s,
                clean_start=not self.persistent,
                properties=properties,
            )
        else:
            client.connect_async(settings.host, settings.port, settings.keepalive_s)
        client.loop_start()

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        """Some v3-only brokers (amqtt 0.12) neither answer a v5 CONNECT nor close: time it out."""
        if self.protocol != paho.MQTTv5:
            return
        self._got_connack = False
        timer = threading.Timer(CONNACK_TIMEOUT_S, self._check_connack, args=(client,))
        timer.daemon = True
        timer.start()

    def _check_connack(self, client: paho.Client) -> None:
        if client is self._client and not self._got_connack and not self._v5_answered and not self._closing:
            self._fall_back_to_311()

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self._got_connack = True
        self._v5_answered = self._v5_answered or self.protocol == paho.MQTTv5
        if reason.is_failure:
            if reason.value in _UNSUPPORTED_PROTOCOL and self.protocol == paho.MQTTv5:
                self._fall_back_to_311()
            else:
                log.warning(
                    "mqtt connect refused", extra={"reason": str(reason), "client_id": self.client_id}
                )
            return
        self.connect_count += 1
        log.info(
            "mqtt connected",
            extra={"client_id": self.client_id, "session_present": bool(flags.session_present)},
        )
        if self.subscriptions:
            if self.protocol == paho.MQTTv5:
                client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in self.subscriptions])
            else:
                client.subscribe([(topic, 1) for topic in self.subscriptions])
        if self.status_topic:
            client.publish(self.status_topic, "online", qos=1, retain=True)
        self.connected.set()

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        if any(code.is_failure for code in reasons):
            log.error("mqtt subscription refused", extra={"topics": self.subscriptions})
            return
        self.subscribed.set()

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if self._closing:
            return
        if not self._got_connack and not self._v5_answered and self.protocol == paho.MQTTv5:
            # Some v3-only brokers drop a v5 CONNECT without answering it.
            self._fall_back_to_311()
            return
        log.warning(
            "mqtt disconnected; reconnecting", extra={"reason": str(reason), "client_id": self.client_id}
        )

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        topic = message.topic
        frames = self._frame_sink
        if frames is not None and topic.endswith(FRAMES_SUFFIX):
            frames(topic, bytes(message.payload), time.time(), user_properties(message))
            return
        sink = self._sink
        if sink is not None:
            sink(topic, bytes(message.payload), time.time())

    def _fall_back_to_311(self) -> None:
        """Rebuild the client for MQTT 3.1.1; done from a helper thread, never inside paho's loop."""
        with self._lock:
            if self.protocol != paho.MQTTv5:
                return
            self.protocol = paho.MQTTv311
        log.warning("broker refused MQTT v5; falling back to 3.1.1", extra={"client_id": self.client_id})
        old = self._client

        def swap() -> None:
            old.disconnect()
            old.loop_stop()
            self._got_connack = False
            self._client = self._build_client()
            self._connect(self._client)

        threading.Thread(target=swap, name="mqtt-fallback", daemon=True).start()


def user_properties(message: paho.MQTTMessage) -> dict[str, str]:
    """A v5 message's user properties as a dict (the last value of a repeated key wins)."""
    properties = getattr(message, "properties", None)
    pairs = getattr(properties, "UserProperty", None) if properties is not None else None
    return {str(key): str(value) for key, value in pairs} if pairs else {}


def _wait_published(info: paho.MQTTMessageInfo, timeout: float) -> None:
    """Wait for a QoS 1 acknowledgement, without raising when the connection is already gone."""
    if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        return
    deadline = time.monotonic() + timeout
    while not info.is_published() and time.monotonic() < deadline:
        time.sleep(0.01)
