"""Alerts page: filters, details with audit trail and deliveries, operator actions, role checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from dashboard_helpers import DashboardEnv, add_alert, add_alert_event, add_asset, add_rows, page_text
from streamlit.testing.v1 import AppTest

from dashboard.queries import alerts as q
from monitor.store import tables

PAGE = "views/alerts.py"


def listed_assets(at: AppTest) -> list[str]:
    """The asset column of the alerts table, top to bottom."""
    return list(at.dataframe[0].value["asset"])


def alert_row(dashboard: DashboardEnv, alert_id: str) -> sa.Row:
    with dashboard.engine.connect() as conn:
        return conn.execute(sa.select(tables.Alert.__table__).where(tables.Alert.id == alert_id)).one()


def test_default_list_is_open_and_acknowledged_alerts_of_the_last_week_newest_first(
    dashboard: DashboardEnv,
) -> None:
    """Resolved alerts and alerts older than seven days are not listed until the filters say so."""
    now = datetime.now(UTC)
    for name in ("old", "resolved", "acked", "new"):
        add_asset(dashboard.engine, name)
    add_alert(dashboard.engine, "old", opened_at=now - timedelta(days=8))
    add_alert(dashboard.engine, "resolved", state="resolved", opened_at=now - timedelta(hours=3))
    add_alert(dashboard.engine, "acked", state="acknowledged", opened_at=now - timedelta(hours=2))
    add_alert(dashboard.engine, "new", opened_at=now - timedelta(hours=1))

    at = dashboard.app("viewer", page=PAGE)

    assert not at.exception
    assert listed_assets(at) == ["new", "acked"]
    at.multiselect(key="alerts_states").select("resolved").run()
    assert listed_assets(at) == ["new", "acked", "resolved"]
    at.segmented_control(key="alerts_range").set_value("30 d").run()
    assert listed_assets(at) == ["new", "acked", "resolved", "old"]


def test_severity_and_asset_filters_narrow_the_table(dashboard: DashboardEnv) -> None:
    """Each filter keeps only the matching alerts."""
    for name in ("pump-1", "pump-2"):
        add_asset(dashboard.engine, name)
    add_alert(dashboard.engine, "pump-1", severity="critical")
    add_alert(dashboard.engine, "pump-1", severity="warning")
    add_alert(dashboard.engine, "pump-2", severity="critical")
    at = dashboard.app("viewer", page=PAGE)
    assert len(listed_assets(at)) == 3

    at.multiselect(key="alerts_severities").select("critical").run()
    assert sorted(listed_assets(at)) == ["pump-1", "pump-2"]
    at.selectbox(key="alerts_asset").select("pump-2").run()
    assert listed_assets(at) == ["pump-2"]


def test_list_is_capped_at_page_rows_across_states(pg_dashboard: DashboardEnv) -> None:
    """The per-state lists are merged, newest first, and cut at the limit."""
    now = datetime.now(UTC)
    add_asset(pg_dashboard.engine, "pump-1")
    for minute in range(6):
        state = "open" if minute % 2 else "acknowledged"
        add_alert(pg_dashboard.engine, "pump-1", state=state, opened_at=now - timedelta(minutes=minute))
    wanted = q.AlertFilter(since=now - timedelta(hours=1), until=now + timedelta(minutes=1))
    with pg_dashboard.engine.connect() as conn:
        table = q.list_alerts(conn, wanted, limit=4)
    assert list(table["opened_at"]) == [now - timedelta(minutes=m) for m in range(4)]


def test_alert_link_shows_details_audit_trail_and_deliveries(dashboard: DashboardEnv) -> None:
    """?alert=<id> opens that alert even when the filters hide it, with who did what and its deliveries."""
    opened = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    add_asset(dashboard.engine, "pump-1")
    alert_id = add_alert(
        dashboard.engine,
        "pump-1",
        state="resolved",
        opened_at=opened,
        score=1.2,
        threshold=0.8,
        top_channels=[{"name": "vibration", "value": 0.9}, {"name": "flow", "value": 0.3}],
    )
    add_alert_event(dashboard.engine, alert_id, "opened", "monitor", opened)
    add_alert_event(
        dashboard.engine, alert_id, "resolved", "ann", opened + timedelta(hours=1), "pump swapped"
    )
    add_rows(
        dashboard.engine,
        tables.Outbox,
        [
            {
                "alert_id": alert_id,
                "channel": "webhook",
                "target": "maintenance-hook",
                "route": "pumps",
                "payload": "{}",
                "state": "failed",
                "attempts": 5,
                "last_error": "HTTP 500",
                "created_at": opened,
                "next_attempt_at": opened,
            }
        ],
    )

    at = dashboard.app("viewer", page=PAGE, query={"alert": alert_id})

    assert not at.exception
    assert "pump-1 · warning · resolved" in page_text(at)
    assert [m.value for m in at.metric if m.label in ("Peak score", "Threshold")] == ["1.2", "0.8"]
    channels, events, deliveries = (frame.value for frame in at.dataframe[1:4])
    assert list(channels["channel"]) == ["vibration", "flow"]
    assert list(zip(events["action"], events["actor"], events["comment"].fillna(""), strict=True)) == [
        ("opened", "monitor", ""),
        ("resolved", "ann", "pump swapped"),
    ]
    assert deliveries.iloc[0][["channel", "target", "route", "state", "attempts", "last_error"]].tolist() == [
        "webhook",
        "maintenance-hook",
        "pumps",
        "failed",
        5,
        "HTTP 500",
    ]


def test_after_a_link_the_details_box_picks_another_alert(dashboard: DashboardEnv) -> None:
    """Opened from an e-mail link (?alert=A), choosing B under "Details of" shows B and puts it in
    the URL; the link no longer wins over the operator's pick."""
    now = datetime.now(UTC)
    add_asset(dashboard.engine, "pump-1")
    first = add_alert(dashboard.engine, "pump-1", opened_at=now - timedelta(hours=2), severity="major")
    second = add_alert(dashboard.engine, "pump-1", opened_at=now - timedelta(hours=1))
    at = dashboard.app("viewer", page=PAGE, query={"alert": first})
    assert "pump-1 · major · open" in page_text(at)
    at.selectbox(key="alerts_pick").select(second).run()
    assert not at.exception
    assert at.query_params["alert"] in (second, [second])  # AppTest keeps query values as lists
    assert at.selectbox(key="alerts_pick").value == second
    assert "pump-1 · warning · open" in page_text(at)


def test_details_link_to_the_asset_or_camera_view_at_the_alert_time(dashboard: DashboardEnv) -> None:
    """Sensor alerts link to the asset view, camera alerts to the camera view, both at the opening time."""
    opened = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    add_asset(dashboard.engine, "pump-1")
    add_asset(dashboard.engine, "cam-1", kind="camera")
    pump = add_alert(dashboard.engine, "pump-1", opened_at=opened)
    camera = add_alert(dashboard.engine, "cam-1", opened_at=opened)
    with dashboard.engine.connect() as conn:
        views = [q.alert_details(conn, alert_id, 10).view() for alert_id in (pump, camera)]  # type: ignore[union-attr]
    assert views == [
        ("views/asset.py", {"asset": "pump-1", "at": opened.isoformat()}),
        ("views/camera.py", {"camera": "cam-1", "at": opened.isoformat()}),
    ]


def test_viewer_sees_no_action_buttons(dashboard: DashboardEnv) -> None:
    """A viewer reads the alert but gets no Comment box, Acknowledge or Resolve button."""
    add_asset(dashboard.engine, "pump-1")
    alert_id = add_alert(dashboard.engine, "pump-1")
    at = dashboard.app("viewer", page=PAGE, query={"alert": alert_id})
    assert "pump-1 · warning · open" in page_text(at)
    assert not at.text_area
    assert [b.label for b in at.main.button] == []
    assert "Only an operator can acknowledge or resolve alerts" in page_text(at)


def test_operator_acknowledges_with_a_comment(dashboard: DashboardEnv) -> None:
    """The alert row records who and why, and the audit trail gets an 'acknowledged' line."""
    add_asset(dashboard.engine, "pump-1")
    alert_id = add_alert(dashboard.engine, "pump-1")
    at = dashboard.app("operator", page=PAGE, query={"alert": alert_id})
    assert [b.label for b in at.main.button] == ["Acknowledge", "Resolve"]

    at.text_area(key=f"alerts_comment_{alert_id}").input("bearing noise, checking tonight")
    at.main.button[0].click().run()

    assert not at.exception
    row = alert_row(dashboard, alert_id)
    assert (row.state, row.acknowledged_by, row.ack_comment) == (
        "acknowledged",
        "operator",
        "bearing noise, checking tonight",
    )
    with dashboard.engine.connect() as conn:
        events = conn.execute(
            sa.select(tables.AlertEvent.action, tables.AlertEvent.actor, tables.AlertEvent.comment).where(
                tables.AlertEvent.alert_id == alert_id
            )
        ).all()
    assert [tuple(e) for e in events] == [("acknowledged", "operator", "bearing noise, checking tonight")]
    assert f"Alert {alert_id} acknowledged by operator." in page_text(at)
    assert [b.label for b in at.main.button] == ["Resolve"]


def test_acknowledging_without_a_comment_is_refused_on_the_page(dashboard: DashboardEnv) -> None:
    """No comment: a one-line error, the alert stays open."""
    add_asset(dashboard.engine, "pump-1")
    alert_id = add_alert(dashboard.engine, "pump-1")
    at = dashboard.app("operator", page=PAGE, query={"alert": alert_id})
    at.main.button[0].click().run()
    assert [e.value for e in at.error] == ["a comment is required to acknowledge an alert"]
    assert alert_row(dashboard, alert_id).state == "open"


def test_admin_resolves_an_acknowledged_alert(dashboard: DashboardEnv) -> None:
    """Resolve records the user; a resolved alert offers no more actions."""
    add_asset(dashboard.engine, "pump-1")
    alert_id = add_alert(dashboard.engine, "pump-1", state="acknowledged")
    at = dashboard.app("admin", page=PAGE, query={"alert": alert_id})
    next(b for b in at.main.button if b.label == "Resolve").click().run()
    row = alert_row(dashboard, alert_id)
    assert (row.state, row.resolved_by) == ("resolved", "admin")
    assert not at.main.button


def test_operator_sends_failed_notifications_again(dashboard: DashboardEnv) -> None:
    """A failed delivery goes back to pending with a fresh attempt count; a viewer gets no button.
    The deliveries table shows the delivered row's time and a dash for the failed one."""
    opened = datetime.now(UTC) - timedelta(hours=1)
    add_asset(dashboard.engine, "pump-1")
    alert_id = add_alert(dashboard.engine, "pump-1", opened_at=opened)
    failed = {
        "alert_id": alert_id,
        "channel": "email",
        "target": "maint@plant.example",
        "route": "pumps",
        "payload": "{}",
        "state": "failed",
        "attempts": 20,
        "last_error": "SMTPAuthenticationError",
        "created_at": opened,
        "next_attempt_at": opened,
        "delivered_at": None,
    }
    delivered = {**failed, "state": "delivered", "attempts": 1, "delivered_at": opened}
    add_rows(dashboard.engine, tables.Outbox, [delivered, failed])

    viewer = dashboard.app("viewer", page=PAGE, query={"alert": alert_id})
    assert not viewer.exception
    assert [b.label for b in viewer.main.button] == []

    at = dashboard.app("operator", page=PAGE, query={"alert": alert_id})
    at.button(key="alerts_send_again").click().run()

    assert not at.exception
    assert "1 notification(s) queued again by operator." in page_text(at)
    with dashboard.engine.connect() as conn:
        rows = conn.execute(
            sa.select(tables.Outbox.state, tables.Outbox.attempts).order_by(tables.Outbox.id)
        ).all()
    assert [tuple(row) for row in rows] == [("delivered", 1), ("pending", 0)]
