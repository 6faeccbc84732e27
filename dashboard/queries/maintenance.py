"""Maintenance windows as the Maintenance page lists them: active, planned and past, each bounded."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store.tables import MaintenanceWindow

COLUMNS = ["id", "asset", "starts", "ends", "reason", "created_by"]
EVERY_ASSET = "all assets and cameras"


def windows(conn: Connection, now: datetime, limit: int) -> dict[str, pd.DataFrame]:
    """{"active", "planned", "past"} windows as of `now`: active and planned soonest first, past
    most recent first (at most `limit` each). A window without an asset covers every one."""
    window = MaintenanceWindow
    selects = {
        "active": sa.and_(window.starts <= now, window.ends > now),
        "planned": window.starts > now,
        "past": window.ends <= now,
    }
    orders = {"active": window.ends, "planned": window.starts, "past": window.ends.desc()}
    found = {}
    for name, where in selects.items():
        rows = conn.execute(
            sa.select(window.id, window.asset, window.starts, window.ends, window.reason, window.created_by)
            .where(where)
            .order_by(orders[name], window.id)
            .limit(limit)
        ).all()
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame["asset"] = frame["asset"].fillna(EVERY_ASSET)
        found[name] = frame
    return found
