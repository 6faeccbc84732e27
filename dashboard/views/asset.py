"""Asset view: one sensor asset's anomaly score against its adaptive threshold, its alerts, the
channels behind them and the raw readings the daemon kept around the selected alert.
`?asset=<name>&at=<iso>` (links from the alerts page) preselects the asset, centres the range on
`at` and selects the alert at that time."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard import charts, context
from dashboard.queries import readings, scores, timeline
from dashboard.subject import pick_subject

config = context.settings().dashboard
engine = context.engine()
now = datetime.now(UTC)

st.title("Asset")
subject = pick_subject(
    engine,
    now,
    kind="sensor",
    param="asset",
    label="Asset",
    noun="sensor asset",
    empty="No sensor assets yet: an asset appears with its first readings.",
)
asset, at, start, end, choose = subject.name, subject.at, subject.start, subject.end, subject.beside

with engine.connect() as conn:
    series = scores.score_series(conn, asset, start, end)
    steps = timeline.threshold_steps(conn, asset, start, end, config.page_rows)
    periods = timeline.alert_periods(conn, asset, start, end, now, config.page_rows)

# Options are alert ids, not positions: a new alert or another range shifts the positions, and the
# page must keep describing the alert that was picked.
by_id = {period.id: period for period in periods}
choice = choose.selectbox(
    f"Alert ({len(periods)} in range)",
    list(by_id),
    index=timeline.nearest(periods, at) if at is not None else None,
    format_func=lambda alert_id: by_id[alert_id].label,
    placeholder="Select an alert to see its channels" if periods else "No alert in this range",
    key=f"asset-alert-{asset}",
)
alert = by_id.get(choice) if choice is not None else None

st.plotly_chart(
    charts.score_figure(series.frame, steps, periods, start, end, selected=alert.id if alert else None),
    key="asset-score",
)
st.caption(
    series.caption()
    + " Shaded: alert periods (orange warning, orange-red major, red critical); diamonds: threshold changes."
)

window = timeline.around(alert) if alert is not None else (start, end)
with engine.connect() as conn:
    contributions, cut = scores.contribution_frame(conn, asset, *window, newest=alert is None)
    raw = readings.alert_readings(conn, alert.id) if alert is not None else None
if alert is not None and raw is not None and not raw.empty:  # alerts from before alert_readings have none
    st.subheader("Raw readings around the alert")
    order = [str(c.get("name")) for c in alert.top_channels]
    st.plotly_chart(charts.readings_figure(raw, alert, order), key="asset-readings")
    more = raw.shape[1] - 1 - charts.READINGS_CHANNELS
    st.caption(
        f"{len(raw):,} readings kept by the daemon from before the alert opened (dotted line) and while "
        "it was open; the top contributing channels first"
        + (f", {more} more not shown." if more > 0 else ".")
    )
ranking, moving = st.columns(2)
where = f"around the alert of {alert.opened_at:%Y-%m-%d %H:%M} UTC" if alert else "over the range"
with ranking:
    st.subheader("Channels that contributed most")
    if contributions.empty:
        st.caption(f"No scored windows {where}.")
    else:
        st.plotly_chart(charts.ranking_figure(scores.channel_ranking(contributions)), key="asset-ranking")
        latest = f" (the latest {len(contributions):,} windows)" if cut else ""
        st.caption(f"Mean contribution of each channel to the score {where}{latest}.")
with moving:
    st.subheader("Channels over time")
    if not contributions.empty:
        st.plotly_chart(charts.contributions_figure(contributions, alert), key="asset-channels")
    caption = "Per-channel contribution to the reconstruction error of each scored window."
    if raw is not None and raw.empty:
        caption += " No raw readings were recorded for this alert."
    st.caption(caption)
