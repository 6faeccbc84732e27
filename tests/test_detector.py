"""AssetDetector: threshold + alert rule over a score stream, recalibration from non-alert scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from models.sensor_model import SCORE_CAP
from monitor.pipeline.detector import AssetDetector
from monitor.settings import AlertSettings, EwmaSettings, QuantileSettings, ThresholdSettings
from monitor.store.records import AlertState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = ["x", "y"]
QUANTILE = ThresholdSettings(method="quantile", quantile=QuantileSettings(q=0.99, margin=1.0))


def detector(initial: np.ndarray, alerts: AlertSettings | None = None) -> AssetDetector:
    return AssetDetector(
        "pump1", QUANTILE, alerts or AlertSettings(k=2, n=3, resolve_after=2), initial, CHANNELS
    )


def feed(det: AssetDetector, scores: list[float]) -> list:
    contributions = np.array([0.25, 0.75])
    return [
        det.observe(T0 + timedelta(seconds=i), score, contributions * score) for i, score in enumerate(scores)
    ]


def test_anomaly_flag_follows_the_open_alert() -> None:
    """anomaly is true from the opening score until the resolving one; alert records at both ends."""
    det = detector(np.linspace(0.0, 1.0, 101))
    observations = feed(det, [0.5, 5.0, 5.0, 5.0, 0.5, 0.5, 0.5])
    assert [o.anomaly for o in observations] == [False, False, True, True, True, False, False]
    assert observations[2].alert is not None and observations[2].alert.state == AlertState.OPEN
    assert observations[2].alert.top_channels[0]["name"] == "y"
    assert observations[5].alert is not None and observations[5].alert.state == AlertState.RESOLVED
    assert all(o.threshold == pytest.approx(0.99) for o in observations)


def test_recalibration_uses_only_scores_outside_alerts() -> None:
    """Scores inside an alert do not raise the recalibrated threshold."""
    det = detector(np.linspace(0.0, 1.0, 101), AlertSettings(k=1, n=1, resolve_after=1000))
    normal = np.random.default_rng(1).uniform(0.0, 0.5, size=100)
    feed(det, [*normal, *[2.0] * 50])
    record = det.recalibrate(T0)
    assert record is not None
    assert record.value == pytest.approx(np.quantile(normal, 0.99))


def test_recalibration_needs_enough_normal_scores() -> None:
    """With fewer than ten scores outside alerts there is nothing to refit."""
    det = detector(np.linspace(0.0, 1.0, 101))
    feed(det, [0.5] * 5)
    assert det.recalibrate(T0) is None
    assert det.threshold == pytest.approx(0.99)


def test_recalibration_refits_on_recent_normal_scores() -> None:
    """After normal operation at a higher level, recalibration moves the threshold to it."""
    det = detector(np.linspace(0.0, 1.0, 101), AlertSettings(k=3, n=3, resolve_after=2))
    rng = np.random.default_rng(0)
    feed(det, list(rng.uniform(0.0, 0.9, size=200)))
    record = det.recalibrate(T0 + timedelta(hours=1))
    assert record is not None
    assert (record.asset, record.method) == ("pump1", "quantile")
    assert record.value == pytest.approx(0.9, abs=0.02)
    assert det.threshold == record.value
    assert record.computed_at == T0 + timedelta(hours=1)


def test_a_score_at_the_overflow_cap_teaches_the_threshold_nothing() -> None:
    """An isolated exceedance is learnt from (the threshold's tail), an overflowed window is not:
    one would push an EWMA threshold out of reach for hours."""
    det = AssetDetector(
        "pump1",
        ThresholdSettings(method="ewma", ewma=EwmaSettings(alpha=0.1, k=3.0)),
        AlertSettings(k=3, n=5),
        np.linspace(0.5, 1.5, 100),
        CHANNELS,
    )
    before = det.threshold
    det.observe(T0, SCORE_CAP * len(CHANNELS), np.full(len(CHANNELS), SCORE_CAP))
    assert det.threshold == before and det.normal_scores == []
