"""Maintenance: planned stops during which alerts are recorded (marked "in maintenance") but not
sent out. Everyone sees the active, planned and past windows; operators plan one (for one asset or
camera, or all of them) and end one now, through `monitor.maintenance`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import auth, context
from dashboard.queries import assets
from dashboard.queries.maintenance import EVERY_ASSET, windows
from monitor import maintenance

config = context.settings().dashboard
engine = context.engine()
user = auth.page_user()
now = datetime.now(UTC)

st.title("Maintenance")
actions, lists = st.columns([1, 2])
with actions:
    if auth.require_role(user, "operator", "plan or end maintenance windows"):
        with engine.connect() as conn:
            names = assets.asset_names(conn, None)
        with st.form("plan-window", clear_on_submit=True):
            st.subheader("Plan a window")
            asset = st.selectbox("Asset or camera", [EVERY_ASSET, *names], key="maintenance-asset")
            starts = st.datetime_input(
                "Starts (UTC)", value=now.replace(tzinfo=None), key="maintenance-starts"
            )
            ends = st.datetime_input(
                "Ends (UTC)", value=(now + timedelta(hours=2)).replace(tzinfo=None), key="maintenance-ends"
            )
            reason = st.text_input("Reason", key="maintenance-reason")
            if st.form_submit_button("Plan"):
                try:
                    if starts is None or ends is None:
                        raise ValueError("give both the start and the end of the window")
                    window_id = maintenance.plan_window(
                        engine,
                        None if asset == EVERY_ASSET else asset,
                        starts.replace(tzinfo=UTC),
                        ends.replace(tzinfo=UTC),
                        reason.strip(),
                        user.name,
                    )
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    st.success(f"Window {window_id} planned for {asset}.")
        with engine.connect() as conn:  # after the form, so a window just planned can be ended
            open_windows = windows(conn, datetime.now(UTC), config.page_rows)
        endable = [*open_windows["active"].itertuples(), *open_windows["planned"].itertuples()]
        if endable:
            st.subheader("End a window now")
            labels = {w.id: f"#{w.id} {w.asset} until {w.ends:%Y-%m-%d %H:%M}" for w in endable}
            chosen = st.selectbox(
                "Window", list(labels), format_func=labels.__getitem__, key="maintenance-end-id"
            )
            if st.button("End now", key="maintenance-end"):
                try:
                    maintenance.end_window(engine, int(chosen), user.name)
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    st.success(f"Window {chosen} ended.")

with engine.connect() as conn:
    listed = windows(conn, datetime.now(UTC), config.page_rows)
labels = {"starts": "starts (UTC)", "ends": "ends (UTC)", "created_by": "planned by"}
with lists:
    for name, title in [("active", "Active"), ("planned", "Planned"), ("past", "Past")]:
        st.subheader(f"{title} windows")
        frame = listed[name]
        if frame.empty:
            st.caption("None.")
        else:
            st.dataframe(frame.rename(columns=labels), hide_index=True, height=min(38 + 35 * len(frame), 180))
