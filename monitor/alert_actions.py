"""Operators' actions on alerts: acknowledge and resolve, each one transaction; and the alerts
still unresolved, which the daemon resumes at start-up.

The alert row, its audit event (`alert_events`) and the notifications of the change (`outbox`:
the MQTT alerts topic and the routes) commit together, so what the dashboard shows as done has
also been announced, and a failed action leaves no trace.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from monitor.ingest.topics import alerts_topic
from monitor.maintenance import in_maintenance
from monitor.notify.enqueue import UNKNOWN_SITE, alert_from_row, queue_alert_change
from monitor.settings import Settings
from monitor.store.records import AlertRecord, AlertState
from monitor.store.tables import Alert, AlertEvent, Asset

log = logging.getLogger(__name__)

MONITOR_ACTOR = "monitor"  # the actor of the daemon's own alert events (opened, resolved, escalated)


def unresolved_alerts(engine: Engine) -> dict[str, AlertRecord]:
    """The latest open or acknowledged alert of each asset, for the detectors to carry on."""
    query = sa.select(Alert).where(Alert.state != AlertState.RESOLVED.value).order_by(Alert.opened_at)
    with engine.connect() as conn:
        return {row.asset: alert_from_row(row) for row in conn.execute(query)}


def resolved_among(engine: Engine, alert_ids: set[str]) -> set[str]:
    """Which of `alert_ids` are resolved in the database (by an operator, while a detector held them)."""
    query = sa.select(Alert.id).where(Alert.id.in_(alert_ids), Alert.state == AlertState.RESOLVED.value)
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


class ActionError(Exception):
    """An action that does not apply to the alert as it is now; the message is for the operator."""


def record_event(
    conn: Connection, alert_id: str, action: str, actor: str, at: datetime, comment: str | None = None
) -> None:
    """One line of an alert's audit trail (opened, severity, acknowledged, resolved, escalated)."""
    conn.execute(
        sa.insert(AlertEvent).values(alert_id=alert_id, action=action, actor=actor, comment=comment, at=at)
    )


def alert_topic(conn: Connection, topic_prefix: str, asset: str) -> str:
    """The alerts topic of an asset, its site read from the assets table."""
    site = conn.execute(sa.select(Asset.site).where(Asset.name == asset)).scalar_one_or_none()
    return alerts_topic(topic_prefix, site or UNKNOWN_SITE, asset)


def acknowledge(
    engine: Engine, settings: Settings, alert_id: str, user: str, comment: str, now: datetime | None = None
) -> None:
    """open -> acknowledged, with who and why; the comment is required."""
    if not comment.strip():
        raise ActionError("a comment is required to acknowledge an alert")
    now = now or datetime.now(UTC)
    values = {"acknowledged_at": now, "acknowledged_by": user, "ack_comment": comment.strip()}
    _change(engine, settings, alert_id, AlertState.ACKNOWLEDGED, user, comment.strip(), now, values)


def resolve(
    engine: Engine,
    settings: Settings,
    alert_id: str,
    user: str,
    comment: str = "",
    now: datetime | None = None,
) -> None:
    """open or acknowledged -> resolved by `user` (the pipeline may still see the condition)."""
    now = now or datetime.now(UTC)
    values = {"resolved_at": now, "resolved_by": user}
    _change(engine, settings, alert_id, AlertState.RESOLVED, user, comment.strip(), now, values)


_ALLOWED_FROM = {
    AlertState.ACKNOWLEDGED: (AlertState.OPEN.value,),
    AlertState.RESOLVED: (AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value),
}


def _change(
    engine: Engine,
    settings: Settings,
    alert_id: str,
    state: AlertState,
    user: str,
    comment: str,
    now: datetime,
    values: dict[str, Any],
) -> None:
    with engine.begin() as conn:
        row = conn.execute(sa.select(Alert.__table__).where(Alert.id == alert_id).with_for_update()).first()
        if row is None:
            raise ActionError(f"no alert {alert_id}")
        previous = row.state
        if previous not in _ALLOWED_FROM[state]:
            raise ActionError(f"alert {alert_id} is already {previous}")
        # Conditional on the state read: SQLite ignores FOR UPDATE, so two operators acting at once
        # both read `open`; only one UPDATE then finds it.
        changed = conn.execute(
            sa.update(Alert)
            .where(Alert.id == alert_id, Alert.state == previous)
            .values(state=state.value, **values)
        ).rowcount
        if changed != 1:
            raise ActionError(f"alert {alert_id} was changed by someone else just now; look again")
        record_event(conn, alert_id, state.value, user, now, comment or None)
        alert = alert_from_row(row)
        alert.state = state
        alert.resolved_at = values.get("resolved_at", alert.resolved_at)
        alert.in_maintenance = in_maintenance(conn, alert.asset, now)  # as of the action, not the row
        topic = alert_topic(conn, settings.mqtt.topic_prefix, alert.asset)
        queue_alert_change(conn, settings.notify, topic, alert, state.value, previous, now)
    log.info("alert %s by %s", state.value, user, extra={"alert": alert_id, "user": user})
