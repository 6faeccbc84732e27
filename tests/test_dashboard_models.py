"""The Models page: versions with metrics and calibration; operators activate, viewers only look."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dashboard_helpers import DashboardEnv, add_rows, page_text
from sqlalchemy.engine import Engine

from dashboard.queries.models import model_assets, threshold_in_force, version_table
from monitor import registry
from monitor.store import tables

PAGE = "views/models.py"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _register_two(engine: Engine, tmp_path: Path) -> None:
    """pump: sensor v1 (calibrated) then v2 (active); cam: an image-ae v1."""
    for number in (1, 2):
        card = {
            "version": f"v{number}",
            "metrics": {"val_loss": 0.1 / number, "best_epoch": number},
            "threshold_calibration": {"method": "pot", "value": 0.25 * number, "parameters": {}},
        }
        registry.register(
            engine,
            "pump",
            "sensor",
            tmp_path / f"v{number}",
            card,
            activate=True,
            now=T0 + timedelta(hours=number),
        )
    registry.register(engine, "cam", "image-ae", tmp_path / "cam", {"version": "v1"}, now=T0)


def test_version_table_shows_metrics_and_calibration_newest_first(engine: Engine, tmp_path: Path) -> None:
    """Each version's card metrics and threshold calibration are on its row; newest on top."""
    _register_two(engine, tmp_path)
    add_rows(
        engine,
        tables.Threshold,
        [{"asset": "pump", "value": 0.61, "method": "ewma", "parameters": {}, "computed_at": T0}],
    )
    with engine.connect() as conn:
        assert model_assets(conn, 10) == ["cam", "pump"]
        threshold = threshold_in_force(conn, "pump")
    table = version_table(registry.list_versions(engine, "pump"))
    assert list(table["version"]) == ["v2", "v1"] and list(table["active"]) == [True, False]
    assert list(table["threshold calibration"]) == ["pot 0.5", "pot 0.25"]
    assert table["metrics"].iloc[1] == "val_loss=0.1 best_epoch=1"
    assert threshold is not None and (threshold.value, threshold.method) == (0.61, "ewma")


def test_viewer_sees_versions_but_no_activate_button(dashboard: DashboardEnv, tmp_path: Path) -> None:
    """A viewer gets the tables and a note, and no button to change anything."""
    _register_two(dashboard.engine, tmp_path)
    at = dashboard.app("viewer", page=PAGE, query={"asset": "pump"})
    assert not at.exception
    assert at.selectbox(key="models-asset").value == "pump"
    assert not [b for b in at.button if b.label == "Activate"]
    assert "Only an operator can activate or roll back a model version" in page_text(at)
    assert len(at.dataframe) == 1


def test_operator_rolls_back_to_an_older_version(dashboard: DashboardEnv, tmp_path: Path) -> None:
    """Activating v1 makes it the registry's active version (the daemon's poll picks it up)."""
    _register_two(dashboard.engine, tmp_path)
    at = dashboard.app("operator", page=PAGE, query={"asset": "pump"})
    assert at.selectbox(key="models-pick-sensor").value == "v1"
    at.button(key="models-activate-sensor").click().run()
    assert not at.exception and not at.error
    active = registry.active_version(dashboard.engine, "pump", "sensor")
    assert active is not None and active.version == "v1"
    assert "sensor v1 is active" in page_text(at)
    assert list(at.dataframe[0].value["active"]) == [False, True]
