"""The per-asset decision: adaptive threshold + alert rule over the stream of window scores.

The daemon's worker and the backtest feed scores through the same `AssetDetector.observe`, in time
order, so the anomaly flag of `monitor score sensor` is what the daemon would have raised.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from models.sensor_model import SCORE_CAP
from monitor.alerts import SENSOR_CONDITION, AlertRule
from monitor.settings import AlertSettings, ThresholdSettings
from monitor.store.records import AlertRecord, ThresholdRecord
from monitor.thresholds import MIN_FIT_SCORES, make_threshold


@dataclass(frozen=True, slots=True)
class Observation:
    """One scored reading: its threshold, whether an alert is open after it, and any alert change."""

    ts: datetime
    score: float
    threshold: float
    anomaly: bool
    alert: AlertRecord | None


class AssetDetector:
    """Threshold strategy, alert rule and the recent non-alert scores of one asset."""

    def __init__(
        self,
        asset: str,
        thresholds: ThresholdSettings,
        alerts: AlertSettings,
        initial_scores: np.ndarray,
        channels: list[str],
        open_alert: AlertRecord | None = None,
        condition: str = SENSOR_CONDITION,
    ) -> None:
        """`open_alert`: an alert still open from the previous model or run, which this one carries on;
        `condition`: what the scores are (alerts.SENSOR_CONDITION or IMAGE_CONDITION)."""
        self.asset = asset
        self.strategy = make_threshold(thresholds)
        self.strategy.fit(initial_scores)
        self.rule = AlertRule(asset, alerts, channels, condition)
        if open_alert is not None:
            self.rule.resume(open_alert)
        self._normal: deque[float] = deque(maxlen=thresholds.recalibrate_lookback)

    @property
    def threshold(self) -> float:
        return self.strategy.value

    @property
    def normal_scores(self) -> list[float]:
        """The recent scores seen outside alerts, oldest first (kept across a restart)."""
        return list(self._normal)

    def carry_on(self, scores: Sequence[float]) -> None:
        """Continue from the last run's recent normal scores (same model): the threshold is refitted
        from them, where the last recalibration left it, instead of from the training scores."""
        self._normal.extend(scores)
        self._refit()

    def observe(self, ts: datetime, score: float, contributions: np.ndarray) -> Observation:
        """Judge one score against the current threshold; scores outside alerts then adapt it."""
        threshold = self.strategy.value
        alert = self.rule.observe(ts, score, threshold, contributions)
        anomaly = self.rule.is_open
        if not anomaly and score < SCORE_CAP:  # an overflowed window teaches the threshold nothing
            self._normal.append(score)
            self.strategy.update(score)
        return Observation(ts=ts, score=score, threshold=threshold, anomaly=anomaly, alert=alert)

    def recalibrate(self, now: datetime) -> ThresholdRecord | None:
        """Refit the strategy on the recent scores seen outside alerts; None when too few are known."""
        return self.threshold_record(now) if self._refit() else None

    def _refit(self) -> bool:
        """Fit the strategy on the recent normal scores, when there are enough to estimate from."""
        if len(self._normal) < MIN_FIT_SCORES:
            return False
        self.strategy.fit(np.fromiter(self._normal, dtype=np.float64, count=len(self._normal)))
        return True

    def threshold_record(self, now: datetime) -> ThresholdRecord:
        """The threshold in force, as stored in the `thresholds` history."""
        return ThresholdRecord(
            asset=self.asset,
            value=self.strategy.value,
            method=self.strategy.name,
            parameters=self.strategy.parameters(),
            computed_at=now,
        )
