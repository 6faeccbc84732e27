"""An asset's score history at a resolution a chart can hold, and its per-channel contributions.

`scores` may hold tens of millions of rows (one per reading per asset), so a long range is never
read row by row: short ranges read the rows through the (asset, ts) primary key with a LIMIT; long
ranges are aggregated in the database into at most ~`points` time buckets, merging the per-minute
`score_rollups` (minutes already past retention) with buckets of the raw rows still kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.formatting import duration
from monitor.store.tables import Score, ScoreRollup

RAW_MAX_SPAN = timedelta(hours=3)
RAW_ROWS = 20_000
POINTS = 720
CONTRIBUTION_ROWS = 5_000
SERIES_COLUMNS = ["ts", "score", "max_score", "threshold", "anomalies", "count"]


@dataclass(frozen=True)
class ScoreSeries:
    """Scores to plot: `raw` rows (one per scored window) or `buckets` of `bucket_s` seconds."""

    frame: pd.DataFrame  # SERIES_COLUMNS; threshold only for raw rows, max_score only for buckets
    source: Literal["raw", "buckets"]
    bucket_s: int
    truncated: bool

    def caption(self) -> str:
        """One line telling the operator what the chart shows."""
        if self.source == "raw":
            text = f"Every scored window ({len(self.frame):,} rows from `scores`)."
            if self.truncated:
                text += " Only the first rows of the range are shown: narrow the range to see the rest."
            return text
        return (
            f"Mean and maximum score per {duration(self.bucket_s)} ({len(self.frame):,} buckets): minutes "
            "past retention from `score_rollups`, the rest aggregated from `scores` in the database."
        )


def score_series(
    conn: Connection,
    asset: str,
    start: datetime,
    end: datetime,
    *,
    raw_max_span: timedelta = RAW_MAX_SPAN,
    raw_rows: int = RAW_ROWS,
    points: int = POINTS,
) -> ScoreSeries:
    """The scores of `asset` in [start, end]: raw rows for short ranges, buckets otherwise (or when
    the raw rows of a short range are gone, rolled up by retention)."""
    if end - start <= raw_max_span:
        frame = _raw(conn, asset, start, end, raw_rows)
        if not frame.empty:
            return ScoreSeries(frame, "raw", 0, len(frame) >= raw_rows)
    bucket_s = bucket_seconds(end - start, points)
    return ScoreSeries(_buckets(conn, asset, start, end, bucket_s, points), "buckets", bucket_s, False)


def bucket_seconds(span: timedelta, points: int) -> int:
    """Whole minutes per bucket (so per-minute roll-ups fall into one bucket each), ~`points` buckets."""
    return 60 * max(1, math.ceil(span.total_seconds() / points / 60))


def _raw(conn: Connection, asset: str, start: datetime, end: datetime, limit: int) -> pd.DataFrame:
    rows = conn.execute(
        sa.select(Score.ts, Score.score, Score.threshold, Score.anomaly)
        .where(Score.asset == asset, Score.ts >= start, Score.ts <= end)
        .order_by(Score.ts)
        .limit(limit)
    ).all()
    frame = pd.DataFrame(
        [(r.ts, r.score, r.score, r.threshold, int(r.anomaly), 1) for r in rows], columns=SERIES_COLUMNS
    )
    return frame


def _buckets(
    conn: Connection, asset: str, start: datetime, end: datetime, bucket_s: int, points: int
) -> pd.DataFrame:
    """Raw scores and roll-ups summed per bucket in SQL, merged here (a minute is in one or the other,
    or in both when a late score arrived after its minute was rolled up)."""
    postgres = conn.dialect.name == "postgresql"
    raw_bucket = bucket_column(Score.ts, bucket_s, postgres)
    raw = conn.execute(
        sa.select(
            raw_bucket,
            sa.func.count().label("n"),
            sa.func.sum(Score.score).label("total"),
            sa.func.max(Score.score).label("max_score"),
            sa.func.sum(sa.case((Score.anomaly, 1), else_=0)).label("anomalies"),
        )
        .where(Score.asset == asset, Score.ts >= start, Score.ts <= end)
        .group_by("bucket")
        .order_by("bucket")
        .limit(points + 2)
    ).all()
    rolled = conn.execute(
        sa.select(
            bucket_column(ScoreRollup.minute, bucket_s, postgres),
            sa.func.sum(ScoreRollup.count).label("n"),
            sa.func.sum(ScoreRollup.mean_score * ScoreRollup.count).label("total"),
            sa.func.max(ScoreRollup.max_score).label("max_score"),
            sa.func.sum(ScoreRollup.anomalies).label("anomalies"),
        )
        .where(ScoreRollup.asset == asset, ScoreRollup.minute >= start, ScoreRollup.minute <= end)
        .group_by("bucket")
        .order_by("bucket")
        .limit(points + 2)
    ).all()
    merged: dict[int, list[float]] = {}
    for row in [*raw, *rolled]:
        count, total, peak, anomalies = merged.get(int(row.bucket), [0, 0.0, -math.inf, 0])
        merged[int(row.bucket)] = [
            count + row.n,
            total + row.total,
            max(peak, row.max_score),
            anomalies + row.anomalies,
        ]
    return pd.DataFrame(
        [
            (datetime.fromtimestamp(b * bucket_s, UTC), total / count, peak, math.nan, int(anom), int(count))
            for b, (count, total, peak, anom) in sorted(merged.items())
        ],
        columns=SERIES_COLUMNS,
    )


def bucket_column(ts: Any, bucket_s: int, postgres: bool) -> Any:
    """Bucket number = whole seconds since the epoch // bucket_s (a literal: GROUP BY repeats it)."""
    width: Any = sa.literal_column(str(int(bucket_s)))
    seconds: Any
    if postgres:
        seconds = sa.func.floor(sa.extract("epoch", ts))
    else:  # SQLite keeps naive UTC text; strftime('%s') reads it as UTC
        seconds = sa.cast(sa.func.strftime(sa.literal_column("'%s'"), ts), sa.Integer)
    return sa.cast(sa.func.floor(seconds / width), sa.BigInteger).label("bucket")


def contribution_frame(
    conn: Connection,
    asset: str,
    start: datetime,
    end: datetime,
    limit: int = CONTRIBUTION_ROWS,
    *,
    newest: bool = False,
) -> tuple[pd.DataFrame, bool]:
    """Per-channel contributions of the scores in [start, end] (rows by time, one column per channel)
    and whether `limit` cut it: the first rows of the range, or the last ones when `newest`."""
    order = Score.ts.desc() if newest else Score.ts
    rows = conn.execute(
        sa.select(Score.ts, Score.contributions)
        .where(Score.asset == asset, Score.ts >= start, Score.ts <= end)
        .order_by(order)
        .limit(limit)
    ).all()
    frame = pd.DataFrame([row.contributions or {} for row in rows], index=[row.ts for row in rows])
    return frame.sort_index(), len(rows) >= limit


def channel_ranking(contributions: pd.DataFrame) -> pd.Series:
    """Mean contribution per channel, largest first: the channels that moved the score most."""
    if contributions.empty:
        return pd.Series(dtype=float)
    return contributions.mean().sort_values(ascending=False)
