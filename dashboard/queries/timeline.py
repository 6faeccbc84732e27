"""What happened to one asset or camera over a time range: the thresholds in force and its alerts.

Both pages draw these over their score history; the `thresholds` history and `alerts` rows are keyed
by the asset (or camera) name, so the same queries serve sensors and cameras.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store.tables import Alert, Threshold


@dataclass(frozen=True, slots=True)
class AlertPeriod:
    """An alert as a span of time: from opening to resolution (or `now` while it is not resolved)."""

    id: str
    severity: str
    state: str
    opened_at: datetime
    ends: datetime
    peak_score: float
    top_channels: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.opened_at:%Y-%m-%d %H:%M:%S} · {self.severity} · {self.state}"


def threshold_steps(conn: Connection, asset: str, start: datetime, end: datetime, limit: int) -> pd.DataFrame:
    """Threshold values in force over [start, end]: the one set last before `start` (if any) and every
    change inside the range (at most `limit`). Columns computed_at, value, method, by time."""
    columns = (Threshold.computed_at, Threshold.value, Threshold.method)
    before = (
        sa.select(*columns)
        .where(Threshold.asset == asset, Threshold.computed_at <= start)
        .order_by(Threshold.computed_at.desc())
        .limit(1)
    )
    inside = (
        sa.select(*columns)
        .where(Threshold.asset == asset, Threshold.computed_at > start, Threshold.computed_at <= end)
        .order_by(Threshold.computed_at)
        .limit(limit)
    )
    rows = [*conn.execute(before).all(), *conn.execute(inside).all()]
    return pd.DataFrame(rows, columns=["computed_at", "value", "method"])


def alert_periods(
    conn: Connection, asset: str, start: datetime, end: datetime, now: datetime, limit: int
) -> list[AlertPeriod]:
    """The alerts of `asset` that overlap [start, end], newest first (at most `limit`)."""
    rows = conn.execute(
        sa.select(Alert)
        .where(
            Alert.asset == asset,
            Alert.opened_at <= end,
            sa.or_(Alert.resolved_at.is_(None), Alert.resolved_at >= start),
        )
        .order_by(Alert.opened_at.desc())
        .limit(limit)
    ).all()
    return [
        AlertPeriod(
            id=row.id,
            severity=row.severity,
            state=row.state,
            opened_at=row.opened_at,
            ends=row.resolved_at or max(now, row.opened_at),
            peak_score=row.peak_score,
            top_channels=list(row.top_channels or []),
        )
        for row in rows
    ]


def nearest(periods: list[AlertPeriod], at: datetime | None) -> int | None:
    """Index of the alert whose span holds `at` or starts closest to it; None without alerts."""
    if not periods:
        return None
    if at is None:
        return 0
    inside = [i for i, p in enumerate(periods) if p.opened_at <= at <= p.ends]
    if inside:
        return inside[0]
    return min(range(len(periods)), key=lambda i: abs((periods[i].opened_at - at).total_seconds()))


def around(
    period: AlertPeriod, pad: timedelta = timedelta(minutes=15), longest: timedelta = timedelta(hours=1)
) -> tuple[datetime, datetime]:
    """The time around an alert worth plotting: from `pad` before it opened to `pad` after it ended,
    but no further than `longest` after the opening (what led to it is the interesting part)."""
    return period.opened_at - pad, min(period.ends + pad, period.opened_at + longest)
