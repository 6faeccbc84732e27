"""The webhook channel against a real local HTTP server: signed JSON, retries with backoff, restarts."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from notify_helpers import HookServer, seed_alert, seed_asset, seed_told
from sqlalchemy.engine import Engine

from monitor.alert_actions import acknowledge
from monitor.notify.outbox import DeliveryError, OutboxNotifier
from monitor.notify.webhook import webhook_sender
from monitor.settings import NotifySettings, Settings
from monitor.store.tables import Outbox

SECRET = "s3cret-for-tests"


@pytest.fixture
def servers() -> Iterator[list[HookServer]]:
    started: list[HookServer] = []
    yield started
    for server in started:
        server.close()


def notify_for(url: str, timeout_s: float = 5.0) -> NotifySettings:
    return NotifySettings(
        webhooks={"ops": {"url": url, "secret": SECRET, "timeout_s": timeout_s}},
        routes=[{"name": "oncall", "webhooks": ["ops"]}],
        retry_min_s=0.5,
        retry_max_s=2,
    )


def acknowledged_alert(engine: Engine, notify: NotifySettings) -> None:
    """An alert the webhook was told of, acknowledged by an operator: one webhook row queued (and
    one for the alerts topic)."""
    seed_asset(engine)
    seed_alert(engine)
    seed_told(engine, "a1", "webhook", "ops")
    acknowledge(engine, Settings(notify=notify.model_dump()), "a1", "olga", "on my way")


def webhook_row(engine: Engine) -> sa.Row[str, int, str | None]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(Outbox.state, Outbox.attempts, Outbox.last_error)
            .where(Outbox.channel == "webhook")
            .order_by(Outbox.id.desc())
            .limit(1)
        ).one()


def wait_delivered(engine: Engine, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if webhook_row(engine).state == "delivered":
            return True
        time.sleep(0.05)
    return False


def test_signed_post_is_retried_after_a_500_with_backoff(engine: Engine, servers: list[HookServer]) -> None:
    """A 500 is retried after retry_min_s; both POSTs carry the alert JSON and a valid HMAC signature."""
    servers.append(server := HookServer([500, 200]))
    notify = notify_for(server.url)
    acknowledged_alert(engine, notify)
    notifier = OutboxNotifier.from_settings(engine, notify, {"webhook": webhook_sender(notify.webhooks)})
    notifier.poll_s = 0.05
    notifier.start()
    try:
        assert wait_delivered(engine)
    finally:
        notifier.stop()
    assert len(server.requests) == 2
    (first_at, _, _), (second_at, headers, body) = server.requests
    assert second_at - first_at >= 0.5
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Monitor-Signature"] == expected
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert (payload["id"], payload["state"], payload["asset"], payload["route"]) == (
        "a1",
        "acknowledged",
        "pump-3",
        "oncall",
    )
    assert webhook_row(engine) == ("delivered", 2, "DeliveryError: webhook ops: HTTP 500")


def test_slow_endpoint_times_out_and_stays_pending(engine: Engine, servers: list[HookServer]) -> None:
    """An answer later than timeout_s is a failed attempt, kept for a retry."""
    servers.append(server := HookServer([200], delay_s=1.0))
    notify = notify_for(server.url, timeout_s=0.2)
    acknowledged_alert(engine, notify)
    notifier = OutboxNotifier.from_settings(engine, notify, {"webhook": webhook_sender(notify.webhooks)})
    assert notifier.deliver_due() == 1
    assert webhook_row(engine) == ("pending", 1, "DeliveryError: webhook ops: ReadTimeout")


def test_pending_webhook_is_delivered_by_a_new_notifier_after_a_restart(
    engine: Engine, servers: list[HookServer]
) -> None:
    """A row that failed while the receiver was down is delivered by the next notifier once it is back."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notify = notify_for(f"http://127.0.0.1:{port}/hook")
    acknowledged_alert(engine, notify)
    first = OutboxNotifier.from_settings(engine, notify, {"webhook": webhook_sender(notify.webhooks)})
    first.poll_s = 0.05
    first.start()
    time.sleep(0.3)
    first.stop()
    state, attempts, error = webhook_row(engine)
    assert (state, attempts, error) == ("pending", 1, "DeliveryError: webhook ops: ConnectionError")
    servers.append(server := HookServer([200], port=port))
    second = OutboxNotifier.from_settings(engine, notify, {"webhook": webhook_sender(notify.webhooks)})
    second.poll_s = 0.05
    second.start()
    try:
        assert wait_delivered(engine)
    finally:
        second.stop()
    assert json.loads(server.requests[0][2])["state"] == "acknowledged"


def test_unknown_webhook_name_is_a_delivery_error() -> None:
    """A row naming a webhook no longer configured fails with that name, for the dashboard."""
    send = webhook_sender({})
    with pytest.raises(DeliveryError, match="webhook 'gone' is not configured"):
        send("gone", "{}")


def test_a_request_the_receiver_refuses_fails_at_once_and_does_not_hold_back_the_next(
    engine: Engine, servers: list[HookServer]
) -> None:
    """A 400 refuses this very request: the row fails at the first try (sending it again for days
    would only repeat the refusal, and hold the target's later rows back); the next row goes out
    in the same pass. A 429 (too many requests) is retried."""
    servers.append(server := HookServer([400, 200, 429]))
    notify = notify_for(server.url)
    acknowledged_alert(engine, notify)
    seed_alert(engine, "a2")
    seed_told(engine, "a2", "webhook", "ops")
    acknowledge(engine, Settings(notify=notify.model_dump()), "a2", "olga", "me too")
    seed_alert(engine, "a3")
    seed_told(engine, "a3", "webhook", "ops")
    acknowledge(engine, Settings(notify=notify.model_dump()), "a3", "olga", "and this")
    notifier = OutboxNotifier.from_settings(engine, notify, {"webhook": webhook_sender(notify.webhooks)})
    assert notifier.deliver_due(["webhook"]) == 3
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Outbox.state, Outbox.attempts, Outbox.last_error)
            .where(Outbox.channel == "webhook", Outbox.state != "delivered")
            .order_by(Outbox.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("failed", 1, "DeliveryError: webhook ops: HTTP 400"),
        ("pending", 1, "DeliveryError: webhook ops: HTTP 429"),
    ]
    assert len(server.requests) == 3
