"""Maintenance windows: planned stops during which alerts are still recorded but not sent out.

A window covers one asset or camera, or every one of them when its asset is None. The writer
marks each alert change inside an active window `in_maintenance` (by the change's own time, so a
backlog is judged by when the machine produced the data), and webhook and e-mail notifications
of such changes are not queued; the MQTT alerts topic still carries them, flagged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import QueryableAttribute

from monitor.store.tables import Asset, MaintenanceWindow

log = logging.getLogger(__name__)


def plan_window(
    engine: Engine, asset: str | None, starts: datetime, ends: datetime, reason: str, user: str
) -> int:
    """Store a window and return its id; ValueError for an empty window or an unknown asset."""
    if ends <= starts:
        raise ValueError(
            f"maintenance window ends ({ends.isoformat()}) before it starts ({starts.isoformat()})"
        )
    with engine.begin() as conn:
        if asset is not None and conn.execute(sa.select(Asset.id).where(Asset.name == asset)).first() is None:
            raise ValueError(f"unknown asset or camera {asset!r}")
        window_id = conn.execute(
            sa.insert(MaintenanceWindow)
            .values(asset=asset, starts=starts, ends=ends, reason=reason, created_by=user)
            .returning(MaintenanceWindow.id)
        ).scalar_one()
    log.info("maintenance window planned", extra={"window": window_id, "asset": asset, "user": user})
    return int(window_id)


def end_window(engine: Engine, window_id: int, user: str, now: datetime | None = None) -> None:
    """End a window now (a window not yet started is cancelled: it becomes empty at `now`)."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        window = conn.execute(
            sa.select(MaintenanceWindow.starts, MaintenanceWindow.ends)
            .where(MaintenanceWindow.id == window_id)
            .with_for_update()
        ).first()
        if window is None:
            raise ValueError(f"no maintenance window {window_id}")
        if window.ends <= now:
            raise ValueError(f"maintenance window {window_id} has already ended")
        conn.execute(
            sa.update(MaintenanceWindow)
            .where(MaintenanceWindow.id == window_id)
            .values(starts=min(window.starts, now), ends=now)
        )
    log.info("maintenance window ended", extra={"window": window_id, "user": user})


def _active(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(MaintenanceWindow.starts <= now, MaintenanceWindow.ends > now)


def active_windows(conn: Connection, now: datetime) -> list[sa.Row[*tuple[Any, ...]]]:
    """Windows in force at `now`, soonest ending first."""
    return list(
        conn.execute(
            sa.select(
                MaintenanceWindow.id,
                MaintenanceWindow.asset,
                MaintenanceWindow.starts,
                MaintenanceWindow.ends,
                MaintenanceWindow.reason,
                MaintenanceWindow.created_by,
            )
            .where(_active(now))
            .order_by(MaintenanceWindow.ends, MaintenanceWindow.id)
        ).all()
    )


def covered(asset: str | QueryableAttribute[str], at: datetime) -> sa.Exists:
    """SQL: a window for this asset (a name or a column), or for every asset, covers the time `at`."""
    return sa.exists().where(
        sa.or_(MaintenanceWindow.asset == asset, MaintenanceWindow.asset.is_(None)), _active(at)
    )


def in_maintenance(conn: Connection, asset: str, at: datetime) -> bool:
    """Whether a window for this asset, or for every asset, covers the time `at`."""
    return bool(conn.execute(sa.select(covered(asset, at))).scalar())
