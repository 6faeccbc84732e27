"""Overview page: tile states, open alerts by severity, daemon status, filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from dashboard_helpers import (
    DashboardEnv,
    add_alert,
    add_asset,
    add_heartbeat,
    add_rows,
    add_scores,
)
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from dashboard.queries import overview
from monitor.store import tables

PAGE = "views/overview.py"


def tile_states(at: AppTest) -> dict[str, str]:
    """asset name -> the state badge on its tile."""
    tiles = (re.fullmatch(r"\*\*(\S+)\*\* :\w+-badge\[([a-z ]+)\]", str(m.value)) for m in at.markdown)
    return {match[1]: match[2] for match in tiles if match}


def metric(at: AppTest, label: str) -> str:
    return next(str(m.value) for m in at.metric if m.label == label)


def daemon_line(at: AppTest) -> str:
    return next(str(m.value) for m in at.markdown if "**Daemon " in str(m.value))


def test_each_tile_shows_the_state_of_its_asset(dashboard: DashboardEnv) -> None:
    """normal, warning, alarm, no data and in maintenance, each from what the database holds."""
    now = datetime.now(UTC)
    engine = dashboard.engine
    for name in ("normal", "hot", "alarm", "silent", "stopped"):
        add_asset(engine, name)
    add_scores(engine, "normal", [now - timedelta(seconds=5)], score=0.4, threshold=1.0)
    add_scores(engine, "hot", [now - timedelta(seconds=5)], score=1.5, threshold=1.0)
    add_scores(engine, "alarm", [now - timedelta(seconds=5)], score=0.4, threshold=1.0)
    add_alert(engine, "alarm", severity="critical")
    add_scores(engine, "silent", [now - timedelta(hours=1)], score=0.4, threshold=1.0)
    add_scores(engine, "stopped", [now - timedelta(seconds=5)], score=3.0, threshold=1.0)
    add_rows(
        engine,
        tables.MaintenanceWindow,
        [{"asset": "stopped", "starts": now - timedelta(hours=1), "ends": now + timedelta(hours=1)}],
    )
    add_asset(engine, "cam-1", kind="camera")

    at = dashboard.app("viewer", page=PAGE)

    assert not at.exception
    assert tile_states(at) == {
        "normal": "normal",
        "hot": "warning",
        "alarm": "alarm",
        "silent": "no data",
        "stopped": "in maintenance",
        "cam-1": "no data",
    }


def test_a_window_for_every_asset_puts_all_tiles_in_maintenance(dashboard: DashboardEnv) -> None:
    """A window without an asset covers every asset and camera."""
    now = datetime.now(UTC)
    add_asset(dashboard.engine, "pump-1")
    add_asset(dashboard.engine, "cam-1", kind="camera")
    add_rows(
        dashboard.engine,
        tables.MaintenanceWindow,
        [{"asset": None, "starts": now - timedelta(minutes=1), "ends": now + timedelta(minutes=5)}],
    )
    at = dashboard.app("viewer", page=PAGE)
    assert set(tile_states(at).values()) == {"in maintenance"}


def test_open_alerts_are_counted_by_severity(dashboard: DashboardEnv) -> None:
    """Open and acknowledged alerts count; resolved ones do not."""
    add_asset(dashboard.engine, "pump-1")
    add_alert(dashboard.engine, "pump-1", severity="critical")
    add_alert(dashboard.engine, "pump-1", severity="warning", state="acknowledged")
    add_alert(dashboard.engine, "pump-1", severity="warning")
    add_alert(dashboard.engine, "pump-1", severity="major", state="resolved")
    at = dashboard.app("viewer", page=PAGE)
    assert [metric(at, f"Open {s}") for s in ("critical", "major", "warning")] == ["1", "0", "2"]


def test_tiles_count_the_alerts_of_every_tile_shown_when_many_assets_have_alerts(engine: Engine) -> None:
    """Each tile shown gets its own unresolved alerts, however many other assets have alerts too."""
    names = [f"pump-{i:02d}" for i in range(60)]
    for name in names:
        add_asset(engine, name)
        add_alert(engine, name, severity="critical")
        add_alert(engine, name, severity="warning")
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # hash the groups, as PostgreSQL does on a large table
            for setting in ("enable_sort", "enable_indexscan", "enable_bitmapscan"):
                conn.exec_driver_sql(f"SET {setting} = off")
        shown = overview.tiles(conn, datetime.now(UTC), limit=10)
    assert [t.name for t in shown] == names[:10]
    assert all(t.alerts == {"critical": 1, "warning": 1} and t.state == "alarm" for t in shown)


def test_daemon_status_shows_heartbeat_rates_queue_and_recent_dead_letters(
    pg_dashboard: DashboardEnv,
) -> None:
    """The message rate comes from two heartbeats; dead letters older than an hour are not counted."""
    now = datetime.now(UTC)
    engine = pg_dashboard.engine
    add_heartbeat(
        engine, "plant-a", now - timedelta(seconds=10), received=100, queue_depth=7, rows={"scores": 50}
    )
    dead = {
        "topic": "plant/x",
        "reason": "invalid_json",
        "payload_head": b"{",
        "payload_size": 1,
        "extra": {},
    }
    add_rows(
        engine,
        tables.DeadLetter,
        [
            {**dead, "received_at": now - timedelta(minutes=5)},
            {**dead, "received_at": now - timedelta(hours=2)},
        ],
    )
    at = pg_dashboard.app("viewer", page=PAGE)
    line = daemon_line(at)
    assert line.startswith(":green-badge[running] **Daemon plant-a** · heartbeat ")
    assert "… messages/s" in line
    assert "queue depth 7" in line
    assert "Dead letters in the last hour: **1**" in [str(c.value) for c in at.caption]

    with engine.begin() as conn:
        conn.execute(
            tables.Heartbeat.__table__.update().values(
                at=now, stats={"received": 600, "queue_depth": 0, "rows": {"scores": 250}}
            )
        )
    at.run()
    assert "50.0 messages/s · 20.0 scores stored/s · queue depth 0" in daemon_line(at)


def test_a_silent_daemon_is_flagged(pg_dashboard: DashboardEnv) -> None:
    """A heartbeat older than three heartbeat periods reads 'silent'."""
    add_heartbeat(pg_dashboard.engine, "plant-a", datetime.now(UTC) - timedelta(hours=1))
    at = pg_dashboard.app("viewer", page=PAGE)
    assert daemon_line(at).startswith(":red-badge[silent] **Daemon plant-a**")


def test_filters_narrow_the_tiles_and_survive_a_rerun(pg_dashboard: DashboardEnv) -> None:
    """Cameras only, then a name filter; a refresh keeps both."""
    for name in ("pump-1", "pump-2"):
        add_asset(pg_dashboard.engine, name)
    for name in ("cam-1", "cam-2"):
        add_asset(pg_dashboard.engine, name, kind="camera")
    at = pg_dashboard.app("viewer", page=PAGE)
    assert len(tile_states(at)) == 4

    at.segmented_control(key="overview_kind").set_value("Cameras").run()
    assert set(tile_states(at)) == {"cam-1", "cam-2"}
    at.text_input(key="overview_search").input("2").run()
    assert set(tile_states(at)) == {"cam-2"}
    at.run()
    assert set(tile_states(at)) == {"cam-2"}
