"""The asset view's queries and figures: resolution chosen by range, thresholds, alert bands, channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from dashboard_helpers import DashboardEnv, add_alert, add_asset, add_rows, add_scores
from sqlalchemy.engine import Engine

from dashboard.charts import contributions_figure, ranking_figure, readings_figure, score_figure
from dashboard.queries.readings import alert_readings
from dashboard.queries.scores import channel_ranking, contribution_frame, score_series
from dashboard.queries.timeline import AlertPeriod, alert_periods, nearest, threshold_steps
from monitor.store import tables
from monitor.store.records import Severity

NO_THRESHOLDS = pd.DataFrame(columns=["computed_at", "value", "method"])
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _minutes(start: datetime, count: int, every_s: float = 60) -> list[datetime]:
    return [start + timedelta(seconds=i * every_s) for i in range(count)]


def test_short_range_reads_every_score_row(engine: Engine) -> None:
    """An hour shows every scored window with the threshold stored beside it."""
    add_asset(engine, "pump")
    add_scores(engine, "pump", _minutes(T0, 30, every_s=10), score=0.4, threshold=0.9)
    with engine.connect() as conn:
        series = score_series(conn, "pump", T0, T0 + timedelta(hours=1))
    assert series.source == "raw"
    assert len(series.frame) == 30
    assert set(series.frame["threshold"]) == {0.9}
    assert "30 rows from `scores`" in series.caption()


def test_short_range_says_when_the_row_limit_cut_it(engine: Engine) -> None:
    """More rows than the limit: the first ones are shown and the caption says so."""
    add_asset(engine, "pump")
    add_scores(engine, "pump", _minutes(T0, 12, every_s=1))
    with engine.connect() as conn:
        series = score_series(conn, "pump", T0, T0 + timedelta(minutes=5), raw_rows=5)
    assert len(series.frame) == 5 and series.truncated
    assert "narrow the range" in series.caption()


def test_long_range_merges_rollups_and_recent_scores_into_buckets(engine: Engine) -> None:
    """A week is drawn from per-minute roll-ups (old minutes) and raw scores aggregated in SQL."""
    add_asset(engine, "pump")
    old = T0 - timedelta(days=5)
    add_rows(
        engine,
        tables.ScoreRollup,
        [
            {
                "asset": "pump",
                "minute": old,
                "count": 60,
                "mean_score": 1.0,
                "max_score": 3.0,
                "anomalies": 2,
            },
            {
                "asset": "pump",
                "minute": old + timedelta(minutes=1),
                "count": 20,
                "mean_score": 2.0,
                "max_score": 2.5,
                "anomalies": 0,
            },
        ],
    )
    add_scores(engine, "pump", _minutes(T0, 4, every_s=15), score=0.5)
    with engine.connect() as conn:
        series = score_series(conn, "pump", T0 - timedelta(days=7), T0 + timedelta(minutes=5), points=500)
    assert series.source == "buckets" and series.bucket_s == 1260  # 7 d / 500 → 21 min
    frame = series.frame
    assert list(frame["count"]) == [80, 4]
    assert frame["score"].iloc[0] == pytest.approx((60 * 1.0 + 20 * 2.0) / 80)
    assert frame["max_score"].iloc[0] == 3.0 and frame["anomalies"].iloc[0] == 2
    assert frame["score"].iloc[1] == pytest.approx(0.5)
    assert frame["ts"].iloc[1] <= T0 < frame["ts"].iloc[1] + timedelta(seconds=series.bucket_s)
    assert "score_rollups" in series.caption() and "21 min" in series.caption()


def test_short_range_past_retention_falls_back_to_rollups(engine: Engine) -> None:
    """An old hour whose raw rows were rolled up still shows its per-minute means."""
    add_asset(engine, "pump")
    add_rows(
        engine,
        tables.ScoreRollup,
        [{"asset": "pump", "minute": T0, "count": 6, "mean_score": 0.7, "max_score": 0.9, "anomalies": 0}],
    )
    with engine.connect() as conn:
        series = score_series(conn, "pump", T0 - timedelta(minutes=30), T0 + timedelta(minutes=30))
    assert series.source == "buckets"
    assert list(series.frame["score"]) == [pytest.approx(0.7)]


def test_threshold_steps_start_with_the_value_in_force(engine: Engine) -> None:
    """The value set before the range starts the step line; each change inside gets a marker."""
    add_asset(engine, "pump")
    add_rows(
        engine,
        tables.Threshold,
        [
            {"asset": "pump", "value": v, "method": "pot", "parameters": {}, "computed_at": at}
            for v, at in [
                (0.5, T0 - timedelta(days=2)),
                (0.8, T0 - timedelta(hours=2)),
                (1.1, T0 + timedelta(minutes=20)),
                (9.9, T0 + timedelta(hours=5)),
            ]
        ],
    )
    start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
    with engine.connect() as conn:
        steps = threshold_steps(conn, "pump", start, end, limit=100)
        series = score_series(conn, "pump", start, end)
    assert list(steps["value"]) == [0.8, 1.1]
    figure = score_figure(series.frame, steps, [], start, end)
    line = next(t for t in figure.data if t.name == "threshold")
    assert line.line.shape == "hv"
    assert list(line.y) == [0.8, 1.1, 1.1]
    assert list(pd.to_datetime(line.x, utc=True)) == [start, T0 + timedelta(minutes=20), end]
    markers = next(t for t in figure.data if t.name == "threshold change")
    assert list(markers.y) == [1.1]


def test_threshold_falls_back_to_the_value_stored_with_each_score(engine: Engine) -> None:
    """Without threshold history the step line follows the scores' own threshold column."""
    add_asset(engine, "pump")
    add_scores(engine, "pump", _minutes(T0, 3), threshold=0.9)
    add_scores(engine, "pump", _minutes(T0 + timedelta(minutes=3), 2), threshold=1.2)
    start, end = T0, T0 + timedelta(hours=1)
    with engine.connect() as conn:
        series = score_series(conn, "pump", start, end)
    figure = score_figure(series.frame, NO_THRESHOLDS, [], start, end)
    assert list(next(t for t in figure.data if t.name == "threshold").y) == [0.9, 1.2, 1.2]
    assert list(next(t for t in figure.data if t.name == "threshold change").y) == [1.2]


def test_alert_periods_overlapping_the_range_are_shaded(engine: Engine) -> None:
    """Alerts overlapping the range become shaded bands; an open one runs until now."""
    add_asset(engine, "pump")
    now = T0 + timedelta(hours=3)
    resolved = add_alert(
        engine,
        "pump",
        state="resolved",
        severity="critical",
        opened_at=T0,
        resolved_at=T0 + timedelta(minutes=10),
    )
    still_open = add_alert(engine, "pump", opened_at=T0 + timedelta(minutes=40))
    add_alert(
        engine,
        "pump",
        state="resolved",
        opened_at=T0 - timedelta(days=1),
        resolved_at=T0 - timedelta(hours=20),
    )
    start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=4)
    with engine.connect() as conn:
        periods = alert_periods(conn, "pump", start, end, now, limit=50)
        series = score_series(conn, "pump", start, end)
    assert [p.id for p in periods] == [still_open, resolved]
    assert periods[0].ends == now and periods[1].ends == T0 + timedelta(minutes=10)
    figure = score_figure(series.frame, NO_THRESHOLDS, periods, start, end, selected=resolved)
    bands = [(s.x0, s.x1, s.line.width) for s in figure.layout.shapes]
    assert (T0, T0 + timedelta(minutes=10), 2) in bands
    assert (T0 + timedelta(minutes=40), now, 0) in bands
    assert nearest(periods, T0 + timedelta(minutes=5)) == 1


def test_channels_ranked_by_mean_contribution(engine: Engine) -> None:
    """The channel that carried most of the error over the range comes first."""
    add_asset(engine, "pump")
    add_scores(engine, "pump", _minutes(T0, 3), contributions={"flow": 0.1, "pressure": 0.7, "temp": 0.2})
    add_scores(
        engine,
        "pump",
        _minutes(T0 + timedelta(hours=1), 3),
        contributions={"flow": 0.4, "pressure": 0.5, "temp": 0.1},
    )
    with engine.connect() as conn:
        frame, truncated = contribution_frame(conn, "pump", T0, T0 + timedelta(hours=2))
    ranking = channel_ranking(frame)
    assert list(ranking.index) == ["pressure", "flow", "temp"]
    assert ranking["pressure"] == pytest.approx(0.6) and not truncated
    bars = ranking_figure(ranking)
    assert list(bars.data[0].y) == ["temp", "flow", "pressure"]  # largest drawn on top
    lines = contributions_figure(frame, None, top=2)
    assert [(t.name, t.visible) for t in lines.data] == [
        ("pressure", True),
        ("flow", True),
        ("temp", "legendonly"),
    ]


def test_contribution_frame_newest_keeps_the_latest_rows(engine: Engine) -> None:
    """With a limit and newest=True the last rows of the range are kept, in time order."""
    add_asset(engine, "pump")
    add_scores(engine, "pump", _minutes(T0, 6))
    with engine.connect() as conn:
        frame, truncated = contribution_frame(conn, "pump", T0, T0 + timedelta(hours=1), limit=2, newest=True)
    assert truncated
    assert list(frame.index) == [T0 + timedelta(minutes=4), T0 + timedelta(minutes=5)]


def _add_readings(engine: Engine, alert_id: str, times: list[datetime]) -> None:
    """Raw readings of an alert: flow counts up, pressure is a thousand times larger."""
    add_rows(
        engine,
        tables.AlertReading,
        (
            {"alert_id": alert_id, "ts": ts, "values": {"flow": i, "pressure": 1000.0 * i}}
            for i, ts in enumerate(times)
        ),
    )


def test_alert_readings_are_channel_columns_in_time_order_up_to_the_limit(dashboard: DashboardEnv) -> None:
    """The readings of one alert come back oldest first, one column per channel, cut at the limit."""
    add_asset(dashboard.engine, "pump")
    alert_id = add_alert(dashboard.engine, "pump", opened_at=T0)
    other = add_alert(dashboard.engine, "pump", opened_at=T0 + timedelta(hours=1))
    _add_readings(dashboard.engine, alert_id, _minutes(T0 - timedelta(minutes=5), 10)[::-1])
    _add_readings(dashboard.engine, other, _minutes(T0, 3))
    with dashboard.engine.connect() as conn:
        frame = alert_readings(conn, alert_id, limit=4)
        empty = alert_readings(conn, "pump:none", limit=4)
    assert list(frame.columns) == ["ts", "flow", "pressure"]
    assert list(frame["ts"]) == _minutes(T0 - timedelta(minutes=5), 4)
    assert list(frame["flow"]) == [9, 8, 7, 6]  # seeded newest first: the oldest has the largest value
    assert empty.empty


def test_each_severity_is_shaded_in_a_colour_of_its_own() -> None:
    """Warning, major and critical bands differ, and none falls back to the grey of an unknown severity."""
    periods = [
        AlertPeriod(str(severity), severity, "open", T0, T0 + timedelta(minutes=5), 2.0, [])
        for severity in Severity
    ]
    frame = pd.DataFrame({"ts": [T0], "score": [0.5], "threshold": [1.0]})
    figure = score_figure(frame, NO_THRESHOLDS, periods, T0, T0 + timedelta(hours=1))
    colours = [shape.fillcolor for shape in figure.layout.shapes]
    assert len(colours) == len(set(colours)) == len(Severity)
    assert "rgba(128, 128, 128, 0.18)" not in colours


def test_readings_figure_has_a_strip_per_channel_and_marks_the_opening() -> None:
    """Channels get their own subplot, top contributors first, with a line where the alert opened."""
    times = _minutes(T0 - timedelta(minutes=3), 6)
    frame = pd.DataFrame({"ts": times, "flow": range(6), "pressure": [1000.0 * i for i in range(6)]})
    alert = AlertPeriod("a", "critical", "open", T0, T0 + timedelta(hours=2), 3.0, [])
    figure = readings_figure(frame, alert, order=["pressure"])
    assert [trace.name for trace in figure.data] == ["pressure", "flow"]
    assert [trace.yaxis for trace in figure.data] == ["y", "y2"]
    lines = [s for s in figure.layout.shapes if s.type == "line"]
    assert len(lines) == 2 and all(s.x0 == T0 for s in lines)
    shades = [s for s in figure.layout.shapes if s.type == "rect"]
    assert all(s.x1 == times[-1] for s in shades)  # the open alert is shaded only as far as the readings
