"""Queueing an alert change's notifications as `outbox` rows, inside the caller's transaction.

Every path that changes an alert (the writer, operator actions, escalation) calls this in the same
transaction as the change, so a committed change is always announced and a rolled-back one never is.
The MQTT alerts-topic row is written for every change (fixed contract); webhook and e-mail rows
follow the routes and are left out while the alert is in maintenance. A target hears of an alert's
acknowledgement or resolution only if it was told of the alert, and of every severity rise it was
told of (two at most per alert). What `notify.min_interval_s` limits is an asset whose alerts come
and go: a target told of one of its alerts within that time is not told of the next one (the MQTT
topic still carries it), nor of its later changes, unless it is still open once the interval has
passed (monitor/notify/held_back.py tells it then, as it does an alert opened in a maintenance
window that outlasts the window).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.notify.routing import Target, targets_for
from monitor.settings import NotifySettings
from monitor.store.records import AlertRecord, AlertState, Severity
from monitor.store.tables import Alert, Outbox

MQTT = "mqtt"
UNKNOWN_SITE = "unknown"  # alerts-topic level for an asset whose site nobody has told us
# Changes told only to the targets that were told of the alert.
CLOSING = (AlertState.ACKNOWLEDGED.value, AlertState.RESOLVED.value)


def iso_utc(ts: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, the timestamp format of our MQTT payloads."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_payload(alert: AlertRecord, state: str) -> dict[str, Any]:
    """The JSON published on the alerts topic (fixed contract), with the state as stored."""
    return {
        "id": alert.id,
        "asset": alert.asset,
        "condition": alert.condition,
        "state": state,
        "severity": str(alert.severity),
        "score": float(alert.score),
        "peak_score": float(alert.peak_score),
        "threshold": float(alert.threshold),
        "top_channels": alert.top_channels,
        "opened_at": iso_utc(alert.opened_at),
        "updated_at": iso_utc(alert.updated_at),
        "resolved_at": iso_utc(alert.resolved_at) if alert.resolved_at else None,
        "in_maintenance": alert.in_maintenance,
    }


def alert_from_row(row: sa.Row[*tuple[Any, ...]]) -> AlertRecord:
    """The record of a stored alert (operator actions and escalation start from the row)."""
    return AlertRecord(
        id=row.id,
        asset=row.asset,
        condition=row.condition,
        state=AlertState(row.state),
        severity=Severity(row.severity),
        score=row.score,
        peak_score=row.peak_score,
        threshold=row.threshold,
        top_channels=list(row.top_channels),
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        in_maintenance=row.in_maintenance,
    )


def queue_alert_change(
    conn: Connection,
    notify: NotifySettings,
    topic: str,
    alert: AlertRecord,
    state: str,
    previous_state: str | None,
    now: datetime,
) -> int:
    """Outbox rows for one alert change: the alerts topic, then the routes; returns rows written.

    `state` is the state as stored (an operator's acknowledgement survives pipeline updates), and
    `previous_state` the one before this change (None for a new alert).
    """
    payload = alert_payload(alert, state)
    rows = [_row(alert.id, MQTT, topic, None, json.dumps(payload, separators=(",", ":")), now)]
    # An update of an alert an operator resolved (its detector lets it go at the next registry poll)
    # tells the routes nothing new: they heard the resolution.
    if not alert.in_maintenance and previous_state != AlertState.RESOLVED.value:
        told = _told_of(conn, alert.id) if previous_state is not None else {}
        targets = list(told.values())  # whatever their routes' severities: they follow the alert
        if not (state != previous_state and state in CLOSING):
            targets += _untold_targets(conn, notify, alert, told, now)
        rows += _routed_rows(alert.id, targets, payload, now, escalated=False)
    conn.execute(sa.insert(Outbox), rows)
    return len(rows)


def queue_held_back(
    conn: Connection, notify: NotifySettings, alert: AlertRecord, state: str, now: datetime
) -> int:
    """Route rows for an alert its routes were never told of (held back by the repeat limit or a
    maintenance window) that is still open now; returns rows written (none while the asset's
    targets are still within `min_interval_s` of their last notification)."""
    targets = _untold_targets(conn, notify, alert, {}, now)
    rows = _routed_rows(alert.id, targets, alert_payload(alert, state), now, escalated=False)
    if rows:
        conn.execute(sa.insert(Outbox), rows)
    return len(rows)


def _untold_targets(
    conn: Connection,
    notify: NotifySettings,
    alert: AlertRecord,
    told: dict[tuple[str, str], Target],
    now: datetime,
) -> list[Target]:
    """The alert's route targets not told of it yet, less those told of another of the asset's
    alerts within `notify.min_interval_s` (an asset whose alerts come and go)."""
    new = [t for t in targets_for(notify, alert.asset, str(alert.severity)) if _key(t) not in told]
    if new and notify.min_interval_s > 0:
        recent = _recently_told_of_asset(conn, alert.asset, now - timedelta(seconds=notify.min_interval_s))
        new = [t for t in new if _key(t) not in recent]
    return new


def queue_escalation(conn: Connection, alert: AlertRecord, targets: Sequence[Target], now: datetime) -> int:
    """Outbox rows re-sending an unacknowledged alert to the escalation route (never rate-limited)."""
    rows = _routed_rows(alert.id, targets, alert_payload(alert, str(alert.state)), now, escalated=True)
    if rows:
        conn.execute(sa.insert(Outbox), rows)
    return len(rows)


def _routed_rows(
    alert_id: str, targets: Sequence[Target], payload: dict[str, Any], now: datetime, *, escalated: bool
) -> list[dict[str, Any]]:
    """Webhook and e-mail carry the alerts-topic JSON plus the route and whether it is an escalation."""
    return [
        _row(
            alert_id,
            target.channel,
            target.target,
            target.route,
            json.dumps(payload | {"route": target.route, "escalated": escalated}, separators=(",", ":")),
            now,
        )
        for target in targets
    ]


def _key(target: Target) -> tuple[str, str]:
    return target.channel, target.target


def _told_of(conn: Connection, alert_id: str) -> dict[tuple[str, str], Target]:
    """The targets that have been sent (or queued) this alert, with the route that first took it
    there (an escalation's included), oldest first."""
    rows = conn.execute(
        sa.select(Outbox.channel, Outbox.target, Outbox.route)
        .where(Outbox.alert_id == alert_id, Outbox.channel != MQTT)
        .order_by(Outbox.id)
    )
    told: dict[tuple[str, str], Target] = {}
    for channel, target, route in rows:
        told.setdefault((channel, target), Target(channel, target, route or ""))
    return told


def _recently_told_of_asset(conn: Connection, asset: str, since: datetime) -> set[tuple[str, str]]:
    """The (channel, target) pairs sent one of the asset's alerts since `since`."""
    rows = conn.execute(
        sa.select(Outbox.channel, Outbox.target)
        .join(Alert, Alert.id == Outbox.alert_id)
        .where(Alert.asset == asset, Outbox.channel != MQTT, Outbox.created_at >= since)
        .distinct()
    )
    return {(channel, target) for channel, target in rows}


def _row(
    alert_id: str, channel: str, target: str, route: str | None, payload: str, now: datetime
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "channel": channel,
        "target": target,
        "route": route,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }
