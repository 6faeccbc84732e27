"""The raw sensor readings the daemon kept around one alert (`alert_readings`): the context before it
opened and the readings while it was open, so the asset page can show what the machine did."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store.tables import AlertReading

# More than the daemon keeps per alert (a few hundred before it opened plus the capped open part).
READINGS_LIMIT = 5_000


def alert_readings(conn: Connection, alert_id: str, limit: int = READINGS_LIMIT) -> pd.DataFrame:
    """The first `limit` readings of the alert by time (walks the (alert_id, ts) primary key): a `ts`
    column and one column per channel (NaN where a reading lacks that channel). Empty without rows."""
    rows = conn.execute(
        sa.select(AlertReading.ts, AlertReading.values)
        .where(AlertReading.alert_id == alert_id)
        .order_by(AlertReading.ts)
        .limit(limit)
    ).all()
    frame = pd.DataFrame.from_records([row.values for row in rows])
    frame.insert(0, "ts", pd.to_datetime([row.ts for row in rows], utc=True))
    return frame
