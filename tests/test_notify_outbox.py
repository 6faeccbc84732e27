"""The outbox notifier: pending rows are published and marked, failures retried later, restarts resume."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from daemon_helpers import (
    Listener,
    count,
    daemon_settings,
    install_model,
    query,
    running,
    tiny_model,
    wait_for,
)

from monitor.notify.outbox import DeliveryError, OutboxNotifier
from monitor.store.db import create_engine_for
from monitor.store.migrate import upgrade
from monitor.store.tables import Outbox


def add_pending(
    url: str, target: str, payload: str = '{"id": "a1", "state": "open"}', age_s: float = 0.0
) -> None:
    """A pending mqtt row for `target`, queued `age_s` seconds ago."""
    engine = create_engine_for(url)
    now = datetime.now(UTC) - timedelta(seconds=age_s)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Outbox).values(
                channel="mqtt",
                target=target,
                payload=payload,
                state="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
    engine.dispose()


class Channel:
    """A sender that records what it sent and refuses the targets listed in `down`."""

    def __init__(self, *down: str) -> None:
        self.down = set(down)
        self.sent: list[tuple[str, str]] = []
        self.tries: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, target: str, payload: str) -> None:
        with self.lock:
            self.tries.append(target)
            if target in self.down:
                raise DeliveryError("connection refused")
            self.sent.append((target, payload))


def test_failed_delivery_is_kept_pending_with_its_error_and_a_later_retry(sqlite_url: str) -> None:
    """A channel error increments attempts, stores last_error and moves next_attempt_at forward."""
    upgrade(sqlite_url)
    add_pending(sqlite_url, "plant/s/a/alerts")

    def broken(target: str, payload: str) -> None:
        raise DeliveryError("no PUBACK within 5s")

    engine = create_engine_for(sqlite_url)
    notifier = OutboxNotifier(engine, {"mqtt": broken})
    assert notifier.deliver_due() == 1
    assert notifier.deliver_due() == 0  # not due again yet
    engine.dispose()
    [(state, attempts, error, created, due)] = query(
        sqlite_url, "SELECT state, attempts, last_error, created_at, next_attempt_at FROM outbox"
    )
    assert (state, attempts) == ("pending", 1)
    assert error == "DeliveryError: no PUBACK within 5s"
    assert due > created


def test_retries_back_off_and_a_row_older_than_the_give_up_time_fails_for_good(sqlite_url: str) -> None:
    """Retries double from retry_min_s up to retry_max_s; a failed attempt on a row queued longer
    ago than give_up_after_s makes it `failed`, with its last error, and it is not tried again.
    A row queued just now that fails stays pending."""
    upgrade(sqlite_url)
    add_pending(sqlite_url, "plant/s/old/alerts", age_s=3600)
    add_pending(sqlite_url, "plant/s/new/alerts")
    channel = Channel("plant/s/old/alerts", "plant/s/new/alerts")
    engine = create_engine_for(sqlite_url)
    notifier = OutboxNotifier(
        engine, {"mqtt": channel}, retry_min_s=0.1, retry_max_s=0.2, give_up_after_s=600
    )
    assert [notifier.retry_delay_s(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.2, 0.2]
    assert notifier.deliver_due() == 2
    time.sleep(0.15)
    assert notifier.deliver_due() == 1
    engine.dispose()
    assert channel.tries == ["plant/s/old/alerts", "plant/s/new/alerts", "plant/s/new/alerts"]
    assert query(sqlite_url, "SELECT state, attempts, last_error FROM outbox ORDER BY id") == [
        ("failed", 1, "DeliveryError: connection refused"),
        ("pending", 2, "DeliveryError: connection refused"),
    ]


def test_a_failing_target_holds_back_only_its_own_rows_and_gets_them_in_order(database_url: str) -> None:
    """Three changes for a webhook that is down: one request per retry (not one per row), other
    targets keep getting theirs, and once it is back it gets all three in the order they were made
    (a "resolved" never before its "open")."""
    upgrade(database_url)
    for state in ("open", "acknowledged", "resolved"):
        add_pending(database_url, "down", f'{{"state": "{state}"}}')
    add_pending(database_url, "up")
    channel = Channel("down")
    engine = create_engine_for(database_url)
    notifier = OutboxNotifier(engine, {"mqtt": channel}, retry_min_s=0.2, retry_max_s=0.2)
    notifier.deliver_due()
    add_pending(database_url, "down", '{"state": "opened again"}')  # queued while the first waits
    assert notifier.deliver_due() == 0
    assert channel.tries == ["down", "up"]
    channel.down.clear()
    time.sleep(0.25)
    notifier.deliver_due()
    engine.dispose()
    assert [payload for target, payload in channel.sent if target == "down"] == [
        '{"state": "open"}',
        '{"state": "acknowledged"}',
        '{"state": "resolved"}',
        '{"state": "opened again"}',
    ]


def test_daemons_sharing_postgresql_send_each_row_once(postgres_url: str) -> None:
    """Two notifiers on one PostgreSQL outbox (two daemons scaled out): one of them drains the
    channel, so each row goes out once; when it stops, the other takes the channel over."""
    upgrade(postgres_url)
    channel = Channel()
    engines = [create_engine_for(postgres_url) for _ in range(2)]
    notifiers = [OutboxNotifier(engine, {"mqtt": channel}, poll_s=0.05) for engine in engines]
    try:
        for notifier in notifiers:
            notifier.start()
        for i in range(20):
            add_pending(postgres_url, f"t{i}")
        assert wait_for(lambda: count(postgres_url, "outbox", "state = 'delivered'") == 20)
        first = next(n for n in notifiers if n.delivered)
        first.stop()
        add_pending(postgres_url, "after")
        assert wait_for(lambda: count(postgres_url, "outbox", "state = 'delivered'") == 21)
    finally:
        for notifier in notifiers:
            notifier.stop()
        for engine in engines:
            engine.dispose()
    assert sorted(target for target, _ in channel.sent) == sorted([f"t{i}" for i in range(20)] + ["after"])
    assert [n.delivered for n in notifiers if n is not first] == [1]


def test_rows_left_pending_are_published_after_a_restart(
    tmp_path: Path, sqlite_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """A row pending from before start-up is delivered on the alerts topic and marked delivered."""
    settings = daemon_settings(tmp_path, sqlite_url, mqtt_broker, topic_prefix, mqtt={"receiver": "thread"})
    install_model(settings, ["pump1"], tiny_model())
    target = f"{topic_prefix}/site1/pump1/alerts"
    add_pending(sqlite_url, target)
    alerts = Listener(mqtt_broker, f"{topic_prefix}/+/+/alerts")
    try:
        with running(settings):
            assert wait_for(lambda: count(sqlite_url, "outbox", "state = 'delivered'") == 1)
        assert wait_for(lambda: alerts.messages[:1] == [(target, b'{"id": "a1", "state": "open"}', False)])
    finally:
        alerts.close()
    assert query(sqlite_url, "SELECT attempts FROM outbox")[0][0] == 1
