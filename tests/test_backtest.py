"""Backtest: a recorded table scored through the daemon's detector in data time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.sensor_model import SensorModel
from models.sensor_training import SensorTrainConfig, train_sensor_model
from models.training import FitConfig
from monitor.pipeline.backtest import OUTPUT_COLUMNS, backtest
from monitor.pipeline.csvio import SensorTable
from monitor.settings import Settings

CHANNELS = ["flow", "pressure"]


def readings(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(rows) / 20
    return np.stack([np.sin(phase), np.cos(phase)], axis=1) + 0.1 * rng.standard_normal((rows, 2))


def table(values: np.ndarray) -> SensorTable:
    times = pd.date_range("2026-01-01", periods=len(values), freq="s", tz="UTC")
    return SensorTable(Path("t.csv"), [str(t) for t in times], times, CHANNELS, values)


@pytest.fixture(scope="module")
def model() -> SensorModel:
    return train_sensor_model(
        readings(400, 0), CHANNELS, SensorTrainConfig(window=16, fit=FitConfig(epochs=15))
    )


def test_rows_before_the_first_window_have_no_score(model: SensorModel) -> None:
    """One output row per input row, fixed columns; the first window-1 rows are empty and not flagged."""
    scores = backtest(model, table(readings(50, 1)), Settings()).scores
    assert list(scores.columns) == OUTPUT_COLUMNS
    assert len(scores) == 50
    assert scores["score"].iloc[:15].isna().all() and scores["score"].iloc[15:].notna().all()
    assert (scores["anomaly"].iloc[:15] == 0).all()


def test_a_sustained_fault_is_flagged_and_raises_one_alert(model: SensorModel) -> None:
    """A step of several noise levels is flagged inside and not before; one alert opens and resolves."""
    values = readings(400, 2)
    values[200:300, 0] += 2.0
    result = backtest(model, table(values), Settings())
    flags = result.scores["anomaly"].to_numpy()
    assert flags[210:300].mean() > 0.9
    assert flags[:200].mean() < 0.05
    assert result.alerts[0].state == "open"
    assert len({alert.id for alert in result.alerts}) == 1
    assert result.alerts[-1].state == "resolved"
    assert result.alerts[0].top_channels[0]["name"] == "flow"


def test_recalibration_runs_on_the_data_clock(model: SensorModel) -> None:
    """With a 60 s period, ten minutes of 1 Hz data recalibrate about ten times."""
    settings = Settings(thresholds={"recalibrate_every_s": 60})
    result = backtest(model, table(readings(600, 3)), settings)
    assert 8 <= len(result.thresholds) - 1 <= 10
    assert result.thresholds[1].computed_at - result.thresholds[0].computed_at >= pd.Timedelta(seconds=60)


def test_a_pause_in_the_recording_restarts_the_window(model: SensorModel) -> None:
    """Rows after a long pause wait for a fresh window, as in the daemon: no window splices the
    stretches on either side, so the restart itself is not flagged."""
    values = readings(120, 3)
    times = pd.date_range("2026-01-01", periods=120, freq="s", tz="UTC")
    times = times.where(np.arange(120) < 60, times + pd.Timedelta(hours=2))
    result = backtest(
        model, SensorTable(Path("t.csv"), [str(t) for t in times], times, CHANNELS, values), Settings()
    )
    scored = result.scores["score"].notna().to_numpy()
    assert not scored[60:75].any() and scored[75:].all() and scored[15:60].all()
