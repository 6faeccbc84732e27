"""The notifier: delivers pending `outbox` rows, then marks them delivered (or failed, retried later).

The writer stores each alert change and its outbox row in one transaction, so an alert that is in
the database is always announced, even across a crash: a restart simply finds the pending rows.
Delivery is at least once (a crash between publish and the `delivered` update republishes; alert
payloads carry their id and state, so receivers can de-duplicate). Channels are a dispatch table;
the MQTT alerts topic is the first, webhook and e-mail plug in beside it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.comms.mqtt import MqttConnection
from monitor.store.tables import Outbox

log = logging.getLogger(__name__)

Sender = Callable[[str, str], None]  # (target, payload); raises on failure
RETRY_MIN_S = 1.0
RETRY_MAX_S = 300.0


class DeliveryError(Exception):
    """A channel could not deliver a notification (the message is stored as `last_error`)."""


def mqtt_sender(connection: MqttConnection, timeout_s: float = 5.0) -> Sender:
    """Publish QoS 1 to the row's target topic and wait for the broker's acknowledgement."""

    def send(target: str, payload: str) -> None:
        # Publishing while disconnected would queue the message inside paho and, after a timeout
        # here, publish it a second time on the retry: wait for the connection instead.
        if not connection.connected.wait(timeout_s):
            raise DeliveryError(f"not connected to the broker within {timeout_s:g}s")
        info = connection.publish(target, payload, qos=1)
        if info.rc != 0:
            raise DeliveryError(f"publish refused (paho rc {info.rc})")
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise DeliveryError(f"no PUBACK within {timeout_s:g}s")

    return send


class OutboxNotifier:
    """A thread that drains the outbox; `wake()` after a commit makes delivery immediate."""

    def __init__(
        self, engine: Engine, senders: dict[str, Sender], poll_s: float = 1.0, batch: int = 200
    ) -> None:
        self.engine = engine
        self.senders = senders
        self.poll_s = poll_s
        self.batch = batch
        self.delivered = 0
        self.failed = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="outbox-notifier", daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is due now, then end the thread."""
        self._stop.set()
        self._wake.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                while self.deliver_due() == self.batch:
                    pass
            except sa.exc.SQLAlchemyError as exc:
                log.warning("outbox: database error, retrying", extra={"error": str(exc).splitlines()[0]})
            if self._stop.is_set():
                return
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def deliver_due(self) -> int:
        """Try every due row of a known channel, oldest first; returns how many rows were tried."""
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(Outbox.id, Outbox.channel, Outbox.target, Outbox.payload, Outbox.attempts)
                .where(
                    Outbox.state == "pending",
                    Outbox.next_attempt_at <= now,
                    Outbox.channel.in_(list(self.senders)),
                )
                .order_by(Outbox.id)
                .limit(self.batch)
            ).all()
        for row in rows:
            self._deliver(row.id, row.channel, row.target, row.payload, row.attempts)
        return len(rows)

    def _deliver(self, row_id: int, channel: str, target: str, payload: str, attempts: int) -> None:
        try:
            self.senders[channel](target, payload)
        except Exception as exc:
            delay = min(RETRY_MIN_S * 2**attempts, RETRY_MAX_S)
            values = {
                "attempts": attempts + 1,
                "last_error": f"{type(exc).__name__}: {exc}"[:500],
                "next_attempt_at": datetime.now(UTC) + timedelta(seconds=delay),
            }
            self.failed += 1
            log.warning(
                "outbox: delivery failed", extra={"outbox_id": row_id, "target": target, "retry_s": delay}
            )
        else:
            values = {"attempts": attempts + 1, "state": "delivered", "delivered_at": datetime.now(UTC)}
            self.delivered += 1
        with self.engine.begin() as conn:
            conn.execute(sa.update(Outbox).where(Outbox.id == row_id).values(**values))
