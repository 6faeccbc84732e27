"""StoreWriter against SQLite and PostgreSQL: idempotent scores, alert upserts with outbox rows."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.settings import Settings
from monitor.store import migrate
from monitor.store.db import create_engine_for
from monitor.store.records import (
    AlertRecord,
    AlertState,
    AssetRecord,
    DeadLetterRecord,
    HeartbeatRecord,
    ScoreRecord,
    Severity,
    ThresholdRecord,
)
from monitor.store.tables import Alert, Asset, DeadLetter, Heartbeat, Outbox, Score, Threshold
from monitor.store.writer import StoreWriter, WriterClosed, contributions_json

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


@pytest.fixture
def writer(engine: Engine) -> Iterator[StoreWriter]:
    settings = Settings(database={"url": "sqlite://", "write_interval_s": 0.01})
    writer = StoreWriter.from_settings(engine, settings)
    yield writer
    writer.close(timeout=10)


def score(asset: str = "pump1", seconds: float = 0, value: float = 0.5) -> ScoreRecord:
    return ScoreRecord(
        asset=asset,
        ts=T0 + timedelta(seconds=seconds),
        score=value,
        threshold=1.0,
        anomaly=value > 1.0,
        model_version="v1",
        contributions={"flow": value * 0.75, "temp": value * 0.25},
    )


def alert(state: AlertState = AlertState.OPEN, value: float = 3.0, minutes: int = 0) -> AlertRecord:
    return AlertRecord(
        id="alert-1",
        asset="pump1",
        condition="score",
        state=state,
        severity=Severity.MAJOR,
        score=value,
        peak_score=value,
        threshold=1.0,
        top_channels=[{"name": "flow", "value": value * 0.75}],
        opened_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
        resolved_at=T0 + timedelta(minutes=minutes) if state is AlertState.RESOLVED else None,
    )


def test_same_score_twice_is_stored_once(engine: Engine, writer: StoreWriter) -> None:
    """A redelivered reading (same asset and ts) does not duplicate its score row."""
    writer.put(score())
    assert writer.flush(timeout=10)
    writer.put_many([score(), score(seconds=1)])
    assert writer.flush(timeout=10)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Score.ts, Score.score, Score.contributions).order_by(Score.ts)).all()
    assert [row.ts for row in rows] == [T0, T0 + timedelta(seconds=1)]
    assert rows[0].contributions == {"flow": 0.375, "temp": 0.125}
    assert writer.counts()["scores"] == 2


def test_stored_times_come_back_as_utc_aware(engine: Engine, writer: StoreWriter) -> None:
    """A score written with a +02:00 timestamp reads back as the same instant in UTC."""
    local = datetime(2026, 11, 23, 7, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    writer.put(ScoreRecord("pump1", local, 0.1, 1.0, False, "v1", {"flow": 0.1}))
    assert writer.flush(timeout=10)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(Score.ts)).scalar_one()
        found = conn.execute(sa.select(sa.func.count()).where(Score.ts == local)).scalar_one()
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == local and found == 1


def test_scores_create_their_asset(engine: Engine, writer: StoreWriter) -> None:
    """The first score of an unknown asset creates the asset row; an AssetRecord fills in its site."""
    writer.put(score(asset="fan7"))
    writer.put(AssetRecord(name="fan7", site="hall2", channels=["flow", "temp"]))
    assert writer.flush(timeout=10)
    with engine.connect() as conn:
        row = conn.execute(sa.select(Asset.name, Asset.site, Asset.kind, Asset.channels)).one()
    assert tuple(row) == ("fan7", "hall2", "sensor", ["flow", "temp"])


def test_alert_upsert_writes_outbox_row_each_change(engine: Engine, writer: StoreWriter) -> None:
    """Each alert change updates the one alert row and queues one notification with the alert JSON."""
    writer.put(AssetRecord(name="pump1", site="north"))
    writer.put(alert())
    writer.put(alert(state=AlertState.RESOLVED, value=0.5, minutes=5))
    assert writer.flush(timeout=10)
    with engine.connect() as conn:
        alerts = conn.execute(sa.select(Alert.id, Alert.state, Alert.score, Alert.resolved_at)).all()
        outbox = conn.execute(sa.select(Outbox).order_by(Outbox.id)).all()
    assert [tuple(a) for a in alerts] == [("alert-1", "resolved", 0.5, T0 + timedelta(minutes=5))]
    assert [(o.alert_id, o.channel, o.target, o.state) for o in outbox] == [
        ("alert-1", "mqtt", "plant/north/pump1/alerts", "pending")
    ] * 2
    first, last = (json.loads(o.payload) for o in outbox)
    assert first["state"] == "open" and last["state"] == "resolved"
    assert (
        last["opened_at"] == "2026-11-23T05:00:00.000Z" and last["updated_at"] == "2026-11-23T05:05:00.000Z"
    )
    assert first["top_channels"] == [{"name": "flow", "value": 2.25}]
    assert {"id", "asset", "severity", "score", "threshold"} <= first.keys()


def test_operator_acknowledgement_survives_pipeline_updates(engine: Engine, writer: StoreWriter) -> None:
    """An acknowledged alert stays acknowledged when the pipeline updates it, until it resolves."""
    writer.put(alert())
    assert writer.flush(timeout=10)
    with engine.begin() as conn:
        conn.execute(sa.update(Alert).values(state="acknowledged", acknowledged_by="ops"))
    writer.put(alert(value=5.0, minutes=1))
    assert writer.flush(timeout=10)
    with engine.connect() as conn:
        state, peak = conn.execute(sa.select(Alert.state, Alert.score)).one()
        payload = json.loads(conn.execute(sa.select(Outbox.payload).order_by(Outbox.id.desc())).first()[0])
    assert (state, peak, payload["state"]) == ("acknowledged", 5.0, "acknowledged")


def test_alert_and_outbox_commit_together(engine: Engine) -> None:
    """When the outbox insert fails, the alert row is not stored either (one transaction)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                sa.text("CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'no'); END")
            )
        else:
            conn.execute(sa.text("ALTER TABLE outbox ADD CONSTRAINT refuse CHECK (alert_id <> 'alert-1')"))
    writer = StoreWriter(engine, interval_s=0.01, retry_min_s=0.01)
    writer.put(alert())
    assert writer.close(timeout=10)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Alert)).scalar_one() == 0
    assert writer.counts()["rejected"] == 1


def test_thresholds_dead_letters_and_heartbeats_are_stored(engine: Engine, writer: StoreWriter) -> None:
    """Threshold history rows, dead letters (first 256 bytes kept) and one heartbeat per instance."""
    writer.put(ThresholdRecord("pump1", 1.5, "pot", {"risk": 1e-4}, T0))
    writer.put(DeadLetterRecord("plant/a/pump1/sensors", "bad JSON", b"x" * 1000, 1000, T0))
    writer.put(HeartbeatRecord("monitor-1", T0, {"scores": 1}))
    writer.put(HeartbeatRecord("monitor-1", T0 + timedelta(seconds=30), {"scores": 2}))
    assert writer.flush(timeout=10)
    with engine.connect() as conn:
        threshold = conn.execute(sa.select(Threshold.value, Threshold.method, Threshold.parameters)).one()
        letter = conn.execute(
            sa.select(DeadLetter.reason, DeadLetter.payload_head, DeadLetter.payload_size)
        ).one()
        beats = conn.execute(sa.select(Heartbeat.instance, Heartbeat.at, Heartbeat.stats)).all()
    assert tuple(threshold) == (1.5, "pot", {"risk": 1e-4})
    assert (letter.reason, len(letter.payload_head), letter.payload_size) == ("bad JSON", 256, 1000)
    assert [tuple(b) for b in beats] == [("monitor-1", T0 + timedelta(seconds=30), {"scores": 2})]


def test_bad_record_is_rejected_and_the_rest_stored(engine: Engine, writer: StoreWriter) -> None:
    """A NaN score is logged and counted as rejected; the other records of its batch are still written."""
    writer.put_many([score(seconds=0), score(seconds=1, value=float("nan")), score(seconds=2)])
    assert writer.flush(timeout=10)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Score)).scalar_one() == 2
    assert writer.counts()["rejected"] == 1


def test_on_committed_sees_records_after_commit(engine: Engine) -> None:
    """The callback runs once the batch is committed, so it can read the stored alert."""
    seen: list[int] = []

    def committed(records: Sequence[object]) -> None:
        with engine.connect() as conn:
            seen.append(conn.execute(sa.select(sa.func.count()).select_from(Alert)).scalar_one())

    writer = StoreWriter(engine, interval_s=0.01, on_committed=committed)
    writer.put(alert())
    writer.close(timeout=10)
    assert seen == [1]


def test_concurrent_producers_lose_nothing(engine: Engine, writer: StoreWriter) -> None:
    """Four threads putting scores at once: every score is stored exactly once."""

    def produce(asset: str) -> None:
        for start in range(0, 500, 50):
            writer.put_many(score(asset, seconds=i) for i in range(start, start + 50))

    threads = [threading.Thread(target=produce, args=(f"pump{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writer.flush(timeout=30)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Score)).scalar_one() == 2000


def test_put_after_close_is_refused(engine: Engine) -> None:
    """A closed writer says so instead of silently dropping records."""
    writer = StoreWriter(engine)
    writer.close(timeout=10)
    with pytest.raises(WriterClosed, match="closed"):
        writer.put(score())


def test_writer_retries_until_the_schema_exists(database_url: str) -> None:
    """Before migrations ran, batches are retried (not rejected) and stored once the tables exist."""
    engine = create_engine_for(database_url)
    writer = StoreWriter(engine, interval_s=0.01, retry_min_s=0.05, retry_max_s=0.1)
    writer.put(score())
    assert not writer.flush(timeout=0.3)
    migrate.upgrade(database_url)
    assert writer.flush(timeout=10)
    writer.close(timeout=10)
    engine.dispose()
    assert writer.counts()["retries"] >= 1 and writer.counts()["scores"] == 1
    assert writer.counts()["rejected"] == 0


def test_close_gives_up_on_an_unavailable_database_and_says_so(tmp_path: Path) -> None:
    """close(timeout) returns False and counts the records it could not write as lost."""
    writer = StoreWriter(
        create_engine_for(f"sqlite:///{tmp_path}/none.db"), interval_s=0.01, retry_min_s=0.05
    )
    writer.put_many([score(), score(seconds=1)])
    assert writer.close(timeout=0.3) is False
    assert writer.counts()["lost"] == 2 and writer.pending == 0


def test_contributions_json_is_compact_and_valid() -> None:
    """Contributions are stored as compact JSON with four significant digits, odd names escaped."""
    text = contributions_json({"flow": 0.123456789, 'we"ird%': 1e-7})
    assert text == '{"flow":0.1235,"we\\"ird%":1e-07}'
    assert json.loads(text) == {"flow": 0.1235, 'we"ird%': 1e-7}


def test_partial_batch_is_written_within_the_interval(engine: Engine, writer: StoreWriter) -> None:
    """A batch far below write_batch_rows is committed after write_interval_s, without a flush."""
    writer.put_many([score(seconds=i) for i in range(5)])
    deadline = time.monotonic() + 5
    stored = 0
    while time.monotonic() < deadline and stored < 5:
        time.sleep(0.02)
        with engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(Score)).scalar_one()
    assert stored == 5
