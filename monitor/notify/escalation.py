"""Escalation: a serious alert nobody acknowledged is re-sent to the escalation route, once.

A scheduler job (monitor/scheduler.py) runs `escalate_due` every `check_interval_s`. Alerts still
`open` (not acknowledged) of a severity in `notify.escalation.severities`, opened and stored more
than `after_s` ago (a replayed backlog or a gateway clock behind opens alerts whose reading is old
already: the staff get `after_s` from when they could first see it), not escalated yet and not
inside a maintenance window now get, in one transaction, outbox rows to the escalation route,
`escalated_at` and an `escalated` event. An alert opened in
maintenance (marked `in_maintenance`) escalates once the window has ended, if still open: its
routes were never told, and the machine is back in production with the condition.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.alert_actions import MONITOR_ACTOR, record_event
from monitor.maintenance import covered
from monitor.notify.enqueue import alert_from_row, queue_escalation
from monitor.notify.routing import escalation_targets
from monitor.settings import NotifySettings
from monitor.store.records import AlertState
from monitor.store.tables import Alert

log = logging.getLogger(__name__)

BATCH = 100


def check_interval_s(notify: NotifySettings) -> float:
    """How often the job looks: a quarter of the delay, between 0.5 s and 30 s."""
    return min(30.0, max(0.5, notify.escalation.after_s / 4))


def escalate_due(engine: Engine, notify: NotifySettings, now: datetime | None = None) -> int:
    """Escalate every alert that is due; returns how many were escalated."""
    escalation = notify.escalation
    targets = escalation_targets(notify)
    if not targets or not escalation.severities:
        return 0
    now = now or datetime.now(UTC)
    due_since = now - timedelta(seconds=escalation.after_s)
    due = (
        sa.select(Alert.__table__)
        .where(
            Alert.state == AlertState.OPEN.value,
            Alert.severity.in_(list(escalation.severities)),
            Alert.opened_at <= due_since,
            sa.func.coalesce(Alert.stored_at, Alert.opened_at) <= due_since,
            Alert.escalated_at.is_(None),
            ~covered(Alert.asset, now),
        )
        .order_by(Alert.opened_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    escalated = 0
    with engine.begin() as conn:
        for row in conn.execute(due).all():
            alert = alert_from_row(row)
            queue_escalation(conn, alert, targets, now)
            conn.execute(sa.update(Alert).where(Alert.id == alert.id).values(escalated_at=now))
            minutes = (now - max(alert.opened_at, row.stored_at or alert.opened_at)).total_seconds() / 60
            comment = f"not acknowledged after {minutes:.0f} min; sent to route {targets[0].route}"
            record_event(conn, alert.id, "escalated", MONITOR_ACTOR, now, comment)
            escalated += 1
    if escalated:
        log.info("alerts escalated", extra={"count": escalated, "route": targets[0].route})
    return escalated
