"""The alert rule of one asset: K-of-N debounce to open, M in a row below the threshold to resolve,
severity from how far the score is above the threshold, one open alert at a time.

Why debounce and hysteresis: a single noisy score above the threshold should not page anyone, and
an alert whose score hovers around the threshold should not open and close on every reading.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import deque
from collections.abc import Container
from datetime import datetime

import numpy as np

from monitor.settings import AlertSettings
from monitor.store.records import AlertRecord, AlertState, Severity

SENSOR_CONDITION = "sensor_score"  # a reconstruction error: any positive size
IMAGE_CONDITION = "image_score"  # the image anomaly model's score: a probability
TOP_CHANNELS = 3
_SEVERITY_ORDER = [Severity.WARNING, Severity.MAJOR, Severity.CRITICAL]


def _odds(p: float) -> float:
    return p / (1.0 - p) if p < 1.0 else float("inf")


def severity_for(
    score: float, threshold: float, settings: AlertSettings, condition: str = SENSOR_CONDITION
) -> Severity:
    """Severity from how far the score is above the threshold (ratios from AlertSettings).

    An image score is a probability: at a threshold of 0.6 the ratio could never reach 2, so
    camera alerts compare odds (p / (1 - p)) instead: 0.75 is major and 0.86 critical there.
    """
    if condition == IMAGE_CONDITION:
        score, threshold = _odds(score), _odds(threshold)
    ratio = score / threshold if threshold > 0 else float("inf")
    if ratio >= settings.critical_ratio:
        return Severity.CRITICAL
    if ratio >= settings.major_ratio:
        return Severity.MAJOR
    return Severity.WARNING


def top_channels(
    channels: list[str], contributions: np.ndarray, count: int = TOP_CHANNELS
) -> list[dict[str, float | str]]:
    """The channels that contributed most to a score, largest first, as [{name, value}]."""
    order = np.argsort(contributions)[::-1][:count]
    return [{"name": channels[i], "value": float(contributions[i])} for i in order]


class AlertRule:
    """Turns the stream of (score, threshold) of one asset into alert records.

    `observe` returns a record only when something an operator cares about changed: the alert
    opened, its severity rose, or it resolved. Each returned record is a snapshot (a copy).
    """

    def __init__(
        self, asset: str, settings: AlertSettings, channels: list[str], condition: str = SENSOR_CONDITION
    ) -> None:
        self.asset = asset
        self.condition = condition
        self.settings = settings
        self.channels = list(channels)
        self._recent: deque[bool] = deque(maxlen=settings.n)
        self._below = 0
        self.current: AlertRecord | None = None

    @property
    def is_open(self) -> bool:
        return self.current is not None

    def observe(
        self, ts: datetime, score: float, threshold: float, contributions: np.ndarray
    ) -> AlertRecord | None:
        exceeds = score > threshold
        if self.current is None:
            self._recent.append(exceeds)
            if sum(self._recent) < self.settings.k:
                return None
            return self._open(ts, score, threshold, contributions)
        alert = self.current
        alert.score, alert.threshold, alert.updated_at = score, threshold, ts
        escalated = False
        if score > alert.peak_score:
            alert.peak_score = score
            alert.top_channels = top_channels(self.channels, contributions)
            severity = severity_for(score, threshold, self.settings, self.condition)
            if _SEVERITY_ORDER.index(severity) > _SEVERITY_ORDER.index(alert.severity):
                alert.severity = severity
                escalated = True
        self._below = 0 if exceeds else self._below + 1
        if self._below >= self.settings.resolve_after:
            return self._resolve(ts)
        return dataclasses.replace(alert) if escalated else None

    def resume(self, alert: AlertRecord) -> None:
        """Carry on an alert opened before a model swap or a restart: it resolves when the scores
        fall, instead of staying open for ever beside a second alert for the same condition."""
        self.current = dataclasses.replace(alert, state=AlertState.OPEN, resolved_at=None)
        self._recent.clear()
        self._below = 0

    def release(self, alert_ids: Container[str]) -> bool:
        """An operator resolved the open alert (its id is among `alert_ids`): let it go, so a
        condition that persists opens a new alert (after k of n exceedances) rather than updating
        one nobody watches any more."""
        if self.current is None or self.current.id not in alert_ids:
            return False
        self.current = None
        self._recent.clear()
        self._below = 0
        return True

    def _open(self, ts: datetime, score: float, threshold: float, contributions: np.ndarray) -> AlertRecord:
        self._below = 0
        self.current = AlertRecord(
            id=uuid.uuid4().hex,
            asset=self.asset,
            condition=self.condition,
            state=AlertState.OPEN,
            severity=severity_for(score, threshold, self.settings, self.condition),
            score=score,
            peak_score=score,
            threshold=threshold,
            top_channels=top_channels(self.channels, contributions),
            opened_at=ts,
            updated_at=ts,
        )
        return dataclasses.replace(self.current)

    def _resolve(self, ts: datetime) -> AlertRecord:
        assert self.current is not None
        resolved = dataclasses.replace(self.current, state=AlertState.RESOLVED, resolved_at=ts, updated_at=ts)
        self.current = None
        self._recent.clear()
        self._below = 0
        return resolved
