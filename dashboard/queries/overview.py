"""What the overview shows: each asset's and camera's state, open alerts by severity, daemon status.

A tile's state, most urgent first: in maintenance (a window covers it now), alarm (an unresolved
major or critical alert), warning (an unresolved warning alert, or its latest score above the
threshold), no data (nothing scored for NO_DATA_AFTER), normal. Every query walks an index: the
latest score per asset is a max over the (asset, ts) primary key, the latest inspection over
(camera, ts), the unresolved alerts of the tiles shown over (asset, state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.maintenance import active_windows
from monitor.store.tables import Alert, Asset, DeadLetter, Heartbeat, Inspection, Score

STATES = ("in maintenance", "alarm", "warning", "no data", "normal")
NO_DATA_AFTER = timedelta(minutes=5)
SEVERITIES = ("critical", "major", "warning")
ALARM_SEVERITIES = ("critical", "major")
UNRESOLVED = ("open", "acknowledged")
# Counting dead letters stops here: a flood reads "10000+" instead of scanning all of it.
DEAD_LETTER_CAP = 10_000


@dataclass(frozen=True)
class Tile:
    """One asset or camera as the overview shows it."""

    name: str
    kind: str
    state: str
    last_seen: datetime | None
    score: float | None
    threshold: float | None
    alerts: Mapping[str, int]  # unresolved alerts by severity

    @property
    def view(self) -> tuple[str, dict[str, str]]:
        """The page showing this asset or camera, and its query parameters."""
        if self.kind == "camera":
            return "views/camera.py", {"camera": self.name}
        return "views/asset.py", {"asset": self.name}


def tile_state(
    last_seen: datetime | None,
    score: float | None,
    threshold: float | None,
    alerts: Mapping[str, int],
    in_maintenance: bool,
    now: datetime,
) -> str:
    """The state of one tile (see the module docstring for the order)."""
    if in_maintenance:
        return "in maintenance"
    if any(alerts.get(severity) for severity in ALARM_SEVERITIES):
        return "alarm"
    if alerts.get("warning") or (score is not None and threshold is not None and score > threshold):
        return "warning"
    if last_seen is None or now - last_seen > NO_DATA_AFTER:
        return "no data"
    return "normal"


def tiles(conn: Connection, now: datetime, limit: int) -> list[Tile]:
    """The first `limit` assets and cameras by name, each with its state."""
    latest_score = sa.select(sa.func.max(Score.ts)).where(Score.asset == Asset.name).scalar_subquery()
    latest_frame = (
        sa.select(sa.func.max(Inspection.ts)).where(Inspection.camera == Asset.name).scalar_subquery()
    )
    assets = conn.execute(
        sa.select(
            Asset.name,
            Asset.kind,
            sa.case((Asset.kind == "camera", latest_frame), else_=latest_score).label("last_seen"),
        )
        .order_by(Asset.name)
        .limit(limit)
    ).all()
    latest = _latest_values(conn, [(a.name, a.kind, a.last_seen) for a in assets if a.last_seen is not None])
    alerts = unresolved_alerts(conn, [asset.name for asset in assets])
    windows = active_windows(conn, now)
    everything_stopped = any(w.asset is None for w in windows)
    stopped = {w.asset for w in windows}
    result = []
    for asset in assets:
        score, threshold = latest.get(asset.name, (None, None))
        counts = alerts.get(asset.name, {})
        maintenance = everything_stopped or asset.name in stopped
        state = tile_state(asset.last_seen, score, threshold, counts, maintenance, now)
        result.append(Tile(asset.name, asset.kind, state, asset.last_seen, score, threshold, counts))
    return result


def _latest_values(conn: Connection, seen: list[tuple[str, str, datetime]]) -> dict[str, tuple[float, float]]:
    """Score and threshold of each asset's latest score row or camera's latest inspection."""
    values: dict[str, tuple[float, float]] = {}
    for table, key, kind in ((Score, Score.asset, "sensor"), (Inspection, Inspection.camera, "camera")):
        pairs = [(name, ts) for name, k, ts in seen if (k == "camera") == (kind == "camera")]
        if not pairs:
            continue
        rows = conn.execute(
            sa.select(key, table.score, table.threshold).where(sa.tuple_(key, table.ts).in_(pairs))
        ).all()
        values.update({row[0]: (row.score, row.threshold) for row in rows})
    return values


def unresolved_alerts(conn: Connection, assets: list[str]) -> dict[str, dict[str, int]]:
    """asset -> severity -> number of open or acknowledged alerts, for `assets` (the tiles shown).

    Filtered by name rather than cut by a LIMIT: a LIMIT on the groups would keep arbitrary ones, and
    tiles would read normal for assets with critical alerts once many assets have alerts.
    """
    if not assets:
        return {}
    rows = conn.execute(
        sa.select(Alert.asset, Alert.severity, sa.func.count())
        .where(Alert.asset.in_(assets), Alert.state.in_(UNRESOLVED))
        .group_by(Alert.asset, Alert.severity)
    ).all()
    result: dict[str, dict[str, int]] = {}
    for asset, severity, count in rows:
        result.setdefault(asset, {})[severity] = int(count)
    return result


def alerts_by_severity(conn: Connection) -> dict[str, int]:
    """Open or acknowledged alerts per severity, every severity present (0 when none)."""
    counts = dict.fromkeys(SEVERITIES, 0)
    rows = conn.execute(
        sa.select(Alert.severity, sa.func.count()).where(Alert.state.in_(UNRESOLVED)).group_by(Alert.severity)
    ).all()
    counts.update({severity: int(count) for severity, count in rows})
    return counts


@dataclass(frozen=True)
class DaemonStatus:
    """The latest heartbeat of one daemon instance (the stats the scheduler's heartbeat job writes)."""

    instance: str
    at: datetime
    stats: Mapping[str, Any]

    @property
    def received(self) -> int:
        return int(self.stats.get("received", 0))

    @property
    def stored_scores(self) -> int:
        return int(self.stats.get("rows", {}).get("scores", 0))


def daemon_statuses(conn: Connection, limit: int) -> list[DaemonStatus]:
    """Every instance's heartbeat, latest first."""
    rows = conn.execute(
        sa.select(Heartbeat.instance, Heartbeat.at, Heartbeat.stats)
        .order_by(Heartbeat.at.desc())
        .limit(limit)
    ).all()
    return [DaemonStatus(row.instance, row.at, row.stats or {}) for row in rows]


def rate(earlier: DaemonStatus | None, later: DaemonStatus, counter: str) -> float | None:
    """Per-second rate of a heartbeat counter between two heartbeats of one instance.

    Heartbeats carry running totals, so the rate needs two of them; None until then, or when the
    daemon restarted in between (its counters start again from zero).
    """
    if earlier is None or later.at <= earlier.at:
        return None
    delta = getattr(later, counter) - getattr(earlier, counter)
    if delta < 0:
        return None
    return delta / (later.at - earlier.at).total_seconds()


def dead_letters_since(conn: Connection, since: datetime) -> int:
    """Invalid messages received since `since`, counted up to DEAD_LETTER_CAP."""
    recent = sa.select(DeadLetter.id).where(DeadLetter.received_at >= since).limit(DEAD_LETTER_CAP).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(recent)).scalar_one())


class HeartbeatHistory:
    """The last two distinct heartbeats seen per instance, kept across refreshes to compute rates."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[DaemonStatus | None, DaemonStatus]] = {}

    def earlier(self, status: DaemonStatus) -> DaemonStatus | None:
        """Record `status`; return the heartbeat of the same instance before it, if one was seen."""
        before, last = self._seen.get(status.instance, (None, None))
        if last is not None and status.at > last.at:
            before = last
        elif last is not None and status.at < last.at:
            before = None  # the row went back in time: another database, start afresh
        self._seen[status.instance] = (before, status)
        return before
