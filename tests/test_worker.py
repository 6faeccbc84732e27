"""The scoring worker on its own (no broker): hash partition, batching across assets, watchdog restart."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from daemon_helpers import (
    T0,
    WINDOW,
    count,
    daemon_settings,
    install_model,
    query,
    reading,
    tiny_model,
    wait_for,
)

from models.sensor_model import SensorModel
from monitor.alert_actions import unresolved_alerts
from monitor.ingest.inbox import Inbox
from monitor.metrics import Metrics
from monitor.pipeline.worker import ScoringWorker, owns_asset
from monitor.store.db import create_engine_for
from monitor.store.tables import Alert, AlertReading
from monitor.store.writer import StoreWriter


def test_hash_partition_gives_every_asset_to_exactly_one_worker() -> None:
    """Each asset belongs to one of N workers, always the same one, and the split is roughly even."""
    assets = [f"pump{i}" for i in range(400)]
    owners = [[index for index in range(4) if owns_asset(a, index, 4)] for a in assets]
    assert all(len(o) == 1 for o in owners)
    sizes = [sum(o == [index] for o in owners) for index in range(4)]
    assert min(sizes) > 60
    assert owners == [[index for index in range(4) if owns_asset(a, index, 4)] for a in assets]


def make_worker(
    tmp_path: Path, sqlite_url: str, **worker: int
) -> tuple[ScoringWorker, StoreWriter, SensorModel]:
    settings = daemon_settings(tmp_path, sqlite_url, ("127.0.0.1", 1883), "w", worker=worker)
    model = tiny_model()
    assets = [f"pump{i}" for i in range(6)]
    install_model(settings, assets, model)
    writer = StoreWriter(create_engine_for(sqlite_url), topic_prefix="w")
    worker_ = ScoringWorker(settings, Inbox(10_000), writer, Metrics())
    for asset in assets:
        worker_.assign_model(asset, model)
    return worker_, writer, model


def messages(assets: list[str], count_: int) -> list[tuple[str, bytes, float]]:
    return [
        (f"w/s1/{a}/sensors", json.dumps(reading(i)).encode(), time.time())
        for i in range(count_)
        for a in assets
    ]


def test_worker_scores_only_the_assets_it_owns(tmp_path: Path, sqlite_url: str) -> None:
    """With worker.count=2, assets hashed to the other worker are skipped, not scored or dead-lettered."""
    worker, writer, _ = make_worker(tmp_path, sqlite_url, index=0, count=2)
    assets = [f"pump{i}" for i in range(6)]
    mine = [a for a in assets if owns_asset(a, 0, 2)]
    assert 0 < len(mine) < len(assets)
    worker.inbox.put_many(messages(assets, 10))
    worker.start()
    assert wait_for(lambda: len(worker.inbox) == 0)
    worker.stop(5)
    writer.close(10)
    assert count(sqlite_url, "scores") == len(mine) * (10 - 7)
    assert count(sqlite_url, "dead_letters") == 0


def test_one_model_call_scores_the_windows_of_many_assets(tmp_path: Path, sqlite_url: str) -> None:
    """Assets sharing a model are scored in one score_windows call per batch."""
    worker, writer, model = make_worker(tmp_path, sqlite_url)
    calls: list[int] = []
    original = model.score_windows
    model.score_windows = lambda windows: calls.append(len(windows)) or original(windows)  # type: ignore[method-assign]
    worker.inbox.put_many(messages([f"pump{i}" for i in range(6)], 10))
    worker.start()
    assert worker.stop(10)
    writer.close(10)
    assert calls == [6 * 3]
    assert count(sqlite_url, "scores") == 18


def test_a_stopped_worker_drains_its_inbox_first(tmp_path: Path, sqlite_url: str) -> None:
    """stop() returns only after every queued message is processed."""
    worker, writer, _ = make_worker(tmp_path, sqlite_url)
    worker.inbox.put_many(messages(["pump0"], 50))
    worker.start()
    assert worker.stop(10)
    writer.close(10)
    assert len(worker.inbox) == 0
    assert count(sqlite_url, "scores") == 50 - 7


def test_raw_readings_around_an_alert_are_kept_with_it(tmp_path: Path, database_url: str) -> None:
    """The alert keeps the readings from before it opened and those while open, exactly as published."""
    settings = daemon_settings(tmp_path, database_url, ("127.0.0.1", 1883), "w", alerts={"k": 2, "n": 3})
    model = tiny_model()
    install_model(settings, ["pump1"], model)
    engine = create_engine_for(database_url)
    writer = StoreWriter(engine, topic_prefix="w")
    worker = ScoringWorker(settings, Inbox(10_000), writer, Metrics())
    worker.assign_model("pump1", model)
    published = [reading(i) for i in range(40)] + [reading(i, [50.0, -50.0, 80.0]) for i in range(40, 50)]
    worker.inbox.put_many([("w/s1/pump1/sensors", json.dumps(r).encode(), time.time()) for r in published])
    worker.start()
    assert wait_for(lambda: len(worker.inbox) == 0)
    worker.stop(5)
    writer.close(10)

    with engine.connect() as conn:
        alert_id = conn.execute(sa.select(Alert.id)).scalar_one()
        kept = conn.execute(
            sa.select(AlertReading.ts, AlertReading.values)
            .where(AlertReading.alert_id == alert_id)
            .order_by(AlertReading.ts)
        ).all()
    engine.dispose()
    expected = [(datetime.fromisoformat(r["ts"].replace("Z", "+00:00")), r["values"]) for r in published]
    assert [tuple(row) for row in kept] == expected


def _alerts(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(Alert.id, Alert.state))]  # type: ignore[misc]


def _feed(worker: ScoringWorker, first: int, last: int, abnormal: bool = False) -> None:
    """Readings first..last-1 of pump1, processed before returning; abnormal ones swing wildly
    (a steady offset would not do: the test data's slow channels are judged free of their level)."""
    payloads = [
        json.dumps(reading(i, [50.0 * (-1) ** i, -50.0 * (-1) ** i, 80.0 * (-1) ** i] if abnormal else None))
        for i in range(first, last)
    ]
    payloads = [payload.encode() for payload in payloads]
    worker.inbox.put_many([("w/s1/pump1/sensors", payload, time.time()) for payload in payloads])
    worker.start()
    assert wait_for(lambda: len(worker.inbox) == 0)
    assert worker.stop(5)


def test_an_open_alert_is_carried_over_a_model_swap(tmp_path: Path, sqlite_url: str) -> None:
    """A new model version takes the open alert over: no second alert, and it resolves when normal."""
    settings = daemon_settings(
        tmp_path, sqlite_url, ("127.0.0.1", 1883), "w", alerts={"k": 2, "n": 3, "resolve_after": 2}
    )
    first, second = tiny_model(), tiny_model(epochs=3)
    assert first.version != second.version
    install_model(settings, ["pump1"], first)
    engine = create_engine_for(sqlite_url)
    writer = StoreWriter(engine, topic_prefix="w")
    worker = ScoringWorker(settings, Inbox(10_000), writer, Metrics())
    worker.assign_model("pump1", first)
    _feed(worker, 0, 40)
    _feed(worker, 40, 50, abnormal=True)
    assert writer.flush(10) and [state for _, state in _alerts(engine)] == ["open"]
    worker.assign_model("pump1", second)
    _feed(worker, 50, 60, abnormal=True)
    _feed(worker, 60, 100)
    writer.close(10)
    assert [state for _, state in _alerts(engine)] == ["resolved"]
    engine.dispose()


def test_an_alert_open_at_a_restart_resolves_after_it(tmp_path: Path, sqlite_url: str) -> None:
    """A new worker resumes the stored open alert (`resume_alerts`) instead of leaving it open for ever."""
    settings = daemon_settings(
        tmp_path, sqlite_url, ("127.0.0.1", 1883), "w", alerts={"k": 2, "n": 3, "resolve_after": 2}
    )
    model = tiny_model()
    install_model(settings, ["pump1"], model)
    engine = create_engine_for(sqlite_url)
    writer = StoreWriter(engine, topic_prefix="w")
    before = ScoringWorker(settings, Inbox(10_000), writer, Metrics())
    before.assign_model("pump1", model)
    _feed(before, 0, 40)
    _feed(before, 40, 50, abnormal=True)
    assert writer.flush(10)
    (opened,) = _alerts(engine)
    after = ScoringWorker(settings, Inbox(10_000), writer, Metrics())
    after.resume_alerts(unresolved_alerts(engine))
    after.assign_model("pump1", model)
    _feed(after, 50, 60, abnormal=True)
    _feed(after, 60, 100)
    writer.close(10)
    assert _alerts(engine) == [(opened[0], "resolved")]
    engine.dispose()


def test_a_restart_keeps_the_recalibrated_threshold_of_the_same_model(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The recent normal scores are saved with the windows: after a restart the same model starts
    at the threshold its last recalibration reached, not at the training scores' one (another
    model version starts from its own training scores)."""
    settings = daemon_settings(tmp_path, sqlite_url, ("127.0.0.1", 1883), "w")
    model = tiny_model()
    install_model(settings, ["pump1"], model)
    engine = create_engine_for(sqlite_url)
    writer = StoreWriter(engine, topic_prefix="w")
    before = ScoringWorker(settings, Inbox(10_000), writer, Metrics())
    before.assign_model("pump1", model)
    _feed(before, 0, 300)
    before.request_recalibration()
    before._apply_requests()
    recalibrated = before._assets["pump1"].detector.threshold
    before.save_windows(tmp_path / "state", "i1")
    fresh = ScoringWorker(settings, Inbox(10_000), writer, Metrics())
    fresh.assign_model("pump1", model)
    fresh._apply_requests()
    assert fresh._assets["pump1"].detector.threshold != pytest.approx(recalibrated)
    for version, expected in ((model, recalibrated), (tiny_model(epochs=3), None)):
        before.save_windows(tmp_path / "state", "i1")
        after = ScoringWorker(settings, Inbox(10_000), writer, Metrics())
        assert after.restore_windows(tmp_path / "state", "i1") == 1
        after.assign_model("pump1", version)
        after._apply_requests()
        threshold = after._assets["pump1"].detector.threshold
        if expected is None:
            assert threshold != pytest.approx(recalibrated)
        else:
            assert threshold == pytest.approx(expected)
    writer.close(10)
    engine.dispose()


def _stored_times(url: str) -> list[int]:
    """Seconds after T0 of every stored score of pump1, in order."""
    rows = query(url, "SELECT ts FROM scores WHERE asset = 'pump1' ORDER BY ts")
    return [round((_aware(row[0]) - T0).total_seconds()) for row in rows]


def _aware(value: datetime | str) -> datetime:
    ts = datetime.fromisoformat(value) if isinstance(value, str) else value
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _pump1(worker: ScoringWorker, seconds: list[int]) -> None:
    worker.inbox.put_many(
        [("w/s1/pump1/sensors", json.dumps(reading(i)).encode(), time.time()) for i in seconds]
    )
    worker.start()
    assert worker.stop(10)


def test_a_replayed_backlog_beside_live_readings_goes_to_dead_letters(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A gateway replaying the readings it buffered in an outage among live ones: the old ones are
    dead letters (out_of_order, with the message), and the live stream is scored as if the replay
    had not happened."""
    worker, writer, _ = make_worker(tmp_path, sqlite_url)
    live, replayed = list(range(100, 140)), list(range(50, 60))
    interleaved = [*live[:20], *(x for pair in zip(replayed, live[20:30], strict=True) for x in pair)]
    _pump1(worker, [*interleaved, *live[30:]])
    writer.close(10)
    assert _stored_times(sqlite_url) == live[WINDOW - 1 :]
    reasons = query(sqlite_url, "SELECT reason, payload_head FROM dead_letters")
    assert len(reasons) == len(replayed)
    assert all(reason.startswith("out_of_order: 1 of 1 readings") for reason, _ in reasons)
    assert sorted(json.loads(head)["ts"] for _, head in reasons) == [reading(i)["ts"] for i in replayed]


def test_a_gap_starts_a_new_window(tmp_path: Path, sqlite_url: str) -> None:
    """After a long pause no window splices the readings before it to those after: scoring resumes
    once a fresh window has filled."""
    worker, writer, _ = make_worker(tmp_path, sqlite_url)
    before, after = list(range(30)), list(range(1000, 1030))
    _pump1(worker, [*before, *after])
    writer.close(10)
    assert _stored_times(sqlite_url) == [*before[WINDOW - 1 :], *after[WINDOW - 1 :]]


def test_a_restart_carries_the_window_on_unless_it_was_long(tmp_path: Path, sqlite_url: str) -> None:
    """A clean restart saves each asset's window and its times: readings just after the restart are
    scored at once, readings an hour later wait for a new window, and readings from before the
    restart are out of order."""
    worker, writer, model = make_worker(tmp_path, sqlite_url)
    _pump1(worker, list(range(30)))
    assert writer.flush(10)
    for seconds, scored in (
        (list(range(30, 40)), list(range(30, 40))),
        (list(range(3600, 3610)), list(range(3600 + WINDOW - 1, 3610))),
        (list(range(20, 30)), []),
    ):
        worker.save_windows(tmp_path / "state", "i1")
        worker = ScoringWorker(worker.settings, Inbox(10_000), writer, Metrics())
        worker.restore_windows(tmp_path / "state", "i1")
        worker.assign_model("pump1", model)
        stored = count(sqlite_url, "scores")
        _pump1(worker, seconds)
        assert writer.flush(10)
        assert _stored_times(sqlite_url)[stored:] == scored
    writer.close(10)
    assert count(sqlite_url, "dead_letters", "reason LIKE 'out_of_order: 1 of 1%'") == 10


def test_a_reading_sent_again_after_a_reconnect_is_dropped_quietly(tmp_path: Path, sqlite_url: str) -> None:
    """QoS 1 messages the broker sends again (in this batch or an earlier one) are counted, not dead
    letters, and the stream's scores are as if they had come once."""
    worker, writer, _ = make_worker(tmp_path, sqlite_url)
    _pump1(worker, [*range(30), 27, 28, 29, *range(30, 35), 33])
    writer.close(10)
    assert _stored_times(sqlite_url) == list(range(WINDOW - 1, 35))
    assert count(sqlite_url, "dead_letters") == 0
    assert worker.metrics.repeated._value.get() == 4
