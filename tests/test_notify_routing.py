"""Who is notified of an alert change: routes by group and severity, rate limit, maintenance, audit trail."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from notify_helpers import T0, alert_row, events, outbox_rows, seed_asset
from sqlalchemy.engine import Engine

from monitor.alert_actions import acknowledge, resolve
from monitor.maintenance import plan_window
from monitor.notify.held_back import tell_held_back
from monitor.notify.routing import Target, targets_for
from monitor.settings import NotifySettings, Settings
from monitor.store.records import AlertRecord, AlertState, Severity
from monitor.store.writer import StoreWriter

NOTIFY: dict[str, Any] = {
    "groups": {"pumps": ["pump-*"], "line1": ["line1-cam", "fan-1"]},
    "webhooks": {"ops": {"url": "http://127.0.0.1:9/ops"}, "pumps-chat": {"url": "http://127.0.0.1:9/p"}},
    "smtp": {"host": "127.0.0.1"},
    "routes": [
        {"name": "pumps", "groups": ["pumps"], "webhooks": ["pumps-chat"], "emails": ["pumps@plant.example"]},
        {"name": "critical", "severities": ["critical"], "webhooks": ["ops", "pumps-chat"]},
        {
            "name": "line1",
            "groups": ["line1"],
            "severities": ["major", "critical"],
            "emails": ["l1@plant.example"],
        },
    ],
    "min_interval_s": 300,
}


def test_routes_match_asset_groups_by_pattern_and_severity() -> None:
    """A pump's warning goes to the pump route only; a critical one also to ops; line1 needs major."""
    notify = NotifySettings(**NOTIFY)
    assert targets_for(notify, "pump-3", "warning") == [
        Target("webhook", "pumps-chat", "pumps"),
        Target("email", "pumps@plant.example", "pumps"),
    ]
    assert targets_for(notify, "pump-3", "critical") == [
        Target("webhook", "pumps-chat", "pumps"),
        Target("email", "pumps@plant.example", "pumps"),
        Target("webhook", "ops", "critical"),
    ]
    assert targets_for(notify, "fan-1", "warning") == []
    assert targets_for(notify, "fan-1", "major") == [Target("email", "l1@plant.example", "line1")]
    assert targets_for(notify, "compressor", "critical") == [
        Target("webhook", "ops", "critical"),
        Target("webhook", "pumps-chat", "critical"),
    ]


def change(
    severity: Severity = Severity.WARNING, state: AlertState = AlertState.OPEN, minutes: int = 0
) -> AlertRecord:
    at = T0 + timedelta(minutes=minutes)
    return AlertRecord(
        id="a1",
        asset="pump-3",
        condition="sensor_score",
        state=state,
        severity=severity,
        score=5.0,
        peak_score=5.0,
        threshold=2.0,
        top_channels=[{"name": "vibration", "value": 4.0}],
        opened_at=T0,
        updated_at=at,
        resolved_at=at if state is AlertState.RESOLVED else None,
    )


@pytest.fixture
def write(engine: Engine) -> Iterator[Callable[..., None]]:
    """Store alert records through a writer routed by NOTIFY (overridable), one flush per call."""
    writers: list[StoreWriter] = []

    def put(*records: AlertRecord, **notify: Any) -> None:
        if not writers:
            writers.append(StoreWriter(engine, interval_s=0.01, notify=NotifySettings(**(NOTIFY | notify))))
        writers[0].put_many(records)
        assert writers[0].flush(timeout=10)

    seed_asset(engine, "pump-3", "north")
    yield put
    for writer in writers:
        writer.close(timeout=10)


def channels(engine: Engine) -> list[tuple[str, str]]:
    return [(row.channel, row.target) for row in outbox_rows(engine)]


def test_a_severity_rise_and_the_resolution_reach_everyone_told_of_the_alert(
    engine: Engine, write: Callable[..., None]
) -> None:
    """Within min_interval_s of the opening, a rise to critical still reaches the pump route (and,
    new to the alert, the critical route), and the resolution reaches them all."""
    write(change())
    write(change(Severity.CRITICAL, minutes=1))
    write(change(Severity.CRITICAL, AlertState.RESOLVED, minutes=2))
    routed = [("webhook", "pumps-chat"), ("email", "pumps@plant.example")]
    topic = ("mqtt", "plant/north/pump-3/alerts")
    critical = [*routed, ("webhook", "ops")]
    assert channels(engine) == [topic, *routed, topic, *critical, topic, *critical]


def test_an_asset_whose_alerts_come_and_go_tells_each_target_once_per_interval(
    engine: Engine, write: Callable[..., None]
) -> None:
    """A flapping asset: the next alert within min_interval_s reaches only the alerts topic, and so
    does its resolution (nobody is told an alert resolved that they never heard of)."""
    write(change(), change(state=AlertState.RESOLVED, minutes=1))
    flap = dataclasses.replace(change(minutes=2), id="a2")
    write(flap, dataclasses.replace(flap, state=AlertState.RESOLVED, resolved_at=flap.updated_at))
    routed = [("webhook", "pumps-chat"), ("email", "pumps@plant.example")]
    topic = ("mqtt", "plant/north/pump-3/alerts")
    assert channels(engine) == [topic, *routed, topic, *routed, topic, topic]


def test_no_rate_limit_with_zero_interval(engine: Engine, write: Callable[..., None]) -> None:
    """With min_interval_s 0 every change goes to every routed target."""
    write(change(), change(Severity.CRITICAL, minutes=1), min_interval_s=0)
    assert len([c for c in channels(engine) if c[0] == "webhook"]) == 1 + 2


def test_alert_in_maintenance_is_recorded_and_only_published(
    engine: Engine, write: Callable[..., None]
) -> None:
    """Inside a window the alert is stored with in_maintenance, on the alerts topic, with no webhook or e-mail."""
    plan_window(engine, "pump-3", T0 - timedelta(minutes=5), T0 + timedelta(minutes=30), "seal swap", "olga")
    write(change(Severity.CRITICAL))
    assert alert_row(engine).in_maintenance
    [row] = outbox_rows(engine)
    assert (row.channel, json.loads(row.payload)["in_maintenance"]) == ("mqtt", True)


def test_change_after_the_window_is_notified(engine: Engine, write: Callable[..., None]) -> None:
    """A change timed after the window has ended is routed again and no longer marked."""
    plan_window(engine, None, T0 - timedelta(minutes=5), T0 + timedelta(minutes=1), "", "olga")
    write(change())
    write(change(Severity.CRITICAL, minutes=2))
    assert not alert_row(engine).in_maintenance
    assert ("webhook", "ops") in channels(engine)


def test_an_alert_resumed_after_a_restart_is_judged_by_the_window_of_each_change(
    engine: Engine, write: Callable[..., None]
) -> None:
    """A restart resumes an alert opened in a window with its mark; its next change, after the
    window, is routed: the mark is not carried on for ever."""
    plan_window(engine, None, T0 - timedelta(minutes=5), T0 + timedelta(minutes=1), "", "olga")
    write(change())
    resumed = dataclasses.replace(change(Severity.CRITICAL, minutes=2), in_maintenance=True)
    write(resumed)
    assert not alert_row(engine).in_maintenance
    assert ("webhook", "ops") in channels(engine)


def test_pipeline_changes_leave_an_audit_trail(engine: Engine, write: Callable[..., None]) -> None:
    """Open, severity rise and resolution are events by 'monitor'; the resolution names who resolved."""
    write(change())
    write(change(Severity.CRITICAL, minutes=1))
    write(change(Severity.CRITICAL, AlertState.RESOLVED, minutes=2))
    assert events(engine) == [
        ("opened", "monitor", "severity warning"),
        ("severity", "monitor", "warning -> critical"),
        ("resolved", "monitor", None),
    ]
    assert alert_row(engine).resolved_by == "monitor"


def test_operator_resolution_is_kept_when_the_pipeline_updates(
    engine: Engine, write: Callable[..., None]
) -> None:
    """An alert an operator resolved stays resolved (by them) when the detector still reports it."""
    write(change())
    acknowledge(engine, Settings(notify=NOTIFY), "a1", "olga", "looking")
    resolve(engine, Settings(notify=NOTIFY), "a1", "olga", "fixed")
    write(change(Severity.CRITICAL, minutes=1))
    row = alert_row(engine)
    assert (row.state, row.resolved_by, row.severity) == ("resolved", "olga", "critical")


def test_a_target_told_of_an_alert_follows_it_whatever_its_route_s_severities(
    engine: Engine, write: Callable[..., None]
) -> None:
    """A route for warnings only told of the opening also hears the rise to critical and the
    resolution: it must not be left believing the alert is a warning, or still open."""
    day_shift = [{"name": "day-shift", "severities": ["warning", "major"], "webhooks": ["ops"]}]
    write(change(), routes=day_shift)
    write(change(Severity.CRITICAL, minutes=1), change(Severity.CRITICAL, AlertState.RESOLVED, minutes=2))
    hooks = [json.loads(row.payload) for row in outbox_rows(engine) if row.channel == "webhook"]
    assert [(h["severity"], h["state"], h["route"]) for h in hooks] == [
        ("warning", "open", "day-shift"),
        ("critical", "open", "day-shift"),
        ("critical", "resolved", "day-shift"),
    ]


def test_updates_of_an_alert_an_operator_resolved_reach_only_the_alerts_topic(
    engine: Engine, write: Callable[..., None]
) -> None:
    """Between an operator's resolution and the detector letting the alert go, a rise or the
    pipeline's own resolution tells the routes nothing: they heard the resolution."""
    write(change())
    resolve(engine, Settings(notify=NOTIFY), "a1", "olga", "seal replaced", now=T0 + timedelta(minutes=1))
    before = len(outbox_rows(engine))
    write(change(Severity.CRITICAL, minutes=2), change(Severity.CRITICAL, AlertState.RESOLVED, minutes=3))
    assert [row.channel for row in outbox_rows(engine)[before:]] == ["mqtt", "mqtt"]


def test_an_acknowledgement_after_the_window_reaches_those_told_of_the_alert(
    engine: Engine, write: Callable[..., None]
) -> None:
    """Told when it opened, the alert rose during a window; the acknowledgement after the window
    goes to the routes again (the stored mark is of the change in the window, not of now)."""
    write(change())
    plan_window(engine, "pump-3", T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), "", "olga")
    write(change(Severity.MAJOR, minutes=1))
    acknowledge(engine, Settings(notify=NOTIFY), "a1", "piet", "on it", now=T0 + timedelta(hours=1))
    last = outbox_rows(engine)[-3:]
    assert [(row.channel, json.loads(row.payload)["state"]) for row in last] == [
        ("mqtt", "acknowledged"),
        ("webhook", "acknowledged"),
        ("email", "acknowledged"),
    ]


def test_an_alert_held_back_by_the_repeat_limit_is_told_if_it_lasts_the_interval(
    engine: Engine, write: Callable[..., None]
) -> None:
    """The next alert of a flapping asset reaches only the alerts topic; if it is still open once
    min_interval_s has passed it is no flap: its routes are told then, once."""
    write(change(), change(state=AlertState.RESOLVED, minutes=1))
    write(dataclasses.replace(change(minutes=2), id="a2"))
    notify = NotifySettings(**NOTIFY)
    stored = datetime.now(UTC)
    assert tell_held_back(engine, notify, now=stored + timedelta(seconds=10)) == 0
    later = stored + timedelta(seconds=notify.min_interval_s + 10)
    assert tell_held_back(engine, notify, now=later) == 2
    assert tell_held_back(engine, notify, now=later) == 0
    rows = [row for row in outbox_rows(engine) if row.alert_id == "a2"]
    assert [(row.channel, json.loads(row.payload)["state"]) for row in rows] == [
        ("mqtt", "open"),
        ("webhook", "open"),
        ("email", "open"),
    ]


def test_an_alert_opened_in_a_window_is_told_if_still_open_when_the_window_ends(
    engine: Engine, write: Callable[..., None]
) -> None:
    """Planned work keeps the opening from the routes; the alert outlasting the window is told."""
    now = datetime.now(UTC)
    plan_window(engine, "pump-3", now - timedelta(hours=1), now + timedelta(hours=1), "seal swap", "olga")
    opened = dataclasses.replace(
        change(), opened_at=now - timedelta(minutes=30), updated_at=now - timedelta(minutes=30)
    )
    write(opened)
    notify = NotifySettings(**NOTIFY)
    assert tell_held_back(engine, notify, now=now + timedelta(minutes=30)) == 0  # still in the window
    assert tell_held_back(engine, notify, now=now + timedelta(hours=2)) == 2
    payloads = [json.loads(row.payload) for row in outbox_rows(engine) if row.channel != "mqtt"]
    assert [(p["state"], p["in_maintenance"]) for p in payloads] == [("open", False)] * 2
