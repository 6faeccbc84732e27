"""Retention on SQLite and PostgreSQL: old scores fold into per-minute roll-ups, old dead letters go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.settings import RetentionSettings
from monitor.store.records import DeadLetterRecord, ScoreRecord
from monitor.store.retention import apply_retention
from monitor.store.tables import Asset, DeadLetter, Inspection, Score, ScoreRollup
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
