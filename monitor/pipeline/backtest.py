"""Scoring a recorded table through the daemon's decision path, in data time.

Windows are scored in batches by `SensorModel.score_windows`; the scores then pass one by one
through `AssetDetector.observe`, and recalibration happens when the data's own clock passes
`recalibrate_every_s` (the daemon's scheduler does the same in wall time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.sensor_model import SensorModel
from monitor.pipeline.csvio import SensorTable
from monitor.pipeline.detector import AssetDetector
from monitor.pipeline.windows import gapless_windows, segment_starts
from monitor.settings import Settings
from monitor.store.records import AlertRecord, ThresholdRecord

OUTPUT_COLUMNS = ["timestamp", "score", "threshold", "anomaly"]


@dataclass(slots=True)
class BacktestResult:
    """The per-row scores (columns OUTPUT_COLUMNS) and the alert and threshold history behind them."""

    scores: pd.DataFrame
    alerts: list[AlertRecord] = field(default_factory=list)
    thresholds: list[ThresholdRecord] = field(default_factory=list)


def backtest(
    model: SensorModel, table: SensorTable, settings: Settings, asset: str = "backtest"
) -> BacktestResult:
    """Score every row of `table`; rows without a full window (the first window-1, and as many
    after each gap) get no score and anomaly 0."""
    values = table.select(model.channels).astype(np.float32)
    times = table.times.to_pydatetime()
    seconds = ((table.times - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy()
    windows, ends = gapless_windows(
        values, segment_starts(seconds, settings.sensors.gap_factor), model.window
    )
    scores, contributions = model.score_windows(windows)
    detector = AssetDetector(
        asset, settings.thresholds, settings.alerts, model.training_scores, model.channels
    )
    rows = len(values)
    score_column = np.full(rows, np.nan)
    threshold_column = np.full(rows, detector.threshold)
    anomaly_column = np.zeros(rows, dtype=np.int8)
    result = BacktestResult(scores=pd.DataFrame())
    result.thresholds.append(detector.threshold_record(times[0]))
    last_calibration = times[ends[0]] if len(ends) else times[0]
    every = settings.thresholds.recalibrate_every_s
    for row, score, contribution in zip(ends.tolist(), scores, contributions, strict=True):
        ts = times[row]
        observation = detector.observe(ts, float(score), contribution)
        score_column[row] = observation.score
        threshold_column[row] = observation.threshold
        anomaly_column[row] = observation.anomaly
        if observation.alert is not None:
            result.alerts.append(observation.alert)
        if (ts - last_calibration).total_seconds() >= every:
            last_calibration = ts
            record = detector.recalibrate(ts)
            if record is not None:
                result.thresholds.append(record)
    result.scores = pd.DataFrame(
        {
            "timestamp": table.timestamps,
            "score": score_column,
            "threshold": threshold_column,
            "anomaly": anomaly_column,
        },
        columns=OUTPUT_COLUMNS,
    )
    return result
