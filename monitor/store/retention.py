"""Retention: keep the database (and artifact directory) from growing without bound.

Raw scores older than `raw_scores_days` are folded into per-asset, per-minute `score_rollups`
(count, mean, max, anomalies) and then deleted, in one transaction per asset. Folding merges into an
existing minute, so a late score for an already rolled-up minute is counted, and a rerun changes
nothing. Old dead letters are deleted; old inspection artifacts (images, heatmaps, masks) are
removed from disk and their paths cleared; inspection rows older than `inspections_days` are
deleted (never one that still names a file), and so are alerts resolved more than `alerts_days`
ago, with their audit trail, raw readings and notifications. Artifacts, inspections and alerts go
in chunks of rows, one transaction each; a file that cannot be deleted keeps its path and is tried
again on the next run, and date folders left empty are removed. Day folders a day past the
artifact cutoff are then swept of artifact files that no row named.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from monitor.settings import RetentionSettings
from monitor.store.tables import (
    Alert,
    AlertEvent,
    AlertReading,
    Asset,
    DeadLetter,
    Inspection,
    Outbox,
    Score,
    ScoreRollup,
    UtcDateTime,
)

log = logging.getLogger(__name__)

ARTIFACT_CHUNK = 5_000  # inspection rows whose files are removed per transaction
ALERT_CHUNK = 200  # alerts deleted per transaction (each with up to 1,500 readings)
_PATH_KEYS = ("image_path", "heatmap_path", "mask_path")  # the inspection columns naming files
_DATE_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")  # `<camera>/<YYYY-MM-DD>/` in the artifact layout
_ARTIFACT_FILE = re.compile(r".+_(image|heatmap|mask)\.png")  # monitor/artifacts.py's file names
STRAY_GRACE = timedelta(days=1)  # a day folder is swept once all its frames are a day past the cutoff


@dataclass(frozen=True)
class RetentionResult:
    scores_rolled_up: int  # raw score rows folded into roll-ups and deleted
    rollup_minutes: int  # roll-up rows inserted or merged into
    dead_letters_deleted: int
    artifacts_removed: int  # files deleted from disk
    artifacts_kept: int  # files that could not be deleted; their paths stay for the next run
    inspections_deleted: int
    alerts_deleted: int  # resolved alerts, with their events, readings and outbox rows
    stray_files_removed: int  # artifact files no row named (its row was never stored)


def apply_retention(
    engine: Engine, retention: RetentionSettings, now: datetime, artifact_roots: Iterable[Path] = ()
) -> RetentionResult:
    """Apply every retention rule as of `now` (timezone-aware) and report what was removed;
    `artifact_roots`: the cameras' artifact directories, swept for files no row named."""
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
    # After the dead letters' own commit: a problem with the artifacts cannot undo that deletion.
    artifacts_cutoff = now - timedelta(days=retention.artifacts_days)
    removed, kept = _remove_artifacts(engine, artifacts_cutoff, ARTIFACT_CHUNK)
    strays = sum(_sweep_strays(root, artifacts_cutoff) for root in set(artifact_roots))
    inspections = 0
    if retention.inspections_days is not None:
        inspections = _delete_inspections(
            engine, now - timedelta(days=retention.inspections_days), ARTIFACT_CHUNK
        )
    alerts = 0
    if retention.alerts_days is not None:
        alerts = _delete_alerts(engine, now - timedelta(days=retention.alerts_days), ALERT_CHUNK)
    result = RetentionResult(rolled, minutes, max(dead, 0), removed, kept, inspections, alerts, strays)
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


def _remove_artifacts(engine: Engine, cutoff: datetime, chunk: int) -> tuple[int, int]:
    """Delete old inspection images/heatmaps/masks from disk and clear their paths; returns
    (files removed, files that could not be removed).

    A chunk of rows at a time, each chunk cleared in its own transaction, so no statement grows
    with the backlog (psycopg refuses more than 65,535 parameters) and a failure keeps the work of
    the chunks before it. A path is cleared once its file is gone (removed now, or already
    missing); a file that cannot be removed keeps its path, so the next run tries again.
    """
    path_columns = [getattr(Inspection, key) for key in _PATH_KEYS]
    # The condition of the partial index ix_inspections_with_files_ts, so that index serves it.
    expired = sa.and_(sa.or_(*(column.is_not(None) for column in path_columns)), Inspection.ts < cutoff)
    removal = _Removal()
    after: tuple[datetime, int] | None = None
    while True:
        # Keyset paging on (ts, id): rows whose files could not be removed still match
        # `expired`, so an offset-free "next chunk" must start after the last row seen.
        query = sa.select(Inspection.id, Inspection.ts, *path_columns).where(expired)
        if after is not None:
            ts, row_id = after
            query = query.where(
                sa.or_(Inspection.ts > ts, sa.and_(Inspection.ts == ts, Inspection.id > row_id))
            )
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(Inspection.ts, Inspection.id).limit(chunk)).all()
        if not rows:
            break
        after = (rows[-1].ts, rows[-1].id)
        _remove_chunk(engine, rows, removal)
        if len(rows) < chunk:
            break
    removal.prune_folders()
    removal.report()
    return removal.removed, removal.failed


def _sweep_strays(root: Path, cutoff: datetime) -> int:
    """Delete artifact files in `<root>/<camera>/<YYYY-MM-DD>/` folders a day older than `cutoff`.

    Files are written before their row is stored, so a row that never was (a redelivery on another
    day, a crash, a rejected row) leaves files no path names, which `_remove_artifacts` cannot
    find. Every row of such a day is past the cutoff, so its named files are gone already; only
    file names of the artifact layout are touched, and folders left empty are removed.
    """
    last_day = (cutoff - STRAY_GRACE).date()
    removal = _Removal()  # a file it cannot delete is tried again at the next run
    cameras = [folder for folder in root.iterdir() if folder.is_dir()] if root.is_dir() else []
    for camera in cameras:
        for day in camera.iterdir():
            if day.is_dir() and _DATE_FOLDER.fullmatch(day.name) and date.fromisoformat(day.name) < last_day:
                for path in day.iterdir():
                    if _ARTIFACT_FILE.fullmatch(path.name):
                        removal.remove(path)
                removal.note_folder(day)  # swept of strays, so pruned even when it held none
    removal.prune_folders()
    if removal.removed:
        log.info("retention: %d artifact file(s) no inspection row named were removed", removal.removed)
    return removal.removed


def _delete_alerts(engine: Engine, cutoff: datetime, chunk: int) -> int:
    """Delete alerts resolved before `cutoff` with their audit trail, readings and notifications,
    a chunk per transaction (the (state, opened_at) index: an alert resolved then opened before)."""
    deleted = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    sa.select(Alert.id)
                    .where(Alert.state == "resolved", Alert.opened_at < cutoff, Alert.resolved_at < cutoff)
                    .limit(chunk)
                ).scalars()
            )
            if ids:
                for table in (AlertEvent, AlertReading, Outbox):
                    conn.execute(sa.delete(table).where(table.alert_id.in_(ids)))
                conn.execute(sa.delete(Alert).where(Alert.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < chunk:
            return deleted


def _delete_inspections(engine: Engine, cutoff: datetime, chunk: int) -> int:
    """Delete inspection rows older than `cutoff` that name no file, camera by camera (the
    (camera, ts) index) and a chunk per transaction; returns how many."""
    with engine.connect() as conn:
        cameras = list(conn.execute(sa.select(Asset.name).where(Asset.kind == "camera")).scalars())
    no_files = [getattr(Inspection, key).is_(None) for key in _PATH_KEYS]
    deleted = 0
    for camera in cameras:
        while True:
            with engine.begin() as conn:
                ids = list(
                    conn.execute(
                        sa.select(Inspection.id)
                        .where(Inspection.camera == camera, Inspection.ts < cutoff, *no_files)
                        .order_by(Inspection.ts)
                        .limit(chunk)
                    ).scalars()
                )
                if ids:
                    conn.execute(sa.delete(Inspection).where(Inspection.id.in_(ids)))
            deleted += len(ids)
            if len(ids) < chunk:
                break
    return deleted


def _remove_chunk(engine: Engine, rows: Sequence[sa.Row[Any]], removal: _Removal) -> None:
    """Delete one chunk's files, then clear in one transaction exactly the paths whose file is gone."""
    cleared: list[int] = []
    partly: list[tuple[int, dict[str, None]]] = []
    for row in rows:
        stored = {key: path for key in _PATH_KEYS if (path := row._mapping[key]) is not None}
        gone = {key: None for key, path in stored.items() if removal.remove(Path(path))}
        if len(gone) == len(stored):
            cleared.append(row.id)
        elif gone:
            partly.append((row.id, gone))
    with engine.begin() as conn:
        if cleared:
            conn.execute(
                sa.update(Inspection).where(Inspection.id.in_(cleared)).values(dict.fromkeys(_PATH_KEYS))
            )
        for row_id, values in partly:
            conn.execute(sa.update(Inspection).where(Inspection.id == row_id).values(values))


class _Removal:
    """Deletes artifact files for one retention run, remembers their folders, and tallies failures
    so a broken mount logs one line per run instead of one per file."""

    def __init__(self) -> None:
        self.removed = 0
        self.failed = 0
        self._first_failure = ""
        self._folders: set[Path] = set()

    def remove(self, path: Path) -> bool:
        """Delete one file; True when it is gone (removed now or already missing)."""
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.failed += 1
            self._first_failure = self._first_failure or f"{path}: {exc}"
            return False
        else:
            self.removed += 1
        self.note_folder(path.parent)
        return True

    def note_folder(self, folder: Path) -> None:
        """A `<camera>/<YYYY-MM-DD>/` folder to remove (with its camera folder) if left empty."""
        self._folders.add(folder)

    def prune_folders(self) -> None:
        """Remove `<camera>/<YYYY-MM-DD>/` folders left empty, then camera folders left empty.

        Only folders named like a date (the layout of monitor/artifacts.py) and their parents are
        touched, and only when empty, so a path stored elsewhere never takes a folder with it.
        """
        for folder in sorted(self._folders):
            if not _DATE_FOLDER.fullmatch(folder.name):
                continue
            for empty in (folder, folder.parent):
                try:
                    empty.rmdir()
                except OSError:  # not empty (a newer frame, a failed removal) or already gone
                    break

    def report(self) -> None:
        if self.failed:
            log.warning(
                "retention: %d artifact file(s) could not be removed, their paths are kept for the next"
                " run (first: %s)",
                self.failed,
                self._first_failure,
            )
