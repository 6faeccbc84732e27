"""Retention: keep the database (and artifact directory) from growing without bound.

Raw scores older than `raw_scores_days` are folded into per-asset, per-minute `score_rollups`
(count, mean, max, anomalies) and then deleted, in one transaction per asset. Folding merges into an
existing minute, so a late score for an already rolled-up minute is counted, and a rerun changes
nothing. Old dead letters are deleted; old inspection artifacts (images, heatmaps, masks) are
removed from disk and their paths cleared, the inspection rows themselves are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from monitor.settings import RetentionSettings
from monitor.store.tables import Asset, DeadLetter, Inspection, Score, ScoreRollup, UtcDateTime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionResult:
    scores_rolled_up: int  # raw score rows folded into roll-ups and deleted
    rollup_minutes: int  # roll-up rows inserted or merged into
    dead_letters_deleted: int
    artifacts_removed: int  # files deleted from disk


def apply_retention(engine: Engine, retention: RetentionSettings, now: datetime) -> RetentionResult:
    """Apply every retention rule as of `now` (timezone-aware) and report what was removed."""
    scores_cutoff = now - timedelta(days=retention.raw_scores_days)
    rolled = minutes = 0
    with engine.connect() as conn:
        assets = list(conn.execute(sa.select(Asset.name)).scalars())
    for asset in assets:
        moved, merged = _roll_up_asset(engine, asset, scores_cutoff)
        rolled += moved
        minutes += merged
    with engine.begin() as conn:
        dead = conn.execute(
            sa.delete(DeadLetter).where(
                DeadLetter.received_at < now - timedelta(days=retention.dead_letters_days)
            )
        ).rowcount
        artifacts = _remove_artifacts(conn, now - timedelta(days=retention.artifacts_days))
    result = RetentionResult(rolled, minutes, max(dead, 0), artifacts)
    log.info("retention: %s", result)
    return result


def _roll_up_asset(engine: Engine, asset: str, cutoff: datetime) -> tuple[int, int]:
    """Fold one asset's old scores into roll-ups and delete them; returns (rows, minutes)."""
    postgres = engine.dialect.name == "postgresql"
    # One snapshot for the aggregate and the delete, so a score committed in between is neither
    # deleted unrolled nor counted twice (SQLite's single writer lock gives the same).
    options: dict[str, Any] = {"isolation_level": "REPEATABLE READ"} if postgres else {}
    old = sa.and_(Score.asset == asset, Score.ts < cutoff)
    with engine.connect().execution_options(**options) as conn, conn.begin():
        minute = _minute(Score.ts, postgres).label("minute")
        groups = conn.execute(
            sa.select(
                minute,
                sa.func.count().label("count"),
                sa.func.avg(Score.score).label("mean_score"),
                sa.func.max(Score.score).label("max_score"),
                sa.func.sum(sa.case((Score.anomaly, 1), else_=0)).label("anomalies"),
            )
            .where(old)
            .group_by(minute)
        ).all()
        if not groups:
            return 0, 0
        _merge_rollups(conn, asset, [row._asdict() for row in groups], postgres)
        deleted = conn.execute(sa.delete(Score).where(old)).rowcount
    return deleted, len(groups)


def _minute(ts: Any, postgres: bool) -> Any:
    """The UTC minute a timestamp falls in, as the same type the roll-up's `minute` column stores."""
    # Literal SQL, not bound parameters: GROUP BY must repeat the very same expression.
    if postgres:
        return sa.func.date_trunc(
            sa.literal_column("'minute'"), ts, sa.literal_column("'UTC'"), type_=UtcDateTime()
        )
    # SQLite keeps naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff"; keep that exact form so it compares.
    return sa.func.strftime(sa.literal_column("'%Y-%m-%d %H:%M:00.000000'"), ts, type_=UtcDateTime())


def _merge_rollups(conn: Connection, asset: str, groups: list[dict[str, Any]], postgres: bool) -> None:
    insert = (postgresql.insert if postgres else sqlite.insert)(ScoreRollup)
    new = insert.excluded
    total = ScoreRollup.count + new.count
    bigger = sa.func.greatest if postgres else sa.func.max  # SQLite's two-argument max() is scalar
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["asset", "minute"],
            set_={
                "count": total,
                "mean_score": (ScoreRollup.mean_score * ScoreRollup.count + new.mean_score * new.count)
                / total,
                "max_score": bigger(ScoreRollup.max_score, new.max_score),
                "anomalies": ScoreRollup.anomalies + new.anomalies,
            },
        ),
        [{"asset": asset, **group} for group in groups],
    )


def _remove_artifacts(conn: Connection, cutoff: datetime) -> int:
    """Delete old inspection images/heatmaps/masks from disk and clear their paths."""
    path_columns = (Inspection.image_path, Inspection.heatmap_path, Inspection.mask_path)
    rows = conn.execute(
        sa.select(Inspection.id, *path_columns).where(
            Inspection.ts < cutoff, sa.or_(*(column.is_not(None) for column in path_columns))
        )
    ).all()
    removed = 0
    for row in rows:
        for path in (row.image_path, row.heatmap_path, row.mask_path):
            if path is None:
                continue
            try:
                Path(path).unlink(missing_ok=True)
                removed += 1
            except OSError as exc:
                log.warning("retention: cannot remove artifact %s: %s", path, exc)
    if rows:
        conn.execute(
            sa.update(Inspection)
            .where(Inspection.id.in_([row.id for row in rows]))
            .values(image_path=None, heatmap_path=None, mask_path=None)
        )
    return removed
