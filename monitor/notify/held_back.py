"""Alerts whose routes were never told, told once that is no longer right (a scheduler job).

An opening is kept from a route's targets by the repeat limit (`notify.min_interval_s`: an asset
whose alerts come and go) or by a maintenance window. That is right for a flapping asset and for
planned work, but an alert still open after the interval, or after the window, is a condition the
staff must hear of: `tell_held_back` queues its route notifications then, once. The MQTT alerts
topic always carried it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.maintenance import covered
from monitor.notify.enqueue import MQTT, alert_from_row, queue_held_back
from monitor.settings import NotifySettings
from monitor.store.records import AlertState
from monitor.store.tables import Alert, Outbox

log = logging.getLogger(__name__)

CHECK_EVERY_S = 10.0


def tell_held_back(engine: Engine, notify: NotifySettings, now: datetime | None = None) -> int:
    """Queue the route notifications of open alerts no route was told of, that have lasted
    `min_interval_s` and are outside any maintenance window now; returns rows queued."""
    if not notify.routes:
        return 0
    now = now or datetime.now(UTC)
    lasted = now - timedelta(seconds=notify.min_interval_s)
    told = sa.exists().where(Outbox.alert_id == Alert.id, Outbox.channel != MQTT)
    held = (
        sa.select(Alert.__table__)
        .where(
            Alert.state == AlertState.OPEN.value,
            sa.func.coalesce(Alert.stored_at, Alert.opened_at) <= lasted,
            ~told,
            ~covered(Alert.asset, now),
        )
        .order_by(Alert.opened_at)
        .with_for_update(skip_locked=True)  # at most one open alert per asset: no limit needed
    )
    queued = 0
    with engine.begin() as conn:
        for row in conn.execute(held).all():
            alert = alert_from_row(row)
            alert.in_maintenance = False
            queued += queue_held_back(conn, notify, alert, row.state, now)
    if queued:
        log.info("held-back alerts told to their routes", extra={"rows": queued})
    return queued
