"""Retention on SQLite and PostgreSQL: old scores fold into per-minute roll-ups, old dead letters go."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from notify_helpers import seed_alert, seed_asset, seed_told
from sqlalchemy.engine import Engine

from monitor.artifacts import write_artifacts
from monitor.settings import RetentionSettings
from monitor.store import retention
from monitor.store.records import DeadLetterRecord, ScoreRecord
from monitor.store.retention import apply_retention
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
)
from monitor.store.writer import StoreWriter

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=40)  # older than the 30 days kept
SETTINGS = RetentionSettings(raw_scores_days=30, dead_letters_days=30, artifacts_days=30)


def write(engine: Engine, *records: ScoreRecord | DeadLetterRecord) -> None:
    writer = StoreWriter(engine, interval_s=0.01)
    writer.put_many(records)
    assert writer.close(timeout=10)


def score(ts: datetime, value: float) -> ScoreRecord:
    return ScoreRecord("pump1", ts, value, 1.0, value > 1.0, "v1", {"flow": value})


def rollups(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        query = sa.select(
            ScoreRollup.minute,
            ScoreRollup.count,
            ScoreRollup.mean_score,
            ScoreRollup.max_score,
            ScoreRollup.anomalies,
        ).order_by(ScoreRollup.minute)
        return [tuple(row) for row in conn.execute(query)]


def test_old_scores_roll_up_per_minute_and_recent_ones_stay(engine: Engine) -> None:
    """Scores older than the raw period become one row per minute; newer scores are untouched."""
    write(
        engine,
        score(OLD + timedelta(seconds=5), 0.5),
        score(OLD + timedelta(seconds=40), 2.5),
        score(OLD + timedelta(minutes=1, seconds=1), 1.0),
        score(NOW - timedelta(days=1), 0.2),
    )
    result = apply_retention(engine, SETTINGS, NOW)
    assert (result.scores_rolled_up, result.rollup_minutes) == (3, 2)
    assert rollups(engine) == [(OLD, 2, 1.5, 2.5, 1), (OLD + timedelta(minutes=1), 1, 1.0, 1.0, 0)]
    with engine.connect() as conn:
        assert list(conn.execute(sa.select(Score.ts)).scalars()) == [NOW - timedelta(days=1)]


def test_retention_twice_and_late_scores_merge_into_the_minute(engine: Engine) -> None:
    """A rerun changes nothing; a late score for a rolled-up minute is merged into that minute."""
    write(engine, score(OLD, 1.0), score(OLD + timedelta(seconds=10), 3.0))
    apply_retention(engine, SETTINGS, NOW)
    assert apply_retention(engine, SETTINGS, NOW).scores_rolled_up == 0
    write(engine, score(OLD + timedelta(seconds=20), 5.0))
    apply_retention(engine, SETTINGS, NOW)
    assert rollups(engine) == [(OLD, 3, 3.0, 5.0, 2)]


def test_old_dead_letters_and_artifacts_are_removed(engine: Engine, tmp_path: Path) -> None:
    """Dead letters past their period are deleted; old inspection files are deleted and their paths cleared."""
    write(
        engine,
        DeadLetterRecord("t", "bad JSON", b"{", 1, OLD),
        DeadLetterRecord("t", "bad JSON", b"{", 1, NOW),
    )
    image = tmp_path / "frame.png"
    image.write_bytes(b"png")
    with engine.begin() as conn:
        conn.execute(sa.insert(Asset).values(name="cam1", kind="camera", channels=[], created_at=OLD))
        conn.execute(
            sa.insert(Inspection).values(
                camera="cam1",
                ts=OLD,
                frame_key="f1",
                score=1.0,
                threshold=2.0,
                anomaly=False,
                image_path=str(image),
            )
        )
    result = apply_retention(engine, SETTINGS, NOW)
    assert (result.dead_letters_deleted, result.artifacts_removed) == (1, 1)
    assert not image.exists()
    with engine.connect() as conn:
        assert conn.execute(sa.select(DeadLetter.received_at)).scalars().all() == [NOW]
        assert conn.execute(sa.select(Inspection.image_path)).scalar_one() is None


def inspections(engine: Engine, *rows: tuple[datetime, str | None, str | None, str | None]) -> None:
    """Inspection rows of camera cam1 as (ts, image_path, heatmap_path, mask_path)."""
    with engine.begin() as conn:
        if conn.execute(sa.select(Asset.name).where(Asset.name == "cam1")).first() is None:
            conn.execute(sa.insert(Asset).values(name="cam1", kind="camera", channels=[], created_at=OLD))
        conn.execute(
            sa.insert(Inspection),
            [
                {
                    "camera": "cam1",
                    "ts": ts,
                    "frame_key": f"f{ts.timestamp()}",
                    "score": 1.0,
                    "threshold": 2.0,
                    "anomaly": False,
                    "image_path": image,
                    "heatmap_path": heatmap,
                    "mask_path": mask,
                }
                for ts, image, heatmap, mask in rows
            ],
        )


def stored_paths(engine: Engine) -> list[tuple[str | None, str | None, str | None]]:
    with engine.connect() as conn:
        query = sa.select(Inspection.image_path, Inspection.heatmap_path, Inspection.mask_path)
        return [tuple(row) for row in conn.execute(query.order_by(Inspection.ts))]


def files(folder: Path, *names: str) -> list[Path]:
    for name in names:
        (folder / name).write_bytes(b"png")
    return [folder / name for name in names]


def test_artifacts_of_more_rows_than_one_chunk_are_all_removed(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expired rows are worked through chunk by chunk; only files that existed count as removed."""
    monkeypatch.setattr(retention, "ARTIFACT_CHUNK", 2)
    paths = files(tmp_path, *(f"{i}_{kind}.png" for i in range(5) for kind in ("image", "heatmap")))
    rows = [(OLD + timedelta(seconds=i), str(paths[2 * i]), str(paths[2 * i + 1]), None) for i in range(5)]
    missing = (OLD + timedelta(seconds=5), str(tmp_path / "gone_image.png"), None, None)
    recent = (NOW, str(tmp_path / "recent.png"), None, None)
    inspections(engine, *rows, missing, recent)
    result = apply_retention(engine, SETTINGS, NOW)
    assert (result.artifacts_removed, result.artifacts_kept) == (10, 0)
    assert not any(path.exists() for path in paths)
    assert stored_paths(engine) == [(None, None, None)] * 6 + [(str(tmp_path / "recent.png"), None, None)]


def test_a_file_that_cannot_be_removed_keeps_its_path_for_the_next_run(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused deletion keeps that one path (the others of the row are cleared), logs one summary
    line, and the next run removes the file."""
    monkeypatch.setattr(retention, "ARTIFACT_CHUNK", 1)  # the next chunk starts past a row kept
    image, heatmap, other = files(tmp_path, "a_image.png", "a_heatmap.png", "b_image.png")
    inspections(
        engine, (OLD, str(image), str(heatmap), None), (OLD + timedelta(seconds=1), str(other), None, None)
    )
    unlink = Path.unlink

    def refuse(path: Path, missing_ok: bool = False) -> None:
        if path.name.endswith("image.png"):
            raise PermissionError(13, "Permission denied", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    with caplog.at_level(logging.WARNING, logger=retention.__name__):
        result = apply_retention(engine, SETTINGS, NOW)
    assert (result.artifacts_removed, result.artifacts_kept) == (1, 2)
    assert stored_paths(engine) == [(str(image), None, None), (str(other), None, None)]
    assert [record.getMessage().split(" (first")[0] for record in caplog.records] == [
        "retention: 2 artifact file(s) could not be removed, their paths are kept for the next run"
    ]
    monkeypatch.setattr(Path, "unlink", unlink)
    assert apply_retention(engine, SETTINGS, NOW).artifacts_removed == 2
    assert not image.exists() and not other.exists()
    assert stored_paths(engine) == [(None, None, None)] * 2


def test_folders_left_empty_are_removed(engine: Engine, tmp_path: Path) -> None:
    """Date folders emptied by retention go, and so does a camera folder left with none."""
    directory = tmp_path / "artifacts"
    frame = np.zeros((8, 8), dtype=np.float32)
    old = write_artifacts(directory, "cam1", "old", OLD, frame, frame)
    recent = write_artifacts(directory, "cam1", "recent", NOW, frame)
    other = write_artifacts(directory, "cam2", "old", OLD, frame)
    inspections(
        engine,
        (OLD, old.image, old.heatmap, None),
        (OLD + timedelta(seconds=1), other.image, None, None),
        (NOW, recent.image, None, None),
    )
    assert apply_retention(engine, SETTINGS, NOW).artifacts_removed == 3
    assert sorted(str(path.relative_to(directory)) for path in directory.rglob("*")) == [
        "cam1",
        "cam1/2026-11-23",
        "cam1/2026-11-23/recent_image.png",
    ]


def test_dead_letters_go_even_when_artifact_removal_fails(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dead letters are deleted in a transaction of their own, which an artifact error cannot undo."""
    write(engine, DeadLetterRecord("t", "bad JSON", b"{", 1, OLD))

    def broken(*_args: object) -> tuple[int, int]:
        raise OSError("artifact volume unreachable")

    monkeypatch.setattr(retention, "_remove_artifacts", broken)
    with pytest.raises(OSError, match="unreachable"):
        apply_retention(engine, SETTINGS, NOW)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(DeadLetter)).scalar_one() == 0


def test_old_inspections_are_deleted_but_never_one_that_still_names_a_file(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows older than inspections_days go, chunk by chunk; a row whose file could not be removed
    stays (its file would be lost to retention for ever); newer rows stay; null keeps every row."""
    monkeypatch.setattr(retention, "ARTIFACT_CHUNK", 2)
    (stuck,) = files(tmp_path, "stuck_image.png")
    old = [(OLD + timedelta(seconds=i), None, None, None) for i in range(5)]
    inspections(engine, *old, (OLD + timedelta(seconds=9), str(stuck), None, None), (NOW, None, None, None))
    unlink = Path.unlink

    def refuse(path: Path, missing_ok: bool = False) -> None:
        if path == stuck:
            raise PermissionError(13, "Permission denied", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    forever = SETTINGS.model_copy(update={"inspections_days": None})
    assert apply_retention(engine, forever, NOW).inspections_deleted == 0
    result = apply_retention(engine, SETTINGS.model_copy(update={"inspections_days": 30}), NOW)
    assert result.inspections_deleted == 5
    assert stored_paths(engine) == [(str(stuck), None, None), (None, None, None)]


def test_artifact_files_no_row_names_are_swept_once_their_day_is_past_the_cutoff(
    engine: Engine, tmp_path: Path
) -> None:
    """Files whose row was never stored (written first, then the row lost or a duplicate) go with
    their day folder a day after the cutoff; a newer day, and files not named like artifacts, stay."""
    root = tmp_path / "artifacts"
    old_day = root / "cam1" / (OLD - timedelta(days=2)).strftime("%Y-%m-%d")
    edge_day = root / "cam1" / (NOW - timedelta(days=30)).strftime("%Y-%m-%d")  # at the cutoff
    old_day.mkdir(parents=True)
    edge_day.mkdir(parents=True)
    files(old_day, "f1_image.png", "f1_heatmap.png", "f1_mask.png")
    (note,) = files(old_day, "README.txt")
    (recent,) = files(edge_day, "f2_image.png")
    result = apply_retention(engine, SETTINGS, NOW, [root])
    assert result.stray_files_removed == 3
    assert sorted(path.name for path in root.rglob("*") if path.is_file()) == ["README.txt", "f2_image.png"]
    assert note.exists() and recent.exists()
    note.unlink()
    assert apply_retention(engine, SETTINGS, NOW, [root]).stray_files_removed == 0
    assert not old_day.exists() and edge_day.exists()


def test_alerts_resolved_long_ago_go_with_their_trail_readings_and_notifications(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolved more than alerts_days ago: the alert, its events, raw readings and outbox rows are
    deleted, chunk by chunk; an open alert opened as long ago, and a recently resolved one, stay;
    null keeps them all."""
    monkeypatch.setattr(retention, "ALERT_CHUNK", 1)
    seed_asset(engine, "pump-3")
    for alert_id, state, resolved_at in (
        ("old1", "resolved", OLD),
        ("old2", "resolved", OLD),
        ("open", "open", None),
        ("recent", "resolved", NOW - timedelta(days=1)),
    ):
        seed_alert(engine, alert_id, state=state, opened_at=OLD, resolved_at=resolved_at)
        seed_told(engine, alert_id, "webhook", "ops")
        with engine.begin() as conn:
            conn.execute(
                sa.insert(AlertEvent).values(alert_id=alert_id, action="opened", actor="monitor", at=OLD)
            )
            conn.execute(sa.insert(AlertReading).values(alert_id=alert_id, ts=OLD, values={"p": 1.0}))
    forever = SETTINGS.model_copy(update={"alerts_days": None})
    assert apply_retention(engine, forever, NOW).alerts_deleted == 0
    assert apply_retention(engine, SETTINGS.model_copy(update={"alerts_days": 30}), NOW).alerts_deleted == 2
    with engine.connect() as conn:
        for table in (Alert, AlertEvent, AlertReading, Outbox):
            column = table.id if table is Alert else table.alert_id
            assert sorted(conn.execute(sa.select(column)).scalars()) == ["open", "recent"], table
