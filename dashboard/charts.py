"""Plotly figures of the asset and camera pages, built from query results (no Streamlit here).

Sized for a 1366x768 plant-floor screen: the score chart spans the page at ~330 px high, the others
share a row two or three abreast; the raw readings stack one ~110 px strip per channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.queries.timeline import AlertPeriod
from monitor.store.records import Severity

SEVERITY_COLOURS: dict[str, str] = {  # one per Severity, orange to red as it rises
    Severity.WARNING: "rgba(255, 165, 0, 0.18)",
    Severity.MAJOR: "rgba(255, 69, 0, 0.20)",
    Severity.CRITICAL: "rgba(220, 20, 60, 0.20)",
}
_OTHER_SEVERITY = "rgba(128, 128, 128, 0.18)"
_HEIGHT = 330
_SMALL_HEIGHT = 300
READINGS_CHANNELS = 6  # raw-reading strips stacked at most: more would not fit the screen


def score_figure(
    scores: pd.DataFrame,
    thresholds: pd.DataFrame,
    alerts: list[AlertPeriod],
    start: datetime,
    end: datetime,
    *,
    selected: str | None = None,
    height: int = _HEIGHT,
    anomalies: bool = False,
) -> go.Figure:
    """Score against the threshold in force over [start, end]: the score line (and the bucket maximum
    when downsampled), the threshold as a step line with a marker at each change (from the `thresholds` history, else
    from the value stored with each score), and one shaded band
    per alert (the `selected` alert outlined). With `anomalies`, a red dot on each row or bucket holding
    anomalous scores (a camera's anomalous frames are events of their own, not just a bump in a line)."""
    figure = go.Figure()
    if "max_score" in scores and not scores["max_score"].equals(scores["score"]):
        figure.add_trace(
            go.Scatter(
                x=scores["ts"],
                y=scores["max_score"],
                name="max score",
                mode="lines",
                line={"width": 1, "color": "rgba(31, 119, 180, 0.35)"},
            )
        )
    figure.add_trace(
        go.Scatter(
            x=scores["ts"],
            y=scores["score"],
            name="score",
            mode="lines",
            line={"width": 1.5, "color": "rgb(31, 119, 180)"},
        )
    )
    flagged = scores[scores["anomalies"] > 0] if anomalies else scores.iloc[:0]
    if not flagged.empty:
        figure.add_trace(
            go.Scatter(
                x=flagged["ts"],
                y=flagged["max_score"],
                name="anomalous",
                mode="markers",
                marker={"size": 6, "color": "crimson"},
                customdata=flagged["anomalies"],
                hovertemplate="%{customdata} anomalous",
            )
        )
    if thresholds.empty and scores["threshold"].notna().any():  # no history rows: the per-row value
        thresholds = pd.DataFrame({"computed_at": scores["ts"], "value": scores["threshold"], "method": ""})
        thresholds = thresholds[thresholds["value"].ne(thresholds["value"].shift())]
    if not thresholds.empty:
        steps = _steps(thresholds, start, end)
        figure.add_trace(
            go.Scatter(
                x=steps["at"],
                y=steps["value"],
                name="threshold",
                mode="lines",
                line={"shape": "hv", "color": "black", "dash": "dash", "width": 1.5},
            )
        )
        changes = thresholds.iloc[1:]
        if not changes.empty:
            figure.add_trace(
                go.Scatter(
                    x=changes["computed_at"],
                    y=changes["value"],
                    name="threshold change",
                    mode="markers",
                    marker={"symbol": "diamond", "size": 9, "color": "black"},
                    customdata=changes["method"],
                    hovertemplate="%{x}<br>%{y:.4g} (%{customdata})",
                )
            )
    for alert in alerts:
        figure.add_vrect(
            x0=max(alert.opened_at, start),
            x1=min(alert.ends, end),
            fillcolor=SEVERITY_COLOURS.get(alert.severity, _OTHER_SEVERITY),
            layer="below",
            line_width=2 if alert.id == selected else 0,
            line_color="crimson",
            name=f"alert {alert.id}",
        )
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_range=[start, end],
        legend={"orientation": "h", "y": 1.12},
        hovermode="x unified",
        yaxis_title="score",
    )
    return figure


def _steps(thresholds: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The step line's corners: each value from its time (no earlier than `start`) until `end`."""
    at = [max(ts, start) for ts in thresholds["computed_at"]]
    values = list(thresholds["value"])
    return pd.DataFrame({"at": [*at, end], "value": [*values, values[-1]]})


def ranking_figure(ranking: pd.Series, top: int = 10) -> go.Figure:
    """Horizontal bars of the mean contribution of the `top` channels, largest on top."""
    shown = ranking.head(top)[::-1]
    figure = go.Figure(go.Bar(x=shown.to_numpy(), y=[str(c) for c in shown.index], orientation="h"))
    figure.update_layout(
        height=_SMALL_HEIGHT,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="mean contribution to the score",
    )
    return figure


def contributions_figure(contributions: pd.DataFrame, alert: AlertPeriod | None, top: int = 8) -> go.Figure:
    """One line per channel (the `top` by mean contribution; the rest behind the legend), with the
    alert's span shaded: how each channel's share of the error moved around the alert."""
    figure = go.Figure()
    order = list(contributions.mean().sort_values(ascending=False).index) if not contributions.empty else []
    for rank, channel in enumerate(order):
        figure.add_trace(
            go.Scatter(
                x=contributions.index,
                y=contributions[channel],
                name=str(channel),
                mode="lines",
                visible=True if rank < top else "legendonly",
            )
        )
    if alert is not None:
        figure.add_vrect(
            x0=alert.opened_at,
            x1=alert.ends,
            layer="below",
            line_width=0,
            fillcolor=SEVERITY_COLOURS.get(alert.severity, _OTHER_SEVERITY),
        )
    figure.update_layout(
        height=_SMALL_HEIGHT,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        hovermode="x unified",
        yaxis_title="contribution",
    )
    return figure


def readings_figure(
    readings: pd.DataFrame, alert: AlertPeriod, order: Sequence[str] = (), top: int = READINGS_CHANNELS
) -> go.Figure:
    """Raw values around an alert, one strip per channel sharing the time axis (channels differ by
    orders of magnitude, so one axis would flatten most of them): the channels named in `order` (the
    alert's top contributors) first, then the others, at most `top`; the alert shaded from its opening,
    with a line where it opened."""
    channels = [c for c in readings.columns if c != "ts"]
    channels = [c for c in order if c in channels] + [c for c in channels if c not in order]
    shown = channels[:top]
    figure = make_subplots(
        rows=max(len(shown), 1), cols=1, shared_xaxes=True, vertical_spacing=0.03, subplot_titles=shown
    )
    for row, channel in enumerate(shown, start=1):
        figure.add_trace(
            go.Scatter(x=readings["ts"], y=readings[channel], name=channel, mode="lines", showlegend=False),
            row=row,
            col=1,
        )
    colour = SEVERITY_COLOURS.get(alert.severity, _OTHER_SEVERITY)
    last = readings["ts"].max().to_pydatetime() if not readings.empty else alert.ends
    figure.add_vrect(  # an open alert runs to now: shade only as far as the readings go
        x0=alert.opened_at,
        x1=max(alert.opened_at, min(alert.ends, last)),
        fillcolor=colour,
        layer="below",
        line_width=0,
        row="all",
        col=1,
    )
    figure.add_vline(
        x=alert.opened_at, line_color="crimson", line_width=1.5, line_dash="dot", row="all", col=1
    )
    figure.update_layout(
        height=max(_SMALL_HEIGHT, 110 * len(shown) + 40),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        hovermode="x unified",
    )
    return figure
