"""Escalation: an open, unacknowledged serious alert is re-sent once to the escalation route."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon_helpers import daemon_settings, install_model, running, tiny_model, wait_for
from notify_helpers import T0, HookServer, alert_row, events, outbox_rows, seed_alert, seed_asset
from sqlalchemy.engine import Engine

from monitor.alert_actions import acknowledge
from monitor.maintenance import plan_window
from monitor.notify.escalation import escalate_due
from monitor.settings import NotifySettings, Settings
from monitor.store.db import create_engine_for
from monitor.store.records import AlertRecord, AlertState, Severity
from monitor.store.writer import StoreWriter

AFTER = timedelta(minutes=15)
NOTIFY: dict[str, Any] = {
    "webhooks": {"pager": {"url": "http://127.0.0.1:9/pager"}},
    "escalation": {
        "after_s": AFTER.total_seconds(),
        "severities": ["critical"],
        "route": {"name": "shift-lead", "webhooks": ["pager"], "emails": ["lead@plant.example"]},
    },
    "smtp": {"host": "127.0.0.1"},
}


def test_unacknowledged_critical_alert_is_escalated_once(engine: Engine) -> None:
    """After after_s the alert goes to the escalation route, is marked and logged; never a second time."""
    seed_asset(engine)
    seed_alert(engine)
    notify = NotifySettings(**NOTIFY)
    assert escalate_due(engine, notify, now=T0 + AFTER - timedelta(seconds=1)) == 0
    now = T0 + AFTER + timedelta(seconds=1)
    assert escalate_due(engine, notify, now=now) == 1
    assert escalate_due(engine, notify, now=now + AFTER) == 0
    rows = outbox_rows(engine)
    assert [(r.channel, r.target, r.route) for r in rows] == [
        ("webhook", "pager", "shift-lead"),
        ("email", "lead@plant.example", "shift-lead"),
    ]
    payload = json.loads(rows[0].payload)
    assert (payload["id"], payload["state"], payload["escalated"]) == ("a1", "open", True)
    assert alert_row(engine).escalated_at == now
    assert events(engine) == [
        ("escalated", "monitor", "not acknowledged after 15 min; sent to route shift-lead")
    ]


def test_acknowledged_minor_or_maintenance_alerts_are_not_escalated(engine: Engine) -> None:
    """Acknowledged, non-escalating severities, covered by maintenance now: no escalation."""
    seed_asset(engine)
    seed_asset(engine, "pump-4")
    seed_alert(engine, "acked")
    acknowledge(engine, Settings(), "acked", "olga", "on it", now=T0)
    seed_alert(engine, "minor", severity="major")
    seed_alert(engine, "window", asset="pump-4", in_maintenance=True)
    now = T0 + 2 * AFTER
    plan_window(engine, "pump-4", now - timedelta(minutes=1), now + AFTER, "", "olga")
    assert escalate_due(engine, NotifySettings(**NOTIFY), now=now) == 0
    assert [r.channel for r in outbox_rows(engine)] == ["mqtt"]  # the acknowledgement itself
    assert escalate_due(engine, NotifySettings(**NOTIFY), now=now + 2 * AFTER) == 1  # window over


def test_an_alert_opened_in_a_window_that_has_ended_is_escalated(engine: Engine) -> None:
    """Marked in_maintenance (opened during a window, so its routes were never told) and still open
    after the window: the machine is back in production with the condition, so it escalates."""
    seed_asset(engine)
    seed_alert(engine, "marked", in_maintenance=True)
    assert escalate_due(engine, NotifySettings(**NOTIFY), now=T0 + 2 * AFTER) == 1
    assert [r.route for r in outbox_rows(engine)] == ["shift-lead", "shift-lead"]


def test_daemon_escalates_and_delivers_to_the_webhook(
    tmp_path: Path, sqlite_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """The daemon's scheduled job escalates a waiting alert and its notifier POSTs it."""
    server = HookServer([200])
    try:
        notify = NOTIFY | {
            "webhooks": {"pager": {"url": server.url}},
            "escalation": NOTIFY["escalation"]
            | {"after_s": 1, "route": {"name": "shift-lead", "webhooks": ["pager"]}},
        }
        settings = daemon_settings(
            tmp_path, sqlite_url, mqtt_broker, topic_prefix, mqtt={"receiver": "thread"}, notify=notify
        )
        install_model(settings, ["pump1"], tiny_model())
        engine = create_engine_for(sqlite_url)
        seed_asset(engine)
        seed_alert(engine)
        with running(settings):
            assert wait_for(lambda: len(server.requests) == 1, timeout=20)
        assert json.loads(server.requests[0][2])["escalated"] is True
        assert [r.state for r in outbox_rows(engine)] == ["delivered"]
        engine.dispose()
    finally:
        server.close()


def test_an_alert_stored_late_escalates_after_after_s_from_when_it_was_stored(engine: Engine) -> None:
    """A backlog replayed after an outage opens an alert whose reading is two hours old: it is not
    escalated at the first check, but after_s after the daemon stored it."""
    seed_asset(engine, "pump-3")
    stored = datetime.now(UTC)
    opened = stored - timedelta(hours=2)
    writer = StoreWriter(engine, interval_s=0.01)
    try:
        writer.put(
            AlertRecord(
                id="late",
                asset="pump-3",
                condition="sensor_score",
                state=AlertState.OPEN,
                severity=Severity.CRITICAL,
                score=9.0,
                peak_score=9.0,
                threshold=2.0,
                top_channels=[],
                opened_at=opened,
                updated_at=opened,
            )
        )
        assert writer.flush(10)
    finally:
        writer.close(10)
    notify = NotifySettings(**NOTIFY)
    assert escalate_due(engine, notify, now=stored + timedelta(seconds=5)) == 0
    assert escalate_due(engine, notify, now=stored + AFTER + timedelta(seconds=5)) == 1
    assert events(engine)[-1][2] == "not acknowledged after 15 min; sent to route shift-lead"
