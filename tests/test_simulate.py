"""The synthetic plant: correlated channels, labelled faults, publishing to a real broker."""

from __future__ import annotations

import csv
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
import pandas as pd
import pytest
from conftest import unique_name
from paho.mqtt.enums import CallbackAPIVersion

from monitor import simulate
from monitor.cli.main import main

START = datetime(2026, 1, 1, tzinfo=UTC)


def _one_asset(schedule: str, seconds: float) -> tuple[simulate.Fault, pd.DataFrame]:
    faults = simulate.parse_schedule(schedule, ["pump-01"], START)
    frame = simulate.history(["pump-01"], seconds, seed=3, faults=faults, start=START)
    return faults[0], frame


def test_channels_follow_the_operating_point() -> None:
    """Flow, pressure, current and vibration rise and fall with pump speed (affinity laws)."""
    frame = simulate.history(["pump-01"], 4 * 3600, seed=1)
    corr = frame[list(simulate.CHANNELS)].corr()
    assert frame["speed"].std() > 100, "the operating point never changed"
    for channel in ("flow", "discharge_pressure", "motor_current", "vibration_rms"):
        assert corr.loc["speed", channel] > 0.9, channel
    assert corr.loc["speed", "suction_pressure"] < 0


def test_history_has_one_row_per_asset_and_tick() -> None:
    """history() returns asset, ts, every channel and a label, with normal readings labelled ''."""
    frame = simulate.history(3, 10, seed=0, rate_hz=2)
    assert list(frame.columns) == ["asset", "ts", *simulate.CHANNELS, "label"]
    assert len(frame) == 3 * 20
    assert set(frame["label"]) == {""}
    assert frame.groupby("asset")["ts"].is_monotonic_increasing.all()


def test_bearing_wear_raises_vibration_and_bearing_temperature_inside_its_window() -> None:
    """Bearing wear is labelled exactly in its window and drifts vibration and temperature up."""
    fault, frame = _one_asset("pump-01:bearing_wear@1800+1200", 3000)
    labelled = frame[frame["label"] == "bearing_wear"]
    assert labelled["ts"].min() == fault.start
    assert labelled["ts"].max() < fault.end
    per_speed = frame["vibration_rms"] / (0.5 + 0.5 * (frame["speed"] / 1480) ** 2)
    before = per_speed[frame["ts"] < fault.start].mean()
    late = per_speed[frame["ts"] >= fault.end - (fault.end - fault.start) / 4].mean()
    assert late > 2 * before
    temp = frame["bearing_temperature"] - 12.5 * (frame["speed"] / 1480)
    assert temp[frame["ts"] >= fault.end - (fault.end - fault.start) / 4].mean() > temp[:1800].mean() + 3


def test_cavitation_drops_suction_and_adds_pressure_noise() -> None:
    """Cavitation lowers suction pressure and makes discharge pressure noisy."""
    _, frame = _one_asset("pump-01:cavitation@600+600", 1200)
    normal, fault = frame[frame["label"] == ""], frame[frame["label"] == "cavitation"]
    assert fault["suction_pressure"].mean() < 0.8 * normal["suction_pressure"].mean()
    ratio = fault["discharge_pressure"] / (fault["speed"] / 1480) ** 2
    base = normal["discharge_pressure"] / (normal["speed"] / 1480) ** 2
    assert ratio.diff().std() > 3 * base.diff().std()


def test_stuck_sensor_freezes_only_its_channel() -> None:
    """A stuck sensor repeats one value while the other channels keep moving."""
    _, frame = _one_asset("pump-01:stuck_sensor/flow@100+50", 200)
    fault = frame[frame["label"] == "stuck_sensor"]
    assert len(fault) == 50
    assert fault["flow"].nunique() == 1
    assert fault["motor_current"].nunique() == 50
    assert frame[frame["label"] == ""]["flow"].tail(40).nunique() == 40


def test_step_change_offsets_the_channel() -> None:
    """A step change adds a sensor offset that disappears when the fault ends."""
    _, frame = _one_asset("pump-01:step_change/discharge_pressure@300+300", 900)
    ratio = frame["discharge_pressure"] - 6.0 * (frame["speed"] / 1480) ** 2
    fault = ratio[frame["label"] == "step_change"].mean()
    assert fault - ratio[:300].mean() > 0.4
    assert abs(ratio[600:].mean() - ratio[:300].mean()) < 0.15


def test_auto_schedule_gives_each_asset_faults_after_warmup() -> None:
    """The auto schedule covers every asset and fault kind, after the warm-up, without overlaps."""
    assets = simulate.asset_names(3)
    faults = simulate.auto_schedule(assets, START, horizon_s=20_000, rate_hz=1.0, seed=0, warmup_s=60)
    assert {f.asset for f in faults} == set(assets)
    assert {f.kind for f in faults} == set(simulate.FAULT_KINDS)
    assert min(f.start for f in faults) >= START.replace(minute=1)
    for asset in assets:
        mine = [f for f in faults if f.asset == asset]
        assert all(a.end <= b.start for a, b in zip(mine, mine[1:], strict=False))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("pump-01:melting@1+2", "unknown fault 'melting'"),
        ("pump-07:cavitation@1+2", "unknown asset 'pump-07'"),
        ("pump-01:cavitation", "expected asset:kind"),
        ("pump-01:stuck_sensor/colour@1+2", "unknown channel 'colour'"),
        ("pump-01:cavitation/flow@1+2", "only stuck_sensor and step_change take a channel"),
    ],
)
def test_bad_schedules_are_rejected_with_the_reason(spec: str, message: str) -> None:
    """Each malformed schedule entry is named in the error."""
    with pytest.raises(simulate.ScheduleError, match=message):
        simulate.parse_schedule(spec, ["pump-01"], START)


def test_simulate_command_publishes_every_reading_and_writes_ground_truth(
    mqtt_broker: tuple[str, int], topic_prefix: str, tmp_path: Path
) -> None:
    """`monitor simulate` publishes contract payloads, received by a subscriber, and the ground truth CSV."""
    host, port = mqtt_broker
    received: list[tuple[str, dict[str, object]]] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=unique_name("sub"))
    client.on_connect = lambda c, *_: c.subscribe(f"{topic_prefix}/#", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda c, u, m: received.append((m.topic, json.loads(m.payload)))
    client.connect(host, port)
    client.loop_start()
    try:
        assert subscribed.wait(5)
        truth = tmp_path / "truth.csv"
        argv = ["simulate", "--broker", f"mqtt://{host}:{port}", "--prefix", topic_prefix, "--assets", "2"]
        argv += ["--rate", "10", "--duration", "1", "--faults", "pump-02:step_change@0.2+0.5"]
        assert main([*argv, "--ground-truth", str(truth)]) == 0
        deadline = time.monotonic() + 5
        while len(received) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()
    assert len(received) == 20
    topics = {topic for topic, _ in received}
    assert topics == {f"{topic_prefix}/site1/pump-01/sensors", f"{topic_prefix}/site1/pump-02/sensors"}
    payload = received[0][1]
    assert set(payload) == {"ts", "values"}
    assert set(payload["values"]) == set(simulate.CHANNELS)  # type: ignore[arg-type]
    with truth.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["asset"], r["fault"]) for r in rows] == [("pump-02", "step_change")]
    assert rows[0]["start"].endswith("Z")
