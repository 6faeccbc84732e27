"""The Maintenance page: windows listed by state; operators plan and end them, viewers only look."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from dashboard_helpers import DashboardEnv, add_asset, add_rows, page_text
from sqlalchemy.engine import Engine

from dashboard.queries.maintenance import EVERY_ASSET, windows
from monitor.store import tables

PAGE = "views/maintenance.py"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _window(asset: str | None, starts: datetime, ends: datetime, reason: str = "") -> dict[str, object]:
    return {"asset": asset, "starts": starts, "ends": ends, "reason": reason, "created_by": "op"}


def test_windows_split_into_active_planned_and_past(engine: Engine) -> None:
    """Each window lands in one list by its times; a window without an asset says it covers all."""
    add_asset(engine, "pump")
    hour = timedelta(hours=1)
    add_rows(
        engine,
        tables.MaintenanceWindow,
        [
            _window("pump", NOW - hour, NOW + hour, "bearing"),
            _window(None, NOW + hour, NOW + 2 * hour, "shutdown"),
            _window("pump", NOW - 3 * hour, NOW - 2 * hour, "old"),
            _window("pump", NOW - 5 * hour, NOW - 4 * hour, "older"),
        ],
    )
    with engine.connect() as conn:
        found = windows(conn, NOW, limit=10)
        bounded = windows(conn, NOW, limit=1)
    assert list(found["active"]["reason"]) == ["bearing"]
    assert list(found["planned"]["asset"]) == [EVERY_ASSET]
    assert list(found["past"]["reason"]) == ["old", "older"]
    assert list(bounded["past"]["reason"]) == ["old"]


def test_viewer_sees_windows_but_cannot_plan_or_end(dashboard: DashboardEnv) -> None:
    """No Plan or End button for a viewer; the lists are there."""
    add_asset(dashboard.engine, "pump")
    now = datetime.now(UTC)
    add_rows(
        dashboard.engine,
        tables.MaintenanceWindow,
        [_window("pump", now - timedelta(hours=1), now + timedelta(hours=1), "bearing")],
    )
    at = dashboard.app("viewer", page=PAGE)
    assert not at.exception
    labels = [b.label for b in at.button]  # form submit buttons included
    assert "Plan" not in labels and "End now" not in labels
    assert "Only an operator can plan or end maintenance windows" in page_text(at)
    assert list(at.dataframe[0].value["reason"]) == ["bearing"]


def test_operator_plans_a_window_and_ends_it(dashboard: DashboardEnv) -> None:
    """Plan stores a window for the chosen asset; End now closes it: both visible in the table."""
    add_asset(dashboard.engine, "pump")
    at = dashboard.app("operator", page=PAGE)
    at.selectbox(key="maintenance-asset").select("pump")
    at.text_input(key="maintenance-reason").input("seal change")
    next(b for b in at.button if b.label == "Plan").click().run()
    assert not at.exception and not at.error
    with dashboard.engine.connect() as conn:
        row = conn.execute(sa.select(tables.MaintenanceWindow)).one()
    assert (row.asset, row.reason, row.created_by) == ("pump", "seal change", "operator")
    assert row.ends - row.starts == timedelta(hours=2)

    at.button(key="maintenance-end").click().run()
    assert not at.exception and not at.error
    with dashboard.engine.connect() as conn:
        ended = conn.execute(sa.select(tables.MaintenanceWindow)).one()
    assert ended.ends <= datetime.now(UTC)
    assert f"Window {ended.id} ended." in page_text(at)
