"""The asset page through the app: renders a seeded asset, preselects from the URL, no errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dashboard_helpers import (
    DashboardEnv,
    add_alert,
    add_asset,
    add_rows,
    add_scores,
    open_dashboard,
    page_text,
)

from monitor.store import tables

PAGE = "views/asset.py"


def test_asset_page_preselects_the_asset_and_alert_from_the_url(dashboard: DashboardEnv) -> None:
    """A link with ?asset=&at= shows that asset, the alert at that time, and its channels (no raw
    readings were kept for it, and the page says so)."""
    now = datetime.now(UTC).replace(microsecond=0)
    add_asset(dashboard.engine, "aaa-first")
    add_asset(dashboard.engine, "pump")
    opened = now - timedelta(minutes=20)
    add_scores(
        dashboard.engine,
        "pump",
        [now - timedelta(minutes=m) for m in range(40)],
        score=0.4,
        contributions={"flow": 0.1, "pressure": 0.3},
    )
    alert_id = add_alert(dashboard.engine, "pump", opened_at=opened, severity="critical")
    at = dashboard.app("viewer", page=PAGE, query={"asset": "pump", "at": opened.isoformat()})
    assert not at.exception
    assert at.selectbox(key="asset-name").value == "pump"
    assert at.selectbox(key="asset-alert-pump").value == alert_id
    text = page_text(at)
    assert "rows from `scores`" in text and "No raw readings were recorded for this alert" in text
    assert "Raw readings around the alert" not in text
    assert "around the alert of" in text
    figures = [json.loads(node.proto.spec) for node in at.get("plotly_chart")]
    assert len(figures) == 3
    score = figures[0]
    assert {trace.get("name") for trace in score["data"]} >= {"score", "threshold"}
    assert [shape["line"]["width"] for shape in score["layout"]["shapes"]] == [2]  # the selected alert
    ranking = figures[1]["data"][0]
    assert ranking["y"] == ["flow", "pressure"]  # largest on top


def test_asset_page_draws_the_raw_readings_kept_for_the_alert(dashboard: DashboardEnv) -> None:
    """An alert with rows in alert_readings gets a strip per channel of its raw values."""
    now = datetime.now(UTC).replace(microsecond=0)
    opened = now - timedelta(minutes=10)
    add_asset(dashboard.engine, "pump")
    alert_id = add_alert(
        dashboard.engine, "pump", opened_at=opened, top_channels=[{"name": "pressure", "value": 2.0}]
    )
    add_rows(
        dashboard.engine,
        tables.AlertReading,
        (
            {
                "alert_id": alert_id,
                "ts": opened + timedelta(seconds=s),
                "values": {"flow": s, "pressure": 900.0 + s},
            }
            for s in range(-60, 60, 5)
        ),
    )
    at = dashboard.app("viewer", page=PAGE, query={"asset": "pump", "at": opened.isoformat()})
    assert not at.exception
    text = page_text(at)
    assert "Raw readings around the alert" in text and "24 readings kept by the daemon" in text
    assert "No raw readings were recorded" not in text
    figures = [json.loads(node.proto.spec) for node in at.get("plotly_chart")]
    assert len(figures) == 2  # score and raw readings; no scores in range, so no contribution charts
    assert [trace["name"] for trace in figures[1]["data"]] == ["pressure", "flow"]


def test_asset_page_without_assets_says_so(dashboard: DashboardEnv) -> None:
    """An empty plant shows a hint, not an error."""
    at = dashboard.app("viewer", page=PAGE)
    assert not at.exception
    assert "No sensor assets yet" in page_text(at)


def test_asset_page_names_a_bad_link(dashboard: DashboardEnv) -> None:
    """An unknown asset or a malformed time in the URL is named on the page; the first asset is shown."""
    add_asset(dashboard.engine, "pump")
    at = dashboard.app("viewer", page=PAGE, query={"asset": "nope", "at": "yesterday"})
    assert not at.exception
    text = page_text(at)
    assert "No sensor asset named 'nope'" in text and "at='yesterday' is not an ISO 8601 time" in text
    assert at.selectbox(key="asset-name").value == "pump"


def test_week_preset_switches_to_buckets(dashboard: DashboardEnv) -> None:
    """Choosing 7 d draws per-bucket means, and the caption says where they come from."""
    now = datetime.now(UTC)
    add_asset(dashboard.engine, "pump")
    add_scores(dashboard.engine, "pump", [now - timedelta(hours=h) for h in range(48)])
    at = dashboard.app("viewer", page=PAGE)
    at.segmented_control(key="asset-range").set_value("7 d").run()
    assert not at.exception
    assert "Mean and maximum score per 14 min" in page_text(at)


def test_the_picked_alert_stays_picked_when_the_range_widens(dashboard: DashboardEnv) -> None:
    """Opened at an old alert (1 h around it), widening the range brings a newer alert in first: the
    page still describes the alert that was picked, not whatever now stands first."""
    now = datetime.now(UTC)
    add_asset(dashboard.engine, "pump")
    old = now - timedelta(hours=5)
    picked = add_alert(dashboard.engine, "pump", opened_at=old, severity="major")
    add_alert(dashboard.engine, "pump", opened_at=now - timedelta(hours=1))
    at = dashboard.app("viewer", page=PAGE, query={"asset": "pump", "at": old.isoformat()})
    assert at.selectbox(key="asset-alert-pump").value == picked
    at.segmented_control(key="asset-range").set_value("24 h").run()
    assert not at.exception
    assert at.selectbox(key="asset-alert-pump").label == "Alert (2 in range)"
    assert at.selectbox(key="asset-alert-pump").value == picked


def test_an_asset_past_the_first_page_rows_names_can_be_opened(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Name selectors are not table pages: with page_rows 10 and 12 assets, a link to the 12th
    opens it (it was 'no sensor asset named …' and the first asset instead)."""
    with open_dashboard(sqlite_url, tmp_path, monkeypatch, dashboard={"page_rows": 10}) as env:
        for number in range(12):
            add_asset(env.engine, f"pump-{number:02d}")
        at = env.app("viewer", page=PAGE, query={"asset": "pump-11"})
        assert not at.exception
        assert at.selectbox(key="asset-name").value == "pump-11"
        assert len(at.selectbox(key="asset-name").options) == 12
