"""Alerts: filter by state, severity, asset and time; one alert's details, audit trail and deliveries;
acknowledge (with a comment) and resolve for operators.

`?alert=<id>` selects an alert (the links in notification e-mails), even one outside the filters;
selecting one (a click on its row or the "Details of" box) writes it back into the URL, so the
address bar can be shared.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import auth, context
from dashboard.formatting import number, when
from dashboard.queries import alerts as q
from dashboard.queries.assets import asset_names
from monitor import alert_actions
from monitor.notify import outbox
from monitor.store.tables import ALERT_STATES

RANGES = {
    "24 h": timedelta(days=1),
    "7 d": timedelta(days=7),
    "30 d": timedelta(days=30),
    "1 y": timedelta(days=365),
}
EVERY_ASSET = "every asset"
PICK_KEY = "alerts_pick"
URL_KEY = "alerts_url_alert"  # the ?alert= the page last followed
TABLE_KEY = "alerts_table"
FLASH_KEY = "alerts_flash"

config = context.settings().dashboard
engine = context.engine()
user = auth.page_user()
now = datetime.now(UTC)

st.title("Alerts")

with engine.connect() as conn:
    names = asset_names(conn, None)
cells = st.columns([3, 3, 2, 3])
states = cells[0].multiselect(
    "State", ALERT_STATES, default=q.DEFAULT_STATES, key="alerts_states", persist_state="session"
)
severities = cells[1].multiselect(
    "Severity", q.SEVERITIES, placeholder="every severity", key="alerts_severities", persist_state="session"
)
asset = cells[2].selectbox("Asset", [EVERY_ASSET, *names], key="alerts_asset", persist_state="session")
span = cells[3].segmented_control(
    "Opened in the last",
    list(RANGES),
    default="7 d",
    required=True,
    key="alerts_range",
    persist_state="session",
)
wanted = q.AlertFilter(
    since=now - RANGES[str(span)],
    until=now + timedelta(minutes=1),
    states=tuple(states),
    severities=tuple(severities),
    asset=None if asset == EVERY_ASSET else asset,
)
with engine.connect() as conn:
    table = q.list_alerts(conn, wanted, config.page_rows)


def pick_row() -> None:
    """A click on a table row selects that alert."""
    rows = st.session_state[TABLE_KEY]["selection"]["rows"]
    ids = st.session_state.get("alerts_ids", [])
    if rows and rows[0] < len(ids):
        st.query_params["alert"] = ids[rows[0]]


st.session_state["alerts_ids"] = list(table["id"])
st.dataframe(
    table.drop(columns=["id"]),
    hide_index=True,
    height=min(300, 35 * (len(table) + 1) + 3),  # up to 8 rows, so the details start on screen
    key=TABLE_KEY,
    on_select=pick_row,
    selection_mode="single-row",
    column_config={
        "opened_at": st.column_config.DatetimeColumn("Opened (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "asset": "Asset",
        "severity": "Severity",
        "state": "State",
        "peak_score": st.column_config.NumberColumn("Peak score", format="%.3g"),
        "threshold": st.column_config.NumberColumn("Threshold", format="%.3g"),
        "acknowledged_by": "Acknowledged by",
        "in_maintenance": st.column_config.CheckboxColumn("Maintenance"),
    },
)
if len(table) < config.page_rows:
    shown = "1 alert" if len(table) == 1 else f"{len(table)} alerts"
else:
    shown = f"the newest {len(table)} alerts"
st.caption(f"{shown}, newest first. Click a row, or pick one below, for its details.")


def label(alert_id: str) -> str:
    row = table.loc[table["id"] == alert_id]
    if row.empty:
        return alert_id
    first = row.iloc[0]
    return f"{first.opened_at:%Y-%m-%d %H:%M} · {first.asset} · {first.severity} · {first.state}"


selected = st.query_params.get("alert")
options = list(table["id"])
if selected and selected not in options:
    options.insert(0, selected)
# The URL picks the alert when it changed (a link, a row click); otherwise the box keeps the
# operator's own pick, which then goes into the URL.
if selected != st.session_state.get(URL_KEY):
    st.session_state[URL_KEY] = selected
    if selected:
        st.session_state[PICK_KEY] = selected
if st.session_state.get(PICK_KEY) not in options:
    st.session_state.pop(PICK_KEY, None)
choice = st.selectbox(
    "Details of", options, index=None, format_func=label, key=PICK_KEY, placeholder="Select an alert"
)
if choice is not None and choice != selected:
    st.query_params["alert"] = st.session_state[URL_KEY] = choice


def act(action: Callable[..., None], done: str, alert_id: str, comment_key: str) -> None:
    """Button callback: run an operator action, note the outcome for the page, clear the comment."""
    try:
        action(engine, context.settings(), alert_id, user.name, st.session_state.get(comment_key, ""))
    except alert_actions.ActionError as exc:  # e.g. already resolved by someone else, no comment
        st.session_state[FLASH_KEY] = ("error", str(exc))
        return
    st.session_state[FLASH_KEY] = ("success", f"Alert {alert_id} {done} by {user.name}.")
    st.session_state[comment_key] = ""


def show_actions(alert_id: str, state: str) -> None:
    allowed = q.actions_for(state)
    if not allowed or not auth.require_role(user, "operator", "acknowledge or resolve alerts"):
        return
    key = f"alerts_comment_{alert_id}"
    st.text_area(
        "Comment", key=key, placeholder="What was found or done (required to acknowledge)", height=80
    )
    buttons = st.columns([1, 1, 4])
    if "acknowledge" in allowed:
        buttons[0].button(
            "Acknowledge",
            type="primary",
            on_click=act,
            args=(alert_actions.acknowledge, "acknowledged", alert_id, key),
        )
    if "resolve" in allowed:
        buttons[1].button("Resolve", on_click=act, args=(alert_actions.resolve, "resolved", alert_id, key))


def show_details(details: q.AlertDetails) -> None:
    alert = details.alert
    st.subheader(f"{alert.asset} · {alert.severity} · {alert.state}")
    if flash := st.session_state.pop(FLASH_KEY, None):
        kind, message = flash
        (st.error if kind == "error" else st.success)(message)
    cells = st.columns(4)
    ratio = f"{alert.peak_score / alert.threshold:.2f} × threshold" if alert.threshold > 0 else None
    cells[0].metric("Peak score", number(alert.peak_score), ratio, delta_color="off")
    cells[1].metric("Threshold", number(alert.threshold))
    cells[2].metric("Latest score", number(alert.score))
    page, params = details.view()
    cells[3].page_link(
        page, label=f"{alert.asset} at the alert's time", icon=":material/timeline:", query_params=params
    )
    facts = [f"opened {when(alert.opened_at)}", f"updated {when(alert.updated_at)}"]
    if alert.acknowledged_at:
        facts.append(f"acknowledged {when(alert.acknowledged_at)} by {alert.acknowledged_by}")
    if alert.resolved_at:
        facts.append(
            f"resolved {when(alert.resolved_at)}" + (f" by {alert.resolved_by}" if alert.resolved_by else "")
        )
    if alert.in_maintenance:
        facts.append("during maintenance (not sent to webhooks or e-mail)")
    st.caption(" · ".join(facts))
    if alert.ack_comment:
        st.markdown(f"Comment: {alert.ack_comment}")
    show_actions(alert.id, alert.state)

    left, right = st.columns([2, 3])
    left.markdown("**Top channels**")
    channels = q.top_channels(alert)
    largest = float(channels["contribution"].max()) if not channels.empty else 1.0
    left.dataframe(
        channels,
        hide_index=True,
        column_config={
            "contribution": st.column_config.ProgressColumn(
                "Contribution", format="%.3g", min_value=0.0, max_value=largest
            )
        },
    )
    right.markdown("**Who did what**")
    right.dataframe(_dated(details.events), hide_index=True, key="alerts_events")
    st.markdown("**Notifications**")
    if details.deliveries.empty:
        st.caption("No notifications for this alert.")
    else:
        st.dataframe(_dated(details.deliveries), hide_index=True, key="alerts_deliveries")
        failed = int((details.deliveries["state"] == "failed").sum())
        if (
            failed
            and auth.require_role(user, "operator", "send failed notifications again")
            and st.button(f"Send the {failed} failed notification(s) again", key="alerts_send_again")
        ):
            queued = outbox.send_again(engine, details.alert.id)
            st.session_state[FLASH_KEY] = (
                "success",
                f"{queued} notification(s) queued again by {user.name}.",
            )
            st.rerun()


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """Times as text in UTC, so the table reads the same in every browser's time zone."""
    return frame.assign(**{c: frame[c].map(when) for c in frame.columns if c == "at" or c.endswith("_at")})


if choice is not None:
    with engine.connect() as conn:
        found = q.alert_details(conn, choice, config.page_rows)
    if found is None:
        st.warning(f"No alert {choice!r}.")
    else:
        show_details(found)
