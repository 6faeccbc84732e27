"""Commissioning: an asset without a model is baselined, trained in the background, then scored."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemon_helpers import (
    Publisher,
    count,
    daemon_settings,
    install_model,
    query,
    reading,
    running,
    tiny_model,
    wait_for,
)

from monitor.commissioning import ABANDONED_S, Commissioner
from monitor.ingest.schemas import InvalidMessage, SensorReading
from monitor.store.db import create_engine_for
from monitor.store.migrate import upgrade


def test_new_asset_is_trained_from_its_baseline_and_then_scored(
    tmp_path: Path, sqlite_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """64 baseline readings train and activate a model; the readings after it are scored with it."""
    settings = daemon_settings(tmp_path, sqlite_url, mqtt_broker, topic_prefix, mqtt={"receiver": "thread"})
    upgrade(sqlite_url)
    topic = f"{topic_prefix}/site1/newpump/sensors"
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings) as daemon:
            publisher.publish_many(topic, [reading(i) for i in range(64)])
            assert daemon.worker is not None
            assert wait_for(lambda: "newpump" in daemon.worker.model_versions(), timeout=60)
            assert count(sqlite_url, "scores") == 0
            publisher.publish_many(topic, [reading(i) for i in range(64, 84)])
            assert wait_for(lambda: count(sqlite_url, "scores") == 20 - 7)
    finally:
        publisher.close()
    [(version, path, active)] = query(sqlite_url, "SELECT version, path, active FROM model_versions")
    assert active and Path(path) == (settings.models.store / "newpump" / version).resolve()
    assert (Path(path) / "card.json").is_file() and (Path(path) / "weights.pt").is_file()
    assert {row[0] for row in query(sqlite_url, "SELECT model_version FROM scores")} == {version}


def test_asset_whose_active_model_cannot_load_is_not_retrained(
    tmp_path: Path, sqlite_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """A registered model missing on disk is an operator's problem: no silent new baseline model."""
    settings = daemon_settings(tmp_path, sqlite_url, mqtt_broker, topic_prefix, mqtt={"receiver": "thread"})
    model = tiny_model()
    install_model(settings, ["pump1"], model)
    shutil.rmtree(settings.models.store / "pump1")
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings) as daemon:
            publisher.publish_many(f"{topic_prefix}/site1/pump1/sensors", [reading(i) for i in range(70)])
            assert daemon.commissioner is not None
            assert wait_for(lambda: daemon.inbox.accepted == 70 and len(daemon.inbox) == 0)
            daemon.commissioner.wait(60)
            assert daemon.commissioner.pending() == {}
    finally:
        publisher.close()
    assert count(sqlite_url, "model_versions") == 1
    assert count(sqlite_url, "scores") == 0


def test_new_assets_beyond_the_commissioning_limit_are_dead_letters_until_a_slot_frees(
    tmp_path: Path, sqlite_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """With one slot, a second new asset is refused (not stored as an asset) while the first collects,
    and is collected once the first has its model."""
    settings = daemon_settings(
        tmp_path,
        sqlite_url,
        mqtt_broker,
        topic_prefix,
        mqtt={"receiver": "thread"},
        sensors={"max_commissioning": 1},
    )
    upgrade(sqlite_url)
    first, second = (f"{topic_prefix}/site1/{name}/sensors" for name in ("pump1", "pump2"))
    publisher = Publisher(mqtt_broker)
    try:
        with running(settings) as daemon:
            assert daemon.worker is not None and daemon.commissioner is not None
            publisher.publish_many(first, [reading(i) for i in range(10)])
            publisher.publish_many(second, [reading(i) for i in range(5)])
            assert wait_for(lambda: count(sqlite_url, "dead_letters") == 5)
            assert daemon.commissioner.pending() == {"pump1": 10}
            assert [row.name for row in query(sqlite_url, "SELECT name FROM assets")] == ["pump1"]
            publisher.publish_many(first, [reading(i) for i in range(10, 64)])
            assert wait_for(lambda: "pump1" in daemon.worker.model_versions(), timeout=60)
            publisher.publish_many(second, [reading(i) for i in range(5, 8)])
            assert wait_for(lambda: daemon.commissioner.pending() == {"pump2": 3})
    finally:
        publisher.close()
    reasons = {row.reason for row in query(sqlite_url, "SELECT reason FROM dead_letters")}
    assert reasons == {
        "commissioning_full: new assets collecting a baseline: 1 (sensors.max_commissioning 1)"
    }


def test_an_abandoned_baseline_makes_way_for_a_new_asset_at_the_limit(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A name silent for a day no longer holds its place; one heard within the day still does."""
    settings = daemon_settings(
        tmp_path, sqlite_url, ("127.0.0.1", 1883), "c", sensors={"max_commissioning": 1}
    )
    upgrade(sqlite_url)
    engine = create_engine_for(sqlite_url)
    now = [0.0]
    commissioner = Commissioner(settings, engine, lambda asset, model: None, clock=lambda: now[0])
    try:
        commissioner.collect([_reading("test_topic")])
        now[0] = ABANDONED_S - 1
        with pytest.raises(InvalidMessage, match="commissioning_full"):
            commissioner.collect([_reading("pump1")])
        now[0] = ABANDONED_S + 1
        commissioner.collect([_reading("pump1")])
        assert commissioner.pending() == {"pump1": 1}
    finally:
        commissioner.close()
        engine.dispose()


def _reading(asset: str) -> SensorReading:
    values = reading(0)["values"]
    return SensorReading("site1", asset, datetime.now(UTC), values)


def test_a_first_reading_with_other_channels_does_not_decide_the_baseline(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The first message carries an extra boot counter the gateway never sends again: once the
    readings without it outnumber it, the baseline starts again with their channels and fills."""
    settings = daemon_settings(tmp_path, sqlite_url, ("127.0.0.1", 1883), "c")  # 64 readings a baseline
    upgrade(sqlite_url)
    engine = create_engine_for(sqlite_url)
    commissioner = Commissioner(settings, engine, lambda asset, model: None)
    try:
        first = _reading("pump1")
        commissioner.collect([SensorReading("site1", "pump1", first.ts, {**first.values, "boot_count": 1.0})])
        commissioner.collect([_reading("pump1") for _ in range(2)])
        assert commissioner.pending() == {"pump1": 1}  # restarted with the plain channels
        commissioner.collect([_reading("pump1") for _ in range(62)])
        assert commissioner.pending() == {"pump1": 63}  # filling, one short of training
    finally:
        commissioner.close()
        engine.dispose()


def test_a_training_in_progress_does_not_keep_a_stopped_daemon_s_process_alive(tmp_path: Path) -> None:
    """The process ends when the daemon has stopped, not when a baseline training finishes (which
    could take longer than systemd's stop timeout and be killed mid-save anyway)."""
    script = tmp_path / "stop.py"
    script.write_text(
        "import time\n"
        "from datetime import UTC, datetime\n"
        "from monitor.commissioning import Commissioner\n"
        "from monitor.ingest.schemas import SensorReading\n"
        "from monitor.settings import Settings\n"
        "from monitor.store.db import create_engine_for\n"
        "from monitor.store.migrate import upgrade\n"
        f"url = 'sqlite:///{tmp_path}/c.db'\n"
        "upgrade(url)\n"
        "Commissioner._commission = lambda self, *job: time.sleep(30)  # a long training\n"
        "settings = Settings(sensors={'baseline_readings': 64})\n"
        "commissioner = Commissioner(settings, create_engine_for(url), print)\n"
        "now = datetime.now(UTC)\n"
        "commissioner.collect([SensorReading('s1', 'pump1', now, {'p': 1.0}) for _ in range(64)])\n"
        "time.sleep(0.5)\n"
        "commissioner.close()\n"
    )
    started = time.monotonic()
    subprocess.run([sys.executable, str(script)], check=True, cwd=Path(__file__).parents[1], timeout=60)
    assert time.monotonic() - started < 10
