"""The alerts page's reads: the filtered list, one alert's details, its audit trail and deliveries.

The list is one index range per state, newest first: `(state, opened_at)` serves
`state = ? AND opened_at in range ORDER BY opened_at DESC LIMIT n` as a backward index scan that
stops after n rows, and the per-state lists are merged. A single `state IN (...)` query would have
to sort every matching row before the limit (100,000 alerts: the difference between 2 ms and 200 ms).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store.tables import Alert, AlertEvent, Asset, Outbox

SEVERITIES = ("critical", "major", "warning")
DEFAULT_STATES = ("open", "acknowledged")
LIST_COLUMNS = (
    Alert.id,
    Alert.opened_at,
    Alert.asset,
    Alert.severity,
    Alert.state,
    Alert.peak_score,
    Alert.threshold,
    Alert.acknowledged_by,
    Alert.in_maintenance,
)


@dataclass(frozen=True)
class AlertFilter:
    """What the user narrowed the list to; empty severities mean every severity."""

    since: datetime
    until: datetime
    states: tuple[str, ...] = DEFAULT_STATES
    severities: tuple[str, ...] = ()
    asset: str | None = None


def list_query(wanted: AlertFilter, limit: int) -> sa.Select[Any]:
    """The newest `limit` alerts matching the filter (at least one state), newest first."""
    per_state = []
    for state in wanted.states:
        query = sa.select(*LIST_COLUMNS).where(
            Alert.state == state, Alert.opened_at >= wanted.since, Alert.opened_at < wanted.until
        )
        if wanted.severities:
            query = query.where(Alert.severity.in_(wanted.severities))
        if wanted.asset is not None:
            query = query.where(Alert.asset == wanted.asset)
        per_state.append(sa.select(query.order_by(Alert.opened_at.desc()).limit(limit).subquery()))
    merged = sa.union_all(*per_state).subquery()
    return sa.select(merged).order_by(merged.c.opened_at.desc()).limit(limit)


def list_alerts(conn: Connection, wanted: AlertFilter, limit: int) -> pd.DataFrame:
    """`list_query`'s rows as a table (columns as LIST_COLUMNS); empty when no state is wanted."""
    rows = conn.execute(list_query(wanted, limit)).all() if wanted.states else []
    return pd.DataFrame(rows, columns=[c.key for c in LIST_COLUMNS])


@dataclass(frozen=True)
class AlertDetails:
    """One alert with what the details panel shows beside it."""

    alert: sa.Row[Any]
    kind: str  # "sensor" or "camera": which view the alert links to
    events: pd.DataFrame = field(repr=False)
    deliveries: pd.DataFrame = field(repr=False)

    def view(self) -> tuple[str, dict[str, str]]:
        """The asset or camera page at the alert's opening time, and its query parameters."""
        at = self.alert.opened_at.isoformat()
        if self.kind == "camera":
            return "views/camera.py", {"camera": self.alert.asset, "at": at}
        return "views/asset.py", {"asset": self.alert.asset, "at": at}


def alert_details(conn: Connection, alert_id: str, limit: int) -> AlertDetails | None:
    """The alert, its audit trail (oldest first) and its notifications; None for an unknown id."""
    row = conn.execute(
        sa.select(Alert.__table__, Asset.kind)
        .join(Asset, Asset.name == Alert.asset, isouter=True)
        .where(Alert.id == alert_id)
    ).first()
    if row is None:
        return None
    events = conn.execute(
        sa.select(AlertEvent.at, AlertEvent.action, AlertEvent.actor, AlertEvent.comment)
        .where(AlertEvent.alert_id == alert_id)
        .order_by(AlertEvent.at, AlertEvent.id)
        .limit(limit)
    ).all()
    deliveries = conn.execute(
        sa.select(
            Outbox.created_at,
            Outbox.channel,
            Outbox.target,
            Outbox.route,
            Outbox.state,
            Outbox.attempts,
            Outbox.last_error,
            Outbox.delivered_at,
        )
        .where(Outbox.alert_id == alert_id)
        .order_by(Outbox.id)
        .limit(limit)
    ).all()
    return AlertDetails(
        alert=row,
        kind=row.kind or "sensor",
        events=pd.DataFrame(events, columns=["at", "action", "actor", "comment"]),
        deliveries=pd.DataFrame(
            deliveries,
            columns=[
                "created_at",
                "channel",
                "target",
                "route",
                "state",
                "attempts",
                "last_error",
                "delivered_at",
            ],
        ),
    )


def top_channels(alert: sa.Row[Any]) -> pd.DataFrame:
    """The channels that contributed most at the alert's peak: columns channel, contribution."""
    channels = alert.top_channels or []
    return pd.DataFrame(
        [(c.get("name"), c.get("value")) for c in channels if isinstance(c, dict)],
        columns=["channel", "contribution"],
    )


def actions_for(state: str) -> tuple[str, ...]:
    """What an operator can do to an alert in `state`."""
    return {"open": ("acknowledge", "resolve"), "acknowledged": ("resolve",)}.get(state, ())
