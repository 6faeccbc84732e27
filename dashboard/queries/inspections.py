"""A camera's inspections: the latest and the anomalous ones, one in detail, its score history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.formatting import duration
from dashboard.queries.scores import POINTS, SERIES_COLUMNS, bucket_column, bucket_seconds
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
    newest first; walks the (camera, ts) index, or its partial twin of the anomalous rows."""
    query = sa.select(*TABLE_COLUMNS).where(Inspection.camera == camera)
    if anomalous:
        query = query.where(Inspection.anomaly)
    if before is not None:
        query = query.where(Inspection.ts <= before)
    rows = conn.execute(query.order_by(Inspection.ts.desc()).limit(limit)).all()
    return pd.DataFrame(rows, columns=[column.key for column in TABLE_COLUMNS])


@dataclass(frozen=True)
class InspectionSeries:
    """Inspection scores to plot: every inspection (`bucket_s` 0) or buckets of `bucket_s` seconds."""

    frame: pd.DataFrame  # scores.SERIES_COLUMNS; max_score = score and count 1 for single inspections
    bucket_s: int

    def caption(self) -> str:
        """One line telling the operator what the chart shows."""
        if not self.bucket_s:
            return f"Every inspection of the range ({len(self.frame):,}) against the camera's threshold"
        return (
            f"Mean and maximum inspection score per {duration(self.bucket_s)} "
            f"({int(self.frame['count'].sum()):,} inspections in {len(self.frame):,} buckets) against "
            "the highest threshold of each"
        )


def history(
    conn: Connection, camera: str, start: datetime, end: datetime, points: int = POINTS
) -> InspectionSeries:
    """The scores of `camera` in [start, end]: every inspection when there are at most `points`, else the
    whole range aggregated in the database into ~`points` time buckets (as the asset page's long ranges
    are), so a day at a frame a second is drawn whole rather than cut to its newest minutes."""
    rows = conn.execute(
        sa.select(Inspection.ts, Inspection.score, Inspection.threshold, Inspection.anomaly)
        .where(Inspection.camera == camera, Inspection.ts >= start, Inspection.ts <= end)
        .order_by(Inspection.ts)
        .limit(points + 1)
    ).all()
    if len(rows) <= points:
        frame = pd.DataFrame(
            [(r.ts, r.score, r.score, r.threshold, int(r.anomaly), 1) for r in rows], columns=SERIES_COLUMNS
        )
        return InspectionSeries(frame, 0)
    bucket_s = bucket_seconds(end - start, points)
    buckets = conn.execute(
        sa.select(
            bucket_column(Inspection.ts, bucket_s, conn.dialect.name == "postgresql"),
            sa.func.avg(Inspection.score).label("score"),
            sa.func.max(Inspection.score).label("max_score"),
            sa.func.max(Inspection.threshold).label("threshold"),
            sa.func.sum(sa.case((Inspection.anomaly, 1), else_=0)).label("anomalies"),
            sa.func.count().label("n"),
        )
        .where(Inspection.camera == camera, Inspection.ts >= start, Inspection.ts <= end)
        .group_by("bucket")
        .order_by("bucket")
        .limit(points + 2)
    ).all()
    frame = pd.DataFrame(
        [
            (
                datetime.fromtimestamp(b.bucket * bucket_s, UTC),
                b.score,
                b.max_score,
                b.threshold,
                int(b.anomalies),
                int(b.n),
            )
            for b in buckets
        ],
        columns=SERIES_COLUMNS,
    )
    return InspectionSeries(frame, bucket_s)


def artifact(path: str | None) -> Path | None:
    """The artifact file when it still exists (retention deletes old ones and clears the path)."""
    if not path:
        return None
    file = Path(path)
    return file if file.is_file() else None
