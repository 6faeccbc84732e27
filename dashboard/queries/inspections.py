"""A camera's inspections: the latest and the anomalous ones, one in detail, its score history."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.store.tables import Inspection

TABLE_COLUMNS = (
    Inspection.id,
    Inspection.ts,
    Inspection.frame_key,
    Inspection.score,
    Inspection.threshold,
    Inspection.anomaly,
    Inspection.defect_area,
    Inspection.defect_count,
    Inspection.image_path,
    Inspection.heatmap_path,
    Inspection.mask_path,
)


def latest(
    conn: Connection, camera: str, limit: int, *, anomalous: bool = False, before: datetime | None = None
) -> pd.DataFrame:
    """The newest inspections of `camera` (only anomalous ones if asked; none after `before`),
    newest first; walks the (camera, ts) index."""
    query = sa.select(*TABLE_COLUMNS).where(Inspection.camera == camera)
    if anomalous:
        query = query.where(Inspection.anomaly)
    if before is not None:
        query = query.where(Inspection.ts <= before)
    rows = conn.execute(query.order_by(Inspection.ts.desc()).limit(limit)).all()
    return pd.DataFrame(rows, columns=[column.key for column in TABLE_COLUMNS])


def history(
    conn: Connection, camera: str, start: datetime, end: datetime, limit: int
) -> tuple[pd.DataFrame, bool]:
    """Scores and thresholds of the inspections in [start, end] by time (the newest `limit` of them)
    and whether the limit cut the range."""
    rows = conn.execute(
        sa.select(Inspection.ts, Inspection.score, Inspection.threshold, Inspection.anomaly)
        .where(Inspection.camera == camera, Inspection.ts >= start, Inspection.ts <= end)
        .order_by(Inspection.ts.desc())
        .limit(limit)
    ).all()
    frame = pd.DataFrame(rows, columns=["ts", "score", "threshold", "anomaly"])
    return frame.iloc[::-1].reset_index(drop=True), len(rows) >= limit


def artifact(path: str | None) -> Path | None:
    """The artifact file when it still exists (retention deletes old ones and clears the path)."""
    if not path:
        return None
    file = Path(path)
    return file if file.is_file() else None
