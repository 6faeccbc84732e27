"""The alert rule: K-of-N debounce, M-in-a-row resolution, severity, one alert per asset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from monitor.alerts import IMAGE_CONDITION, AlertRule
from monitor.settings import AlertSettings
from monitor.store.records import AlertRecord, AlertState, Severity

CHANNELS = ["a", "b", "c", "d"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONTRIBUTIONS = np.array([0.1, 0.4, 0.2, 0.3])


def run(rule: AlertRule, scores: list[float], threshold: float = 1.0) -> list[AlertRecord | None]:
    return [
        rule.observe(T0 + timedelta(seconds=i), score, threshold, CONTRIBUTIONS)
        for i, score in enumerate(scores)
    ]


def test_isolated_exceedances_do_not_open_an_alert() -> None:
    """Two exceedances in five stay below K=3."""
    rule = AlertRule("pump1", AlertSettings(k=3, n=5), CHANNELS)
    assert run(rule, [2, 0, 0, 2, 0, 0, 0, 2, 0]) == [None] * 9
    assert not rule.is_open


def test_alert_opens_on_the_kth_exceedance_within_n() -> None:
    """The third exceedance within five scores opens the alert, with id, peak and top channels."""
    rule = AlertRule("pump1", AlertSettings(k=3, n=5), CHANNELS)
    records = run(rule, [2, 0, 1.5, 0, 1.2])
    assert records[:4] == [None] * 4
    opened = records[4]
    assert opened is not None and opened.state == AlertState.OPEN
    assert len(opened.id) == 32 and opened.asset == "pump1"
    assert opened.opened_at == T0 + timedelta(seconds=4)
    assert opened.severity == Severity.WARNING
    assert [channel["name"] for channel in opened.top_channels] == ["b", "d", "c"]


def test_alert_resolves_after_m_scores_in_a_row_below() -> None:
    """A dip shorter than M keeps the alert; M in a row resolves it with the same id."""
    rule = AlertRule("pump1", AlertSettings(k=1, n=1, resolve_after=3), CHANNELS)
    records = run(rule, [2, 0, 0, 2, 0, 0, 0])
    opened, resolved = records[0], records[6]
    assert records[1:6] == [None] * 5
    assert opened is not None and resolved is not None
    assert resolved.state == AlertState.RESOLVED and resolved.id == opened.id
    assert resolved.resolved_at == T0 + timedelta(seconds=6)
    assert not rule.is_open


def test_severity_escalation_emits_a_record_and_keeps_the_peak() -> None:
    """Rising from warning to critical emits updates; a lower score afterwards emits nothing."""
    rule = AlertRule("pump1", AlertSettings(k=1, n=1, major_ratio=2.0, critical_ratio=4.0), CHANNELS)
    records = run(rule, [1.5, 1.7, 2.5, 5.0, 3.0])
    severities = [record.severity if record else None for record in records]
    assert severities == [Severity.WARNING, None, Severity.MAJOR, Severity.CRITICAL, None]
    assert rule.current is not None and rule.current.peak_score == 5.0


def test_camera_alerts_reach_every_severity_on_probability_scores() -> None:
    """Image scores are probabilities: at threshold 0.6 the score/threshold ratio stops at 1.67,
    so camera severity compares odds: 0.7 warning, 0.75 major, 0.9 critical (ratios 2 and 4)."""
    rule = AlertRule("cam1", AlertSettings(k=1, n=1), CHANNELS, IMAGE_CONDITION)
    records = run(rule, [0.7, 0.75, 0.9, 1.0], threshold=0.6)
    assert [record.severity if record else None for record in records] == [
        Severity.WARNING,
        Severity.MAJOR,
        Severity.CRITICAL,
        None,
    ]
    assert records[0] is not None and records[0].condition == "image_score"


def test_one_open_alert_per_asset() -> None:
    """Exceedances while an alert is open update it instead of opening another."""
    rule = AlertRule("pump1", AlertSettings(k=1, n=1, resolve_after=2), CHANNELS)
    records = [record for record in run(rule, [2, 2, 2, 0, 0, 2]) if record is not None]
    assert [record.state for record in records] == [AlertState.OPEN, AlertState.RESOLVED, AlertState.OPEN]
    assert records[0].id == records[1].id != records[2].id


def test_emitted_records_are_snapshots() -> None:
    """A record handed out does not change when the alert later resolves."""
    rule = AlertRule("pump1", AlertSettings(k=1, n=1, resolve_after=1), CHANNELS)
    opened, resolved = run(rule, [2, 0])
    assert opened is not None and opened.state == AlertState.OPEN and opened.resolved_at is None
    assert resolved is not None and resolved.state == AlertState.RESOLVED
