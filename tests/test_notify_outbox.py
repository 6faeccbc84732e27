"""The outbox notifier: pending rows are published and marked, failures retried later, restarts resume."""

from __future__ import annotations

import time
from datetime import UTC, datetime
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


def add_pending(url: str, target: str, payload: str = '{"id": "a1", "state": "open"}') -> None:
    engine = create_engine_for(url)
    now = datetime.now(UTC)
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


def test_row_fails_for_good_after_max_attempts(sqlite_url: str) -> None:
    """After max_attempts failed tries the row is `failed` with its last error and no longer tried."""
    upgrade(sqlite_url)
    add_pending(sqlite_url, "plant/s/a/alerts")
    tries: list[float] = []

    def broken(target: str, payload: str) -> None:
        tries.append(time.monotonic())
        raise DeliveryError("no PUBACK within 5s")

    engine = create_engine_for(sqlite_url)
    notifier = OutboxNotifier(engine, {"mqtt": broken}, retry_min_s=0.1, retry_max_s=0.2, max_attempts=3)
    assert [notifier.retry_delay_s(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.2, 0.2]
    deadline = time.monotonic() + 5
    while len(tries) < 3 and time.monotonic() < deadline:
        notifier.deliver_due()
        time.sleep(0.02)
    time.sleep(0.3)
    assert notifier.deliver_due() == 0
    engine.dispose()
    assert len(tries) == 3
    assert tries[1] - tries[0] >= 0.1 and tries[2] - tries[1] >= 0.2
    assert query(sqlite_url, "SELECT state, attempts, last_error FROM outbox") == [
        ("failed", 3, "DeliveryError: no PUBACK within 5s")
    ]


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
