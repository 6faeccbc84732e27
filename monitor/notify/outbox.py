"""The notifier: delivers pending `outbox` rows, then marks them delivered (or retried, or failed).

Every alert change stores its outbox rows in the same transaction (monitor/notify/enqueue.py), so an
alert that is in the database is always announced, even across a crash: a restart simply finds the
pending rows. Delivery is at least once (a crash between sending and the `delivered` update sends
again; payloads carry the alert's id and state, so receivers can de-duplicate). Channels are a
dispatch table (mqtt, webhook, email), each drained by its own thread so that a slow mail server
never holds up the alerts topic. A failed attempt is retried with exponential backoff
(`notify.retry_min_s` doubling up to `retry_max_s`); after `notify.max_attempts` the row is
`failed` and stays visible, with its last error, in the dashboard.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.comms.mqtt import MqttConnection
from monitor.settings import NotifySettings
from monitor.store.tables import Outbox

log = logging.getLogger(__name__)

Sender = Callable[[str, str], None]  # (target, payload); raises on failure


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
    """Threads (one per channel) that drain the outbox; `wake()` after a commit makes delivery immediate."""

    def __init__(
        self,
        engine: Engine,
        senders: dict[str, Sender],
        poll_s: float = 1.0,
        batch: int = 200,
        *,
        retry_min_s: float = 1.0,
        retry_max_s: float = 300.0,
        max_attempts: int = 20,
    ) -> None:
        self.engine = engine
        self.senders = senders
        self.poll_s = poll_s
        self.batch = batch
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.max_attempts = max_attempts
        self.delivered = 0
        self.failed = 0  # failed attempts (a row may be retried several times)
        self._count_lock = threading.Lock()
        self._wake = {channel: threading.Event() for channel in senders}
        self._stop = threading.Event()
        self.threads: dict[str, threading.Thread] = {}

    @classmethod
    def from_settings(
        cls, engine: Engine, notify: NotifySettings, senders: dict[str, Sender]
    ) -> OutboxNotifier:
        return cls(
            engine,
            senders,
            retry_min_s=notify.retry_min_s,
            retry_max_s=notify.retry_max_s,
            max_attempts=notify.max_attempts,
        )

    def start(self) -> None:
        """Start the thread of every channel that has none running (also the watchdog's restart)."""
        self._stop.clear()
        for channel in self.senders:
            thread = self.threads.get(channel)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self._run, args=(channel,), name=f"outbox-{channel}", daemon=True
                )
                self.threads[channel] = thread
                thread.start()

    def alive(self) -> bool:
        return bool(self.threads) and all(thread.is_alive() for thread in self.threads.values())

    def wake(self) -> None:
        for event in self._wake.values():
            event.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is due now, then end the threads (all of them within `timeout`)."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for thread in self.threads.values():
            thread.join(max(deadline - time.monotonic(), 0.0))

    def _run(self, channel: str) -> None:
        wake = self._wake[channel]
        while True:
            try:
                while self.deliver_due((channel,)) == self.batch:
                    pass
            except sa.exc.SQLAlchemyError as exc:
                log.warning(
                    "outbox: database error, retrying",
                    extra={"channel": channel, "error": str(exc).splitlines()[0]},
                )
            if self._stop.is_set():
                return
            wake.wait(self.poll_s)
            wake.clear()

    def deliver_due(self, channels: Collection[str] | None = None) -> int:
        """Try every due row of the given (default: all known) channels, oldest first; returns rows tried."""
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(Outbox.id, Outbox.channel, Outbox.target, Outbox.payload, Outbox.attempts)
                .where(
                    Outbox.state == "pending",
                    Outbox.next_attempt_at <= now,
                    Outbox.channel.in_(list(self.senders if channels is None else channels)),
                )
                .order_by(Outbox.id)
                .limit(self.batch)
            ).all()
        for row in rows:
            self._deliver(row.id, row.channel, row.target, row.payload, row.attempts)
        return len(rows)

    def retry_delay_s(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: doubling from retry_min_s, capped."""
        return min(self.retry_min_s * 2 ** min(attempts - 1, 64), self.retry_max_s)

    def _deliver(self, row_id: int, channel: str, target: str, payload: str, attempts: int) -> None:
        attempts += 1
        try:
            self.senders[channel](target, payload)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            values: dict[str, object] = {"attempts": attempts, "last_error": error}
            extra = {"outbox_id": row_id, "channel": channel, "target": target, "attempts": attempts}
            if attempts >= self.max_attempts:
                values["state"] = "failed"
                log.error("outbox: delivery failed for good", extra=extra | {"error": error})
            else:
                delay = self.retry_delay_s(attempts)
                values["next_attempt_at"] = datetime.now(UTC) + timedelta(seconds=delay)
                log.warning("outbox: delivery failed", extra=extra | {"error": error, "retry_s": delay})
            with self._count_lock:
                self.failed += 1
        else:
            values = {"attempts": attempts, "state": "delivered", "delivered_at": datetime.now(UTC)}
            with self._count_lock:
                self.delivered += 1
        with self.engine.begin() as conn:
            conn.execute(sa.update(Outbox).where(Outbox.id == row_id).values(**values))


def send_again(engine: Engine, alert_id: str, now: datetime | None = None) -> int:
    """Put an alert's `failed` notifications back in the queue (once the cause is fixed); returns how
    many. A running notifier picks them up at its next poll, with a fresh attempt count."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(Outbox)
            .where(Outbox.alert_id == alert_id, Outbox.state == "failed")
            .values(state="pending", attempts=0, next_attempt_at=now or datetime.now(UTC))
        )
    return int(result.rowcount)
