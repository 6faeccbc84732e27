"""The notifier: delivers pending `outbox` rows, then marks them delivered (or retried, or failed).

Every alert change stores its outbox rows in the same transaction (monitor/notify/enqueue.py), so an
alert that is in the database is always announced, even across a crash: a restart simply finds the
pending rows. Delivery is at least once (a crash between sending and the `delivered` update sends
again; payloads carry the alert's id and state, so receivers can de-duplicate). Channels are a
dispatch table (mqtt, webhook, email), each drained by its own thread so that a slow mail server
never holds up the alerts topic.

Each target (a topic, a webhook, an address) gets its rows in order, and a target that fails holds
back only its own rows: they wait behind its oldest pending row, which is retried with exponential
backoff (`notify.retry_min_s` doubling up to `retry_max_s`), one request per retry for the whole
queue, not one per row. A row still undelivered `notify.give_up_after_s` after it was queued is
`failed` and stays visible, with its last error, in the dashboard. On PostgreSQL, where several
daemons may share the outbox, one of them at a time drains each channel (a session advisory lock).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import aliased

from monitor.comms.mqtt import MqttConnection
from monitor.settings import NotifySettings
from monitor.store.tables import Outbox

log = logging.getLogger(__name__)

Sender = Callable[[str, str], None]  # (target, payload); raises on failure


class DeliveryError(Exception):
    """A channel could not deliver a notification (the message is stored as `last_error`);
    `permanent` when trying again cannot help (the receiver refused this request, an unknown
    target): the row fails at once instead of holding its target's later rows back."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


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
        give_up_after_s: float = 3 * 24 * 3600.0,
    ) -> None:
        self.engine = engine
        self.senders = senders
        self.poll_s = poll_s
        self.batch = batch
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.give_up_after = timedelta(seconds=give_up_after_s)
        self._leases: dict[str, Connection] = {}  # channel -> connection holding its advisory lock
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
            give_up_after_s=notify.give_up_after_s,
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
                if self._holds(channel):
                    while self.deliver_due((channel,)) == self.batch:
                        pass
            except sa.exc.SQLAlchemyError as exc:
                log.warning(
                    "outbox: database error, retrying",
                    extra={"channel": channel, "error": str(exc).splitlines()[0]},
                )
            if self._stop.is_set():
                self._release(channel)
                return
            wake.wait(self.poll_s)
            wake.clear()

    def _holds(self, channel: str) -> bool:
        """Whether this daemon drains `channel` now: always on SQLite (one daemon per file); on
        PostgreSQL while it holds the channel's advisory lock, on a connection of its own that
        the server frees (and so hands the channel on) when this process dies. The lock's key
        includes the schema, so deployments in other schemas do not wait for each other."""
        if self.engine.dialect.name != "postgresql":
            return True
        lease = self._leases.get(channel)
        try:
            if lease is not None:
                lease.exec_driver_sql("SELECT 1")  # still connected, so still holding it
                return True
            lease = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            key = sa.func.hashtextextended(
                sa.func.concat("plant-monitor outbox ", channel, " ", sa.func.current_schema()), 0
            )
            if lease.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar():
                self._leases[channel] = lease
                log.info("outbox: this daemon delivers the channel", extra={"channel": channel})
                return True
            lease.close()
            return False
        except sa.exc.SQLAlchemyError:
            self._leases.pop(channel, None)
            if lease is not None:
                lease.invalidate()
            raise

    def _release(self, channel: str) -> None:
        lease = self._leases.pop(channel, None)
        if lease is not None:
            lease.invalidate()  # ends the session (a pooled connection would keep its locks)
            lease.close()

    def deliver_due(self, channels: Collection[str] | None = None) -> int:
        """Try the due rows of the given (default: all known) channels, oldest first; returns rows
        taken. A row waits while an older row of its target waits for its retry, and after a
        failure the target's later rows wait for the next pass: each target hears in order."""
        now = datetime.now(UTC)
        older = aliased(Outbox)
        waiting_behind = sa.exists().where(
            older.state == "pending",
            older.next_attempt_at > now,
            older.channel == Outbox.channel,
            older.target == Outbox.target,
            older.id < Outbox.id,
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    Outbox.id,
                    Outbox.channel,
                    Outbox.target,
                    Outbox.payload,
                    Outbox.attempts,
                    Outbox.created_at,
                )
                .where(
                    Outbox.state == "pending",
                    Outbox.next_attempt_at <= now,
                    Outbox.channel.in_(list(self.senders if channels is None else channels)),
                    ~waiting_behind,
                )
                .order_by(Outbox.id)
                .limit(self.batch)
            ).all()
        failing: set[tuple[str, str]] = set()
        for row in rows:
            if (row.channel, row.target) not in failing and not self._deliver(row):
                failing.add((row.channel, row.target))
        return len(rows)

    def retry_delay_s(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: doubling from retry_min_s, capped."""
        return min(self.retry_min_s * 2 ** min(attempts - 1, 64), self.retry_max_s)

    def _deliver(self, row: sa.Row[*tuple[Any, ...]]) -> bool:
        """One attempt at one row, and its outcome stored; whether the row is done (delivered, or
        failed for good), so its target's next rows may go."""
        attempts = row.attempts + 1
        try:
            self.senders[row.channel](row.target, row.payload)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            values: dict[str, object] = {"attempts": attempts, "last_error": error}
            extra = {"outbox_id": row.id, "channel": row.channel, "target": row.target, "attempts": attempts}
            now = datetime.now(UTC)
            if getattr(exc, "permanent", False) or now - row.created_at >= self.give_up_after:
                values["state"] = "failed"
                log.error("outbox: delivery failed for good", extra=extra | {"error": error})
            else:
                delay = self.retry_delay_s(attempts)
                values["next_attempt_at"] = now + timedelta(seconds=delay)
                log.warning("outbox: delivery failed", extra=extra | {"error": error, "retry_s": delay})
            with self._count_lock:
                self.failed += 1
            done = values.get("state") == "failed"
        else:
            values = {"attempts": attempts, "state": "delivered", "delivered_at": datetime.now(UTC)}
            with self._count_lock:
                self.delivered += 1
            done = True
        with self.engine.begin() as conn:
            conn.execute(sa.update(Outbox).where(Outbox.id == row.id).values(**values))
        return done


def send_again(engine: Engine, alert_id: str, now: datetime | None = None) -> int:
    """Put an alert's `failed` notifications back in the queue (once the cause is fixed); returns how
    many. A running notifier picks them up at its next poll, with a fresh attempt count and a fresh
    `give_up_after_s` (they count as queued now)."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(Outbox)
            .where(Outbox.alert_id == alert_id, Outbox.state == "failed")
            .values(state="pending", attempts=0, created_at=now, next_attempt_at=now)
        )
    return int(result.rowcount)
